"""Issue 16 finding 14: identifiers are trimmed, in Unicode NFC and free of control characters;
the pattern must match the whole value (a trailing newline once slipped past ``$``)."""

from __future__ import annotations

import pytest

from microtrial.domain.actors import Role, check_role_change
from microtrial.domain.patients import (
    check_site_code,
    check_study_code,
    check_username,
    clean_identifier,
)
from microtrial.errors import ValidationError


def test_identifiers_are_trimmed() -> None:
    assert check_study_code(" P001\n") == "P001"
    assert check_username("\tdr.demo ") == "dr.demo"
    assert check_site_code("SITEA\r\n") == "SITEA"


@pytest.mark.parametrize(
    ("check", "value", "field"),
    [
        (check_study_code, "P0\n01", "code"),
        (check_study_code, "P001\x00", "code"),
        (check_username, "dr.\u200bdemo", "username"),  # zero-width space: a format character
        (check_username, "dr\x1b.demo", "username"),
        (check_site_code, "SITE\x7fA", "site"),
    ],
)
def test_control_characters_are_refused_naming_the_field(
    check: object, value: str, field: str
) -> None:
    assert callable(check)
    with pytest.raises(ValidationError) as refused:
        check(value)
    assert refused.value.field == field


def test_unicode_is_put_in_nfc() -> None:
    decomposed = "Jose\u0301"
    assert clean_identifier(decomposed, "name") == "Jos\u00e9"
    with pytest.raises(ValidationError):  # usernames stay plain ASCII
        check_username("jos\u00e9")


def test_only_staff_logins_change_role() -> None:
    check_role_change(Role.RESEARCHER, Role.CLINICIAN)
    for current, new in ((Role.PATIENT, Role.CLINICIAN), (Role.ADMIN, Role.PATIENT)):
        with pytest.raises(ValidationError):
            check_role_change(current, new)
