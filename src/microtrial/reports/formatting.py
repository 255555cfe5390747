"""How reports print numbers: one place, so the text and the tests agree on the rounding.

Effects are shown to one decimal in points with a true minus sign (U+2212); probabilities as whole
percentages with a space before the sign ("38 %"), "<1 %" and ">99 %" at the extremes.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from functools import cache
from importlib.resources import files
from typing import Any

import yaml
from babel.numbers import get_decimal_symbol

from microtrial import i18n
from microtrial.domain.catalog import load_catalog

MINUS = "\u2212"
NOT_AVAILABLE = "n/a"
UNDEFINED_INDEX = "not defined (no named guesses)"


def finite(value: object) -> bool:
    """True for a real, finite number."""
    try:
        return math.isfinite(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def signed(value: float, digits: int = 1) -> str:
    """A signed number with a true minus sign, e.g. ``−1.6``; ``0.0`` never shows a sign."""
    if not finite(value):
        return NOT_AVAILABLE
    text = f"{float(value):.{digits}f}"
    if text.startswith("-"):
        text = text[1:]
        return text if float(text) == 0 else MINUS + text
    return text


def magnitude(value: float, digits: int = 1) -> str:
    """The absolute value to ``digits`` decimals."""
    if not finite(value):
        return NOT_AVAILABLE
    return f"{abs(float(value)):.{digits}f}"


def percent(probability: float) -> str:
    """A probability as a whole percentage ("38 %"), "<1 %" or ">99 %" at the extremes."""
    if not finite(probability):
        return NOT_AVAILABLE
    p = float(probability)
    shown = round(100.0 * p)
    if shown <= 0 and p > 0:
        return "<1 %"
    if shown >= 100 and p < 1:
        return ">99 %"
    return f"{int(shown)} %"


def share(numerator: float, denominator: float) -> str:
    """A share as a whole percentage of a count (no extremes rule)."""
    if not denominator:
        return NOT_AVAILABLE
    return f"{round(100.0 * numerator / denominator)} %"


def number(value: object, digits: int = 1) -> str:
    """A plain number to ``digits`` decimals (n/a when missing)."""
    if not finite(value):
        return NOT_AVAILABLE
    return signed(float(value), digits)  # type: ignore[arg-type]


def blinding_index(value: object, digits: int = 2) -> str:
    """A blinding index or share to ``digits`` decimals; undefined ones say why (no named guess)."""
    if not finite(value):
        return UNDEFINED_INDEX
    return signed(float(value), digits)  # type: ignore[arg-type]


def interval(low: float, high: float, digits: int = 1) -> str:
    """An interval as ``−1.6 to −0.2``."""
    return f"{signed(low, digits)} to {signed(high, digits)}"


def day(value: dt.date | None) -> str:
    """An ISO date, or an em dash."""
    return value.isoformat() if value is not None else "—"


def lower_higher(value: float, digits: int = 1) -> str:
    """``0.9 points lower`` / ``0.9 points higher`` / ``about the same (0.0 points)``."""
    if not finite(value):
        return NOT_AVAILABLE
    size = magnitude(value, digits)
    # In the reader's language (i18n.speaking; English unless a patient's report says otherwise).
    shown = (
        size if i18n.current() == i18n.DEFAULT else i18n.format_number(float(size), digits=digits)
    )
    if float(size) == 0:
        return i18n.gettext("about the same (%(size)s points)") % {"size": shown}
    one = 1 if size == f"{1:.{digits}f}" else 2
    if value < 0:
        words = i18n.ngettext("%(size)s point lower", "%(size)s points lower", one)
    else:
        words = i18n.ngettext("%(size)s point higher", "%(size)s points higher", one)
    return words % {"size": shown}


def arm_word(arm: str) -> str:
    """An arm's name ("active", "placebo") in the current language; others as given."""
    words = {"active": i18n.pgettext("arm", "active"), "placebo": i18n.pgettext("arm", "placebo")}
    return words.get(arm, arm)


def stored_word(value: str) -> str:
    """A stored status (``unblinded``) as recorded in English, else in the current language (the
    staff pages' capitalised catalog words, context "stored value")."""
    if i18n.current() == i18n.DEFAULT:
        return value
    return i18n.stored_word(value.replace("_", " ").capitalize())


def local(text: object) -> str:
    """Numbers already printed in ``text`` ("−1.5 to 0.3") with the reader's decimal sign
    (English as is)."""
    language = i18n.current()
    if language == i18n.DEFAULT:
        return str(text)
    return re.sub(r"(?<=\d)\.(?=\d)", get_decimal_symbol(language), str(text))


def between(low: float, high: float, digits: int = 1) -> str:
    """An interval as ``−1.6 to −0.2`` in the reader's language and number format."""
    return i18n.gettext("%(low)s to %(high)s") % {
        "low": local(signed(low, digits)),
        "high": local(signed(high, digits)),
    }


def model_warning(warning: str) -> str:
    """A model warning of the analysis service ("; "-separated catalog messages) in the current
    language."""
    return "; ".join(i18n.gettext(part) for part in warning.split("; "))


PATIENT_TITLE = i18n.N_("Your trial result")


def patient_title() -> str:
    """The patient report's title, in the reader's language."""
    return i18n.gettext(PATIENT_TITLE)


@cache
def _ae_checklist_words() -> dict[str, Any]:
    """The side-effect checklist's entry of catalog/instrument_translations.yaml (the project's
    own translations of its plain labels, not of a validated instrument)."""
    source = files("microtrial.catalog") / "instrument_translations.yaml"
    loaded: dict[str, Any] = yaml.safe_load(source.read_text(encoding="utf-8"))
    return dict(loaded["instruments"]["ae_checklist"])


def _ae_grade_words() -> dict[int, dict[str, str]]:
    """The side-effect grades' words per language (catalog/instrument_translations.yaml)."""
    labels = _ae_checklist_words().get("labels") or {}
    return {int(grade): dict(words) for grade, words in labels.items()}


@cache
def _ae_term_words() -> dict[str, dict[str, str]]:
    """A checklist side effect's recorded term (its item text before the colon) -> its words
    per language."""
    items = _ae_checklist_words().get("items") or {}
    checklist = load_catalog().instrument("ae_checklist")
    return {
        item.text.split(":", 1)[0].strip(): dict(items[item.id])
        for item in checklist.items
        if item.id in items
    }


def symptom_term(term: str) -> str:
    """A side effect's recorded term, capitalised, in the current language: a checklist term in
    the catalog's words, a description the patient typed after it (``term: words``) as typed."""
    language = i18n.current()
    if language == i18n.DEFAULT:
        return term.capitalize()
    label, colon, typed = term.partition(": ")
    words = _ae_term_words().get(label, {}).get(language)
    if words is None:
        return term.capitalize()
    return words + colon + typed


def grade_words(grade: int, english: str) -> str:
    """A side-effect grade's label in the current language (``english`` as is in English)."""
    return _ae_grade_words().get(grade, {}).get(i18n.current(), english)
