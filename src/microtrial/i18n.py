"""Languages: the gettext catalogs (read from ``locale/*/LC_MESSAGES/messages.po`` at run time),
the language a request or a user speaks, and dates and numbers in that language (Babel).

English is the source language: its texts are the message ids, so English output is the text
the code and templates already hold, with dates in the same ``strftime`` formats as before.
The other languages' catalogs are compiled in memory on first use, so a clean checkout needs no
build step (``make messages`` re-extracts the ids and updates the ``.po`` files).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from importlib.resources import files
from io import BytesIO

import yaml
from babel import Locale, negotiate_locale
from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations

from microtrial.errors import ValidationError

DEFAULT = "en"
# English first: the source language; each other one has a catalog under locale/.
LANGUAGES: tuple[str, ...] = ("en", "es", "de", "nl", "pt")
LANGUAGE_NAMES = {
    "en": "English",
    "es": "Español",
    "de": "Deutsch",
    "nl": "Nederlands",
    "pt": "Português",
}
_current: ContextVar[str] = ContextVar("microtrial_language", default=DEFAULT)


def check_language(value: str) -> str:
    """``value`` as a supported language code, else ValidationError naming the allowed ones."""
    code = value.strip().lower()
    if code not in LANGUAGES:
        raise ValidationError(
            "language", f"unknown language {value!r}", value=value, allowed=LANGUAGES
        )
    return code


def negotiate(accept_language: str | None) -> str:
    """The supported language a browser's ``Accept-Language`` header prefers (English if none)."""
    wanted: list[tuple[float, str]] = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        match = re.search(r"q=([0-9.]+)", params)
        if match:
            try:
                quality = float(match.group(1))
            except ValueError:
                quality = 0.0
        if tag and quality > 0:
            wanted.append((-quality + position * 1e-6, tag.replace("_", "-")))
    preferred = [tag for _, tag in sorted(wanted)]
    found = negotiate_locale(preferred, list(LANGUAGES), sep="-")
    return found or DEFAULT


@cache
def translations(language: str) -> NullTranslations:
    """The compiled catalog of ``language`` (English: the ids themselves)."""
    if language == DEFAULT or language not in LANGUAGES:
        return NullTranslations()
    source = files("microtrial") / "locale" / language / "LC_MESSAGES" / "messages.po"
    with source.open("rb") as po:
        catalog = read_po(po, locale=language)
    compiled = BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled, domain="messages")


def set_current(language: str) -> object:
    """Make ``language`` the one templates speak in this context; a token for ``reset_current``."""
    return _current.set(language if language in LANGUAGES else DEFAULT)


def reset_current(token: object) -> None:
    """Undo a ``set_current``."""
    _current.reset(token)  # type: ignore[arg-type]


def current() -> str:
    """The language of the page being rendered."""
    return _current.get()


def gettext(message: str, language: str | None = None) -> str:
    """``message`` in ``language`` (the current one by default)."""
    return translations(language or current()).gettext(message)


def pgettext(context: str, message: str, language: str | None = None) -> str:
    """``message`` read in ``context`` (a word that means something else elsewhere), in
    ``language``."""
    return str(translations(language or current()).pgettext(context, message))


def ngettext(singular: str, plural: str, n: int, language: str | None = None) -> str:
    """The singular or plural of a message for ``n``, in ``language``."""
    return translations(language or current()).ngettext(singular, plural, n)


# strftime directives -> Babel (CLDR) pattern letters, for the languages other than English.
_PATTERN = {
    "%A": "EEEE",
    "%a": "EEE",
    "%d": "dd",
    "%e": "d",
    "%B": "MMMM",
    "%b": "MMM",
    "%Y": "yyyy",
    "%m": "MM",
    "%H": "HH",
    "%M": "mm",
}
# Whole formats with a better locale form than word-for-word.
_STYLE = {"%A %d %B %Y": "full", "%d %B %Y": "long"}


def _cldr(pattern: str) -> str:
    """A strftime pattern as a CLDR one (literal text quoted)."""
    out = []
    for piece in re.split(r"(%[A-Za-z])", pattern):
        if piece in _PATTERN:
            out.append(_PATTERN[piece])
        elif piece:
            out.append("'" + piece.replace("'", "''") + "'" if piece.strip(" ,.:-/") else piece)
    return "".join(out)


