"""The message catalogs (issue 21): every language translates every message of the template,
nothing fuzzy or empty, placeholders kept; English ids stay English."""

from __future__ import annotations

import re
from importlib.resources import files

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from microtrial import i18n

PLACEHOLDER = re.compile(r"%\([a-z_]+\)s|%%|\{[a-z_]+\}")
OTHERS = [code for code in i18n.LANGUAGES if code != i18n.DEFAULT]


def catalog(path: str, locale: str | None = None) -> Catalog:
    """A catalog read from the package's locale folder."""
    with (files("microtrial") / "locale" / path).open("rb") as source:
        return read_po(source, locale=locale)


def placeholders(text: str) -> list[str]:
    """The sorted placeholders of a message."""
    return sorted(PLACEHOLDER.findall(text))


def test_the_template_is_not_empty() -> None:
    ids = [m.id for m in catalog("messages.pot") if m.id]
    assert len(ids) > 250


@pytest.mark.parametrize("language", OTHERS)
def test_every_message_is_translated_with_its_placeholders(language: str) -> None:
    template = {m.id for m in catalog("messages.pot") if m.id}
    po = catalog(f"{language}/LC_MESSAGES/messages.po", language)
    found = {m.id: m for m in po if m.id}
    assert set(found) == template, set(found) ^ template
    problems = []
    for message_id, message in found.items():
        if message.fuzzy:
            problems.append(f"fuzzy: {message_id!r}")
        singular = message_id if isinstance(message_id, str) else message_id[0]
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for text in strings:
            if not text:
                problems.append(f"empty: {singular!r}")
            elif placeholders(text) != placeholders(singular):
                problems.append(f"placeholders: {singular!r} -> {text!r}")
    assert not problems, problems


def test_a_placeholder_mismatch_would_be_found() -> None:
    assert placeholders("Period %(period)s of %(periods)s") != placeholders("Periode %(period)s")
    assert placeholders("on {date}") == placeholders("am {date}")


@pytest.mark.parametrize("language", OTHERS)
def test_the_compiled_catalog_translates(language: str) -> None:
    assert i18n.gettext("Save today's diary", language) != "Save today's diary"
    assert i18n.gettext("Save today's diary", "en") == "Save today's diary"
    assert "%(date)s" in i18n.gettext("Today, %(date)s", language)


def test_language_codes_are_checked() -> None:
    from microtrial.errors import ValidationError

    assert i18n.check_language(" DE ") == "de"
    with pytest.raises(ValidationError) as refused:
        i18n.check_language("fr")
    assert refused.value.field == "language"
    assert "pt" in str(refused.value)


def test_english_dates_keep_their_strftime_words() -> None:
    import datetime as dt

    day = dt.date(2026, 3, 2)
    for pattern in ("%A %d %B %Y", "%d %B %Y", "%a %d %b", "%d %b %Y %H:%M"):
        when = dt.datetime(2026, 3, 2, 9, 5) if "%H" in pattern else day
        assert i18n.format_when(when, pattern, "en") == when.strftime(pattern)
    assert i18n.format_when(day, "%a %d %b", "de") == "Mo. 02 März"


def test_instrument_translations_name_real_items_and_their_sources() -> None:
    from microtrial.domain.catalog import load_catalog
    from microtrial.web.item_language import instrument_translations, source_of, speaks

    catalog = load_catalog()
    for instrument_id, entry in instrument_translations().items():
        instrument = catalog.instrument(instrument_id)
        item_ids = {item.id for item in instrument.items}
        assert set(entry["sources"]) == set(OTHERS), instrument_id
        for item_id, words in entry.get("items", {}).items():
            assert item_id in item_ids, (instrument_id, item_id)
            assert set(words) == set(OTHERS), (instrument_id, item_id)
            assert all(words.values()), (instrument_id, item_id)
        for item_id in entry.get("item_labels", {}):
            assert item_id in item_ids, (instrument_id, item_id)
    for language in OTHERS:
        for official in ("phq9", "gad7"):
            source = source_of(official, language)
            assert source is not None
            assert "Pfizer" in source
            assert source.endswith("(unverified)")
        assert speaks("phq9", language)
        assert not speaks("pgic", language)  # no sourced translation: shown in English
        assert speaks("pgic", "en")


def test_the_translations_file_is_checked_against_the_catalog() -> None:
    from microtrial.domain.catalog import load_catalog
    from microtrial.domain.translation_catalog import parse_instrument_translations
    from microtrial.errors import ValidationError
    from microtrial.i18n import LANGUAGES

    catalog = load_catalog()
    good = "instruments:\n  phq9:\n    sources: {de: 'PHQ-D (unverified)'}\n"
    assert "phq9" in parse_instrument_translations(good, catalog, LANGUAGES)
    bad = {
        "unknown instrument": "instruments:\n  phq99:\n    sources: {de: x}\n",
        "no source": "instruments:\n  phq9:\n    sources: {}\n",
        "unknown language": "instruments:\n  phq9:\n    sources: {fr: x}\n",
        "unknown item": (
            "instruments:\n  phq9:\n    sources: {de: x}\n    items:\n      q99: {de: Frage}\n"
        ),
        "every language with a source": (
            "instruments:\n  phq9:\n    sources: {de: x, es: y}\n"
            "    items:\n      q1: {de: Frage}\n"
        ),
    }
    for expected, text in bad.items():
        with pytest.raises(ValidationError, match=expected):
            parse_instrument_translations(text, catalog, LANGUAGES)
