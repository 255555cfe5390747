"""Issue 16 (findings 1, 4, 5, 14) at the service layer, on SQLite and PostgreSQL: a user's
session version ends every session and token; admins work at their own site only; users are
deactivated, moved to another role and given a new password, audited; identifiers are
normalised and usernames unique whatever their case."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from helpers import Clinic, FixedClock
from integration.api.live import PASSWORD
from microtrial.domain.actors import Actor, system_actor
from microtrial.errors import ConflictError, NotFound, PermissionDenied, ValidationError
from microtrial.services import admin, auth, passwords, patients, sessions, users
from microtrial.store.models import AuditEventRow

NEW = "a much longer new password"


def add(clinic: Clinic, clock: FixedClock, username: str, role: str, site: str = "SITEA") -> None:
    admin.add_user(
        clinic.db, system_actor("test"), site_code=site, role=role, username=username,
        password=PASSWORD, clock=clock,
    )  # fmt: skip


@pytest.fixture
def admins(clinic: Clinic, clock: FixedClock) -> tuple[Actor, Actor]:
    """An administrator at each site."""
    add(clinic, clock, "admin_a", "admin", "SITEA")
    add(clinic, clock, "admin_b", "admin", "SITEB")
    return admin.user_actor(clinic.db, "admin_a"), admin.user_actor(clinic.db, "admin_b")


def live(clinic: Clinic, username: str) -> tuple[Actor, int]:
    """A signed-in user and the version their session or token is issued under."""
    actor = auth.authenticate(clinic.db, username, PASSWORD)
    assert actor is not None
    assert actor.user_id is not None
    return actor, sessions.session_version(clinic.db, actor)


def still_valid(clinic: Clinic, actor: Actor, version: int) -> bool:
    assert actor.user_id is not None
    return sessions.current_actor(clinic.db, actor.user_id, version) is not None


def audited(clinic: Clinic, action: str) -> list[AuditEventRow]:
    with clinic.db.transaction() as session:
        query = select(AuditEventRow).where(AuditEventRow.action == action)
        return list(session.execute(query).scalars())


def test_sign_out_and_any_new_password_end_every_session(
    clinic: Clinic, clock: FixedClock, admins: tuple[Actor, Actor]
) -> None:
    actor, version = live(clinic, "clinician_sitea")
    other_device = live(clinic, "clinician_sitea")
    assert still_valid(clinic, actor, version)
    sessions.sign_out(clinic.db, actor, clock=clock)
    assert not still_valid(clinic, actor, version)
    assert not still_valid(clinic, *other_device)  # every session of the user, at once
    assert audited(clinic, "logout")
    actor, version = live(clinic, "clinician_sitea")
    passwords.change_password(clinic.db, actor, PASSWORD, NEW, NEW, clock=clock)
    assert not still_valid(clinic, actor, version)
    patient, version = live(clinic, "p_A-001")
    pid = clinic.patients["A-001"].id
    passwords.set_patient_password(clinic.db, clinic.actors["clinician_sitea"], pid, NEW)
    assert not still_valid(clinic, patient, version)
    pharmacist, version = live(clinic, "unblinded_staff_sitea")
    users.set_user_password(clinic.db, admins[0], "unblinded_staff_sitea", NEW, clock=clock)
    assert not still_valid(clinic, pharmacist, version)


def test_deactivation_and_role_change_end_sessions_and_are_audited(
    clinic: Clinic, clock: FixedClock, admins: tuple[Actor, Actor]
) -> None:
    admin_a, _ = admins
    pharmacist, version = live(clinic, "unblinded_staff_sitea")
    users.set_active(clinic.db, admin_a, "Unblinded_Staff_SiteA", False, clock=clock)
    assert not still_valid(clinic, pharmacist, version)
    assert auth.authenticate(clinic.db, "unblinded_staff_sitea", PASSWORD) is None
    users.set_active(clinic.db, admin_a, "unblinded_staff_sitea", True, clock=clock)
    assert not still_valid(clinic, pharmacist, version)  # an old session stays ended
    researcher, version = live(clinic, "researcher_sitea")
    users.set_role(clinic.db, admin_a, "researcher_sitea", "clinician", clock=clock)
    assert not still_valid(clinic, researcher, version)
    assert admin.user_actor(clinic.db, "researcher_sitea").role.value == "clinician"
    [change] = audited(clinic, "change_role")
    assert change.detail == {"from": "researcher", "to": "clinician"}
    assert len(audited(clinic, "deactivate")) == len(audited(clinic, "reactivate")) == 1
    with pytest.raises(ValidationError) as patient_role:
        users.set_role(clinic.db, admin_a, "p_A-001", "unblinded_staff", clock=clock)
    assert patient_role.value.field == "role"
    with pytest.raises(ValidationError):
        users.set_active(clinic.db, admin_a, "admin_a", False, clock=clock)  # not oneself
    with pytest.raises(PermissionDenied):
        users.set_active(clinic.db, clinic.actors["clinician_sitea"], "p_A-001", False)
    users.set_active(clinic.db, system_actor("ops"), "clinician_siteb", False, clock=clock)


def test_an_admin_administers_their_own_site_only(
    clinic: Clinic, clock: FixedClock, admins: tuple[Actor, Actor]
) -> None:
    admin_a, admin_b = admins
    with pytest.raises(NotFound):  # the finding: an unblinded login at another site
        admin.add_user(
            clinic.db, admin_b, site_code="SITEA", role="unblinded_staff",
            username="mole", password=PASSWORD, clock=clock,
        )  # fmt: skip
    for change in (
        lambda: users.set_active(clinic.db, admin_b, "clinician_sitea", False, clock=clock),
        lambda: users.set_role(clinic.db, admin_b, "researcher_sitea", "admin", clock=clock),
        lambda: users.set_user_password(clinic.db, admin_b, "clinician_sitea", NEW),
        lambda: admin.set_backfill_days(clinic.db, admin_b, "SITEA", 7, clock=clock),
    ):
        with pytest.raises(NotFound):
            change()
    assert {u.site_code for u in admin.list_users(clinic.db, admin_b)} == {"SITEB"}
    assert [s.code for s in admin.list_sites(clinic.db, admin_b)] == ["SITEB"]
    with pytest.raises(PermissionDenied):
        admin.add_site(clinic.db, admin_a, "SITEC", clock=clock)  # the operator adds sites
    admin.add_user(
        clinic.db, admin_a, site_code="SITEA", role="clinician", username="dr_new",
        password=PASSWORD, clock=clock,
    )  # fmt: skip
    assert still_valid(clinic, *live(clinic, "clinician_sitea"))  # nothing ended by the refusals


def test_identifiers_are_normalised_and_usernames_unique_whatever_the_case(
    clinic: Clinic, clock: FixedClock
) -> None:
    add(clinic, clock, "dr.demo", "clinician")
    with pytest.raises(ConflictError, match="username"):
        add(clinic, clock, "Dr.Demo", "clinician")
    with pytest.raises(ConflictError):
        add(clinic, clock, "  DR.DEMO\n", "clinician")
    with pytest.raises(ValidationError) as control:
        add(clinic, clock, "dr.\u200bdemo", "clinician")
    assert control.value.field == "username"
    with pytest.raises(ValidationError) as control_code:
        patients.enrol_patient(
            clinic.db, system_actor("test"), site_code="SITEA", study_code="P0\x0701",
            birth_year=1980, sex="female", time_zone="Europe/London", clock=clock,
        )  # fmt: skip
    assert control_code.value.field == "code"
    enrol = {"site_code": "SITEA", "birth_year": 1980, "sex": "female", "time_zone": "UTC"}
    first = patients.enrol_patient(
        clinic.db, system_actor("test"), study_code="P001", clock=clock, **enrol
    )
    with pytest.raises(ConflictError):  # "P001\n" is P001, not a look-alike beside it
        patients.enrol_patient(
            clinic.db, system_actor("test"), study_code="P001\n", clock=clock, **enrol
        )
    assert first.study_code == "P001"
