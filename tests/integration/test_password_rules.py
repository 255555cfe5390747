"""Password rules (12+ characters, not a common password) wherever a password is set."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from helpers import Clinic, FixedClock
from integration.api.live import PASSWORD
from microtrial.cli.main import app as cli
from microtrial.domain.actors import system_actor
from microtrial.errors import ValidationError
from microtrial.services import admin, passwords
from microtrial.services.security import common_passwords, password_problem

WEAK = (
    "aaaaaaaaaa",  # 10 characters: the old rule's minimum
    "aaaaaaaaaaaa",  # 12, one character repeated
    "password1234",  # a common password with digits after it
    "Password123!",
    "!!Sunshine2024",
    "123456789012",  # a run of digits
    "qwertyuiop[]",  # a run of keys
    "abcabcabcabc",
    "1qaz2wsx3edc",
)
GOOD = ("correct horse battery", "microtrial-demo", "purple elephant umbrella", "tr4m-lid-0rbit")


def test_the_rules_refuse_weak_and_accept_good_passwords() -> None:
    assert "password" in common_passwords()
    assert len(common_passwords()) > 700
    for weak in WEAK:
        assert password_problem(weak) is not None, weak
    for good in GOOD:
        assert password_problem(good) is None, good


def test_every_way_of_setting_a_password_applies_the_rules(
    clinic: Clinic, clock: FixedClock
) -> None:
    system = system_actor()
    for weak in ("aaaaaaaaaa", "password1234"):
        with pytest.raises(ValidationError) as added:
            admin.add_user(
                clinic.db,
                system,
                site_code="SITEA",
                role="clinician",
                username="new.doc",
                password=weak,
                clock=clock,
            )
        assert added.value.field == "password"
        me = clinic.actors["p_A-001"]
        with pytest.raises(ValidationError) as changed:
            passwords.change_password(clinic.db, me, PASSWORD, weak, weak, clock=clock)
        assert changed.value.field == "new_password"
        with pytest.raises(ValidationError):
            passwords.set_user_password(clinic.db, system, "clinician_sitea", weak, clock=clock)
        with pytest.raises(ValidationError):
            passwords.set_patient_password(
                clinic.db,
                clinic.actors["clinician_sitea"],
                clinic.patients["A-001"].id,
                weak,
                clock=clock,
            )
    admin.add_user(
        clinic.db,
        system,
        site_code="SITEA",
        role="clinician",
        username="doc.mail",
        password=GOOD[0],
        email="doc@example.org",
        clock=clock,
    )
    link = passwords.request_reset(clinic.db, "doc.mail", clock=clock)
    assert link is not None
    with pytest.raises(ValidationError) as reset:
        passwords.reset_password(clinic.db, link.token, "Password123!", clock=clock)
    assert "common password" in str(reset.value)


def test_the_cli_refuses_a_common_password(database_url: str, clinic: Clinic) -> None:
    del clinic
    result = CliRunner().invoke(
        cli,
        [
            "user",
            "add",
            "--site",
            "SITEA",
            "--role",
            "clinician",
            "--username",
            "doc.cli",
            "--password-stdin",
            "--database-url",
            database_url,
        ],
        input="Password123!\n",
    )
    assert result.exit_code == 2
    assert "common password" in result.output
