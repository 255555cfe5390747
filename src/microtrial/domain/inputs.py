"""What any typed-in value may hold: text without control characters, dates in a sane range.

Every edge applies these before a value reaches a service or a database: the API's request
bodies (``api/schemas.py``), the web forms' values and dates (``web``), the shared date parser
(``domain.patients.parse_date``). They turn what used to be a 500 (a NUL byte, which PostgreSQL
cannot store; a year that overflows once converted to UTC or moved by a period) into a
``ValidationError`` naming the field.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any, TypeVar

from microtrial.errors import ValidationError

MIN_YEAR = 1900  # no clinical date, dose or diary day lies before this
MAX_YEAR = 2199  # nor after this (far from datetime's 9999 after any calendar arithmetic)
ALLOWED_YEARS = f"dates between {MIN_YEAR}-01-01 and {MAX_YEAR}-12-31"
# C0 controls (NUL among them) and DEL; tab, line feed and carriage return are ordinary text.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def check_text(field: str, value: str) -> str:
    """``value`` if it holds no control character (NUL included); ValidationError otherwise."""
    if _CONTROL.search(value):
        raise ValidationError(
            field, "must not contain control characters (such as NUL)", allowed="printable text"
        )
    return value


def require_text(field: str, value: str, why: str) -> str:
    """``value`` stripped; ValidationError naming ``field`` (and ``why``) when it is blank."""
    text = value.strip()
    if not text:
        raise ValidationError(field, why, allowed="non-empty text")
    return text


D = TypeVar("D", dt.date, dt.datetime)


def check_moment(field: str, value: D) -> D:
    """``value`` if its year (in UTC too, for an aware time) is in range; ValidationError else."""
    years = {value.year}
    if isinstance(value, dt.datetime) and value.utcoffset() is not None:
        try:
            years.add(value.astimezone(dt.UTC).year)
        except OverflowError:
            years.add(0)
    if min(years) < MIN_YEAR or max(years) > MAX_YEAR:
        raise ValidationError(
            field,
            f"year {value.year} is out of range",
            value=value.isoformat(),
            allowed=ALLOWED_YEARS,
        )
    return value


def check_value(field: str, value: Any) -> Any:
    """Check every text, date and time inside ``value`` (lists and mappings too); returns it."""
    if isinstance(value, str):
        check_text(field, value)
    elif isinstance(value, dt.date):
        check_moment(field, value)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            check_value(field, key)
            check_value(field, item)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            check_value(field, item)
    return value
