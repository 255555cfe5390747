"""Instrument items in the reader's language: the translations in
``catalog/instrument_translations.yaml``, each language with its source.

An instrument with no sourced translation for a language stays in its original words (the
questionnaire page says so); the English texts stay those of ``instruments.yaml``.
"""

from __future__ import annotations

import re
from functools import cache
from importlib.resources import files
from typing import Any

import yaml

from microtrial import i18n
from microtrial.domain import lifecycle
from microtrial.domain.adaptive import stop_in_words
from microtrial.domain.catalog import load_catalog
from microtrial.i18n import N_
from microtrial.services.patient_history import ExportRow
from microtrial.web.forms import FormItem, form_items


@cache
def instrument_translations() -> dict[str, Any]:
    """The translations file, per instrument id."""
    source = files("microtrial.catalog") / "instrument_translations.yaml"
    loaded: dict[str, Any] = yaml.safe_load(source.read_text(encoding="utf-8"))
    return dict(loaded["instruments"])


def _entry(instrument_id: str, language: str) -> dict[str, Any] | None:
    """The instrument's translations if ``language`` has a source for it."""
    entry = instrument_translations().get(instrument_id)
    if entry is None or language not in (entry.get("sources") or {}):
        return None
    return dict(entry)


def speaks(instrument_id: str, language: str | None = None) -> bool:
    """Whether ``instrument_id`` can be shown in ``language`` (English always)."""
    lang = language or i18n.current()
    return lang == i18n.DEFAULT or _entry(instrument_id, lang) is not None


def source_of(instrument_id: str, language: str) -> str | None:
    """Where the translation of ``instrument_id`` into ``language`` comes from."""
    entry = _entry(instrument_id, language)
    return str(entry["sources"][language]) if entry is not None else None


def _split(item: FormItem) -> tuple[str, str]:
    instrument_id, _, item_id = item.name.partition(".")
    return instrument_id, item_id


def item_text(item: FormItem) -> str:
    """An item's question in the language being rendered."""
    instrument_id, item_id = _split(item)
    entry = _entry(instrument_id, i18n.current())
    words = (entry or {}).get("items", {}).get(item_id, {})
    return str(words.get(i18n.current(), item.text))


def label_text(instrument_id: str, item_id: str, value: int, default: str) -> str:
    """An answer's words (``value``) in the language being rendered."""
    entry = _entry(instrument_id, i18n.current())
    if entry is None:
        return default
    labels = (entry.get("item_labels") or {}).get(item_id) or entry.get("labels") or {}
    return str(labels.get(value, {}).get(i18n.current(), default))


def item_label(item: FormItem, value: int, default: str) -> str:
    """An answer's words of a form item in the language being rendered."""
    instrument_id, item_id = _split(item)
    return label_text(instrument_id, item_id, value, default)


def option_text(item: FormItem, option: str) -> str:
    """A choice item's option in words, in the language being rendered."""
    instrument_id, _ = _split(item)
    entry = _entry(instrument_id, i18n.current())
    words = ((entry or {}).get("options") or {}).get(option, {})
    return str(words.get(i18n.current(), option.replace("-", " ").capitalize()))


def named_text(instrument_id: str, item_id: str, default: str) -> str:
    """An item's words by ids (attack logs) in the language being rendered."""
    entry = _entry(instrument_id, i18n.current())
    words = (entry or {}).get("items", {}).get(item_id, {})
    return str(words.get(i18n.current(), default))


# The words of a hold that no alert rule words (domain.alerts.patient_notice's fallback).
REVIEW = N_("Something you reported on {date} needs your clinic's review.")


def hold_text(hold: Any) -> str:
    """A hold notice (services.patient_status.HoldNotice) in the language being rendered."""
    language = i18n.current()
    if hold.code is None:
        return i18n.gettext(str(hold.what), language)
    day = hold.since
    when = (
        f"{day.day} {day.strftime('%B %Y')}"
        if language == i18n.DEFAULT
        else i18n.format_when(day, "%d %B %Y", language)
    )
    message = next(
        (r.patient_message for r in load_catalog().alerts.rules() if r.code == hold.code),
        None,
    )
    return i18n.gettext(message or REVIEW, language).format(date=when)


