"""Formats a text item's answer must have: REDCap's text validation types, checked on entry.

A format is named as REDCap names its validation type, so an imported field's type travels back
unchanged. Dates and times are stored as REDCap stores and exports them whatever order its form
shows (``date_dmy`` is still ``YYYY-MM-DD``), so a value compares with its bounds as text.
Numbers are stored as the text entered (``number_comma_decimal``: with a decimal comma) and
compare as decimals. The patterns for phone numbers and postal codes are simplified from
REDCap's own (which are not published as a standard); they accept the common written forms.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

__all__ = ["FORMATS", "TextFormat", "format_value", "in_bounds"]

Key = str | Decimal


@dataclass(frozen=True)
class TextFormat:
    """One format: how it is described to people, and how a value reads (None: not this)."""

    describe: str
    read: Callable[[str], Key | None]
    bounded: bool = False


def _when(pattern: str) -> Callable[[str], Key | None]:
    def read(text: str) -> Key | None:
        try:
            dt.datetime.strptime(text, pattern)
        except ValueError:
            return None
        # strptime accepts 1-digit fields; the stored form is always zero-padded
        return text if len(text) == len(dt.datetime(2000, 1, 1).strftime(pattern)) else None

    return read


def _number(places: int | None, comma: bool) -> Callable[[str], Key | None]:
    point = "," if comma else r"\."
    decimals = r"\d+" if places is None else rf"\d{{{places}}}"
    shape = re.compile(
        rf"^-?\d+(?:{point}{decimals})?$" if places is None else rf"^-?\d+{point}{decimals}$"
    )

    def read(text: str) -> Key | None:
        if not shape.match(text):
            return None
        try:
            return Decimal(text.replace(",", "."))
        except InvalidOperation:
            return None

    return read


def _pattern(regex: str, flags: int = 0) -> Callable[[str], Key | None]:
    compiled = re.compile(regex, flags)
    return lambda text: text if compiled.match(text) else None


def _formats() -> dict[str, TextFormat]:
    formats: dict[str, TextFormat] = {}
    for order in ("ymd", "mdy", "dmy"):
        formats[f"date_{order}"] = TextFormat("a date YYYY-MM-DD", _when("%Y-%m-%d"), True)
        formats[f"datetime_{order}"] = TextFormat(
            "a date and time YYYY-MM-DD HH:MM", _when("%Y-%m-%d %H:%M"), True
        )
        formats[f"datetime_seconds_{order}"] = TextFormat(
            "a date and time YYYY-MM-DD HH:MM:SS", _when("%Y-%m-%d %H:%M:%S"), True
        )
    formats["time"] = TextFormat("a time HH:MM", _when("%H:%M"), True)
    formats["time_hh_mm_ss"] = TextFormat("a time HH:MM:SS", _when("%H:%M:%S"), True)
    formats["time_mm_ss"] = TextFormat("minutes and seconds MM:SS", _when("%M:%S"), True)
    formats["number"] = TextFormat("a number", _number(None, comma=False), True)
    formats["number_comma_decimal"] = TextFormat(
        "a number with a decimal comma", _number(None, comma=True), True
    )
    for places in range(1, 5):
        formats[f"number_{places}dp"] = TextFormat(
            f"a number with {places} decimal place(s)", _number(places, comma=False), True
        )
        formats[f"number_{places}dp_comma_decimal"] = TextFormat(
            f"a number with {places} decimal place(s) after a comma",
            _number(places, comma=True),
            True,
        )
    formats["email"] = TextFormat("an e-mail address", _pattern(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$"))
    formats["phone"] = TextFormat(
        "a 10-digit North American phone number",
        _pattern(r"^\(?[2-9]\d{2}\)?[\s.-]?[2-9]\d{2}[\s.-]?\d{4}$"),
    )
    formats["phone_australia"] = TextFormat(
        "an Australian phone number", _pattern(r"^\(?0[2-9]\)?[\s-]?\d{4}[\s-]?\d{4}$")
    )
    formats["zipcode"] = TextFormat("a US ZIP code", _pattern(r"^\d{5}(?:-\d{4})?$"))
    formats["postalcode_australia"] = TextFormat("an Australian postcode", _pattern(r"^\d{4}$"))
    formats["postalcode_canada"] = TextFormat(
        "a Canadian postal code", _pattern(r"^[A-Za-z]\d[A-Za-z] ?\d[A-Za-z]\d$")
    )
    formats["postalcode_french"] = TextFormat("a French postal code", _pattern(r"^\d{5}$"))
    formats["postalcode_germany"] = TextFormat("a German postal code", _pattern(r"^\d{5}$"))
    formats["alpha_only"] = TextFormat("letters only", _pattern(r"^[^\W\d_]+$"))
    formats["mrn_10d"] = TextFormat("a 10-digit record number", _pattern(r"^\d{10}$"))
    formats["mrn_generic"] = TextFormat(
        "a record number (letters, digits, - and _)", _pattern(r"^[A-Za-z0-9_-]+$")
    )
    formats["ssn"] = TextFormat("a number NNN-NN-NNNN", _pattern(r"^\d{3}-\d{2}-\d{4}$"))
    return formats


FORMATS: dict[str, TextFormat] = _formats()


def format_value(name: str, text: str) -> Key | None:
    """The comparable value of ``text`` in format ``name``; None when it is not that format."""
    return FORMATS[name].read(text)


def _before(a: Key, b: Key) -> bool:
    if isinstance(a, Decimal) and isinstance(b, Decimal):
        return a < b
    if isinstance(a, str) and isinstance(b, str):
        return a < b
    return False


def in_bounds(name: str, text: str, lower: str | None, upper: str | None) -> bool:
    """Whether ``text`` is in format ``name`` and lies within the bounds given (inclusive)."""
    value = format_value(name, text)
    if value is None:
        return False
    low = format_value(name, lower) if lower is not None else None
    high = format_value(name, upper) if upper is not None else None
    return not (
        (low is not None and _before(value, low)) or (high is not None and _before(high, value))
    )