def format_when(when: dt.date | dt.datetime, pattern: str, language: str | None = None) -> str:
    """A date or time in ``language``: English exactly as ``strftime(pattern)``, the others in
    the locale's own words and order (Babel, CLDR)."""
    lang = language or current()
    if lang == DEFAULT or lang not in LANGUAGES:
        return when.strftime(pattern)
    style = _STYLE.get(pattern)
    if isinstance(when, dt.datetime):
        if style is not None:
            return format_date(when.date(), style, locale=lang)
        return format_datetime(when, _cldr(pattern), locale=lang)
    return format_date(when, style or _cldr(pattern), locale=lang)


def format_number(value: float | int, language: str | None = None, digits: int = 1) -> str:
    """A number in ``language``: English as Python writes it, the others with Babel."""
    lang = language or current()
    if lang == DEFAULT or lang not in LANGUAGES:
        return str(value)
    if isinstance(value, int):
        return format_decimal(value, locale=lang)
    return format_decimal(value, format="#,##0." + "#" * max(digits, 0), locale=lang)


def month_names(language: str | None = None, width: str = "abbreviated") -> list[str]:
    """The twelve month names (January first) in ``language``, for chart axes."""
    lang = language or current()
    if lang == DEFAULT or lang not in LANGUAGES:
        return [
            dt.date(2000, m, 1).strftime("%b" if width == "abbreviated" else "%B")
            for m in range(1, 13)
        ]
    names = Locale.parse(lang).months["stand-alone"][width]
    return [str(names[m]) for m in range(1, 13)]


# Languages whose nouns keep their capital inside a sentence.
CAPITALISED_NOUNS = frozenset({"de"})


def in_sentence(title: str, language: str | None = None) -> str:
    """A capitalised title or word as it reads inside a sentence of ``language`` (lower-cased,
    except where nouns keep their capital)."""
    if (language or current()) in CAPITALISED_NOUNS:
        return title
    return title[:1].lower() + title[1:]


# The catalogs' context of stored values (statuses, phases, roles...): "Open" as a state is not
# the "Open" of a link. Marked in their capitalised form (web/staff_words.py).
STORED = "stored value"


def stored_word(value: object) -> str:
    """A stored value in the current language: its capitalised catalog form, lower-cased again
    where the value was (English: the value itself)."""
    text = str(value) if value is not None else ""
    if not text or current() == DEFAULT:
        return text
    translated = pgettext(STORED, text[:1].upper() + text[1:])
    return translated if text[:1].isupper() else in_sentence(translated)


def N_(message: str) -> str:
    """Mark ``message`` for the catalog without translating it here (it is translated on use)."""
    return message


def extract_catalog_yaml(
    fileobj: object, keywords: object, comment_tags: object, options: object
) -> list[tuple[int, str | None, str, list[str]]]:
    """A pybabel extractor (babel.cfg) for the words people read in catalog YAML files: alert
    ``patient_message`` texts, the staff's alert ``message`` texts and crisis-line ``label``
    texts (values as YAML reads them, so folded lines are joined as the catalog joins them).
    A section's ``keys`` option (babel.cfg) names other keys: the instruments' ``message``
    texts of their plausibility rules, without their answer labels."""
    del keywords, comment_tags
    named = (options or {}).get("keys") if isinstance(options, dict) else None
    keys = frozenset(str(named).split()) if named else _CATALOG_TEXT_KEYS
    found: list[tuple[int, str | None, str, list[str]]] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in keys and isinstance(value, str) and value.strip():
                    found.append((0, None, value.strip(), []))
                else:
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(yaml.safe_load(fileobj.read().decode("utf-8")))  # type: ignore[attr-defined]
    return found


_CATALOG_TEXT_KEYS = frozenset({"patient_message", "message", "label"})


@contextmanager
def speaking(language: str) -> Iterator[None]:
    """Within the block, gettext and dates speak ``language`` (reports built outside a page)."""
    token = _current.set(language if language in LANGUAGES else DEFAULT)
    try:
        yield
    finally:
        _current.reset(token)