def question_text(instrument_id: str, english: str) -> str:
    """A saved answer's question (its English words) in the language being rendered."""
    entry = _entry(instrument_id, i18n.current())
    if entry is None:
        return english
    item = _asked(instrument_id, english)
    return item_text(item) if item is not None else english


def _asked(instrument_id: str, question: str) -> FormItem | None:
    """The instrument's item a saved answer's English question is (its text, or the text
    before its " — " hint), if any."""
    return next(
        (i for i in form_items(instrument_id) if question in (i.text, i.text.split(" — ")[0])),
        None,
    )


def title_text(english: str) -> str:
    """An instrument's title (its catalog title in English) in the language being rendered."""
    language = i18n.current()
    if language == i18n.DEFAULT:
        return english
    for instrument_id, entry in instrument_translations().items():
        if language in (entry.get("title") or {}) and _title(instrument_id) == english:
            return str(entry["title"][language])
    return english


@cache
def _title(instrument_id: str) -> str:
    return load_catalog().instrument(instrument_id).title


def words(text: object) -> object:
    """``|tr`` in templates: a catalog message, else an instrument title, translated."""
    if not text:
        return text
    translated = i18n.gettext(str(text))
    return translated if translated != text else title_text(str(text))


WITHDRAWN = N_(
    "Your clinic stopped your trial early. Do not take any more trial capsules. "
    "The reason they gave: %(reason)s."
)
UNBLINDED_EARLY = N_(
    "Your trial was ended early, and your clinic looked at which capsules you had, to keep you "
    "safe. Do not take any more trial capsules. The reason they gave: %(reason)s."
)
NOT_RECORDED = N_("not recorded")


def ended_early_text(status: Any) -> str:
    """Why a patient's trial ended early (services.patient_status), in the current language."""
    language = i18n.current()
    reason = status.ended_early_reason or i18n.gettext(NOT_RECORDED, language)
    withdrawn = status.trial_status == lifecycle.TrialStatus.WITHDRAWN
    return i18n.gettext(WITHDRAWN if withdrawn else UNBLINDED_EARLY, language) % {"reason": reason}


def adaptive_stop_text(status: Any) -> str:
    """How an unblinded adaptive trial ended (services.patient_status), in the current language."""
    if status.adaptive_stop_facts is None:
        return str(status.adaptive_stop or "")
    decision, pairs_run, max_pairs = status.adaptive_stop_facts
    return stop_in_words(decision, pairs_run, max_pairs, i18n.gettext) or ""


YES_NO = (N_("Yes"), N_("No"))


def answer_text(instrument_id: str, question: str, answer: str) -> str:
    """A saved answer's words (web.diary_pages.shown_value, in English) in the current language."""
    if i18n.current() == i18n.DEFAULT:
        return answer
    if answer in YES_NO:
        return i18n.gettext(answer)
    item = _asked(instrument_id, question)
    if item is None:
        return answer
    scaled = re.fullmatch(r"(\d+) – (.+)", answer)
    if scaled and item.labels:
        value = int(scaled.group(1))
        return f"{value} – {item_label(item, value, scaled.group(2))}"
    for option in item.options:
        if answer == option.replace("-", " ").capitalize():
            return option_text(item, option)
    return answer


def export_row_text(row: ExportRow) -> ExportRow:
    """A row of the patient's diary export (English words as recorded) in the language being
    rendered; numbers and typed text stay as they are."""
    if i18n.current() == i18n.DEFAULT:
        return row
    if not row.instrument_id:  # a capsule check-in: the kit code under catalog words
        return row.model_copy(
            update={
                "questionnaire": i18n.gettext(row.questionnaire),
                "question": i18n.gettext(row.question),
            }
        )
    answer = row.answer
    if answer in ("yes", "no"):
        answer = i18n.gettext(answer.capitalize())
    else:
        item = _asked(row.instrument_id, row.question)
        if item is not None and answer in item.options:
            answer = option_text(item, answer)
        else:
            answer = i18n.gettext(answer)  # the export's plain choice words (taken, missed, ...)
    return row.model_copy(
        update={
            "questionnaire": title_text(row.questionnaire),
            "question": question_text(row.instrument_id, row.question),
            "answer": answer,
        }
    )
