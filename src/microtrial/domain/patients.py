"""Validation of patient identity fields (pure; no storage)."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from microtrial.domain.inputs import check_moment
from microtrial.errors import ValidationError

SEXES = ("female", "male", "other")
STUDY_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{1,39}", re.ASCII)
SITE_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}", re.ASCII)
USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{1,79}", re.ASCII)
# ICD-10-CM: a letter, two characters, then optionally a dot and up to four more.
ICD10CM = re.compile(r"^[A-TV-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$")
OLDEST_BIRTH_YEAR = 1900


def clean_identifier(value: str, field: str) -> str:
    """``value`` trimmed and in Unicode NFC; ValidationError naming ``field`` on a control char.

    Look-alike identifiers (``"P001\\n"`` beside ``P001``) cannot then be stored side by side.
    """
    cleaned = unicodedata.normalize("NFC", value.strip())
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in cleaned):
        raise ValidationError(
            field,
            "contains a control character",
            value=cleaned,
            allowed="visible characters only",
        )
    return cleaned


def check_study_code(code: str) -> str:
    """Return a valid pseudonymous study code (trimmed, NFC) or raise ValidationError."""
    code = clean_identifier(code, "code")
    if not STUDY_CODE.fullmatch(code):
        raise ValidationError(
            "code",
            f"invalid study code {code!r}",
            value=code,
            allowed="2-40 letters, digits, '-' or '_', starting with a letter or digit",
        )
    return code


def check_site_code(code: str) -> str:
    """Return a valid site code (trimmed, NFC) or raise ValidationError."""
    code = clean_identifier(code, "site")
    if not SITE_CODE.fullmatch(code):
        raise ValidationError(
            "site",
            f"invalid site code {code!r}",
            value=code,
            allowed="1-32 letters, digits, '-' or '_'",
        )
    return code


def check_username(username: str) -> str:
    """Return a valid username (trimmed, NFC; unique whatever the case) or ValidationError."""
    username = clean_identifier(username, "username")
    if not USERNAME.fullmatch(username):
        raise ValidationError(
            "username",
            f"invalid username {username!r}",
            value=username,
            allowed="2-80 letters, digits, '.', '_', '@' or '-'",
        )
    return username


def check_birth_year(year: int, today: dt.date) -> int:
    """Return a plausible birth year (an adult today) or raise ValidationError."""
    newest = today.year - 18
    if not OLDEST_BIRTH_YEAR <= year <= newest:
        raise ValidationError(
            "birth_year",
            f"{year} is out of range" + (" (in the future)" if year > today.year else ""),
            value=year,
            allowed=f"{OLDEST_BIRTH_YEAR}..{newest} (adults only)",
        )
    return year


def check_sex(sex: str) -> str:
    """Return a valid sex value or raise ValidationError."""
    if sex not in SEXES:
        raise ValidationError("sex", f"unknown value {sex!r}", value=sex, allowed=SEXES)
    return sex


def check_time_zone(zone: str) -> str:
    """Return a valid IANA time zone name or raise ValidationError."""
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise ValidationError(
            "tz",
            f"unknown time zone {zone!r}",
            value=zone,
            allowed="an IANA zone name such as Europe/London or America/New_York",
        ) from err
    if zone not in available_timezones() and zone != "UTC":
        raise ValidationError("tz", f"unknown time zone {zone!r}", value=zone)
    return zone


def check_icd10(code: str) -> str:
    """Return a well-formed ICD-10-CM code (upper case) or raise ValidationError."""
    normal = code.strip().upper()
    if not ICD10CM.match(normal):
        raise ValidationError(
            "condition",
            f"not an ICD-10-CM code: {code!r}",
            value=code,
            allowed="ICD-10-CM such as G43.909 or M79.7",
        )
    return normal


def parse_date(field: str, value: str) -> dt.date:
    """Parse an ISO date (YYYY-MM-DD) or raise ValidationError naming ``field``."""
    try:
        day = dt.date.fromisoformat(value)
    except ValueError as err:
        raise ValidationError(
            field, f"malformed date {value!r}", value=value, allowed="YYYY-MM-DD"
        ) from err
    return check_moment(field, day)
