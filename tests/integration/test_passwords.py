"""Changing one's password, single-use expiring reset links, and the clinic setting a new one."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from helpers import Clinic, FixedClock
from integration.api.live import PASSWORD
from microtrial.domain.actors import system_actor
from microtrial.errors import NotFound, PermissionDenied, ValidationError
from microtrial.services import admin, auth, passwords
from microtrial.store.models import AuditEventRow, PasswordResetRow

NEW = "a much longer new password"


def signs_in(clinic: Clinic, username: str, password: str) -> bool:
    return auth.authenticate(clinic.db, username, password) is not None


def test_a_user_changes_their_own_password(clinic: Clinic, clock: FixedClock) -> None:
    me = clinic.actors["p_A-001"]
    with pytest.raises(ValidationError) as wrong:
        passwords.change_password(clinic.db, me, "not it", NEW, NEW, clock=clock)
    assert wrong.value.field == "current_password"
    with pytest.raises(ValidationError) as short:
        passwords.change_password(clinic.db, me, PASSWORD, "short", "short", clock=clock)
    assert short.value.field == "new_password"
    assert str(short.value.allowed).startswith("at least 12 characters")
    with pytest.raises(ValidationError) as differ:
        passwords.change_password(clinic.db, me, PASSWORD, NEW, NEW + "x", clock=clock)
    assert differ.value.field == "new_password_repeat"
    passwords.change_password(clinic.db, me, PASSWORD, NEW, NEW, clock=clock)
    assert signs_in(clinic, "p_A-001", NEW)
    assert not signs_in(clinic, "p_A-001", PASSWORD)
    with clinic.db.transaction() as session:
        event = session.execute(
            select(AuditEventRow).where(AuditEventRow.action == "change_password")
        ).scalar_one()
        assert PASSWORD not in str(event.detail)
        assert NEW not in str(event.detail)
    with pytest.raises(PermissionDenied):
        passwords.change_password(clinic.db, system_actor("x"), PASSWORD, NEW, clock=clock)


def test_a_reset_link_works_once_before_it_expires(clinic: Clinic, clock: FixedClock) -> None:
    system = system_actor("test")
    admin.add_user(
        clinic.db, system, site_code="SITEA", role="clinician", username="doc_mail",
        password=PASSWORD, email="Doc@Example.org", clock=clock,
    )  # fmt: skip
    assert passwords.request_reset(clinic.db, "nobody", clock=clock) is None
    assert passwords.request_reset(clinic.db, "p_A-001", clock=clock) is None  # no e-mail
    link = passwords.request_reset(clinic.db, "doc@example.org", clock=clock)
    assert link is not None
    assert (link.email, link.username) == ("Doc@Example.org", "doc_mail")
    with clinic.db.transaction() as session:
        stored = session.execute(select(PasswordResetRow.token_hash)).scalars().all()
    assert len(stored) == 1
    assert link.token not in stored  # only its hash is kept
    assert passwords.reset_password(clinic.db, link.token, NEW, NEW, clock=clock) == "doc_mail"
    assert signs_in(clinic, "doc_mail", NEW)
    with pytest.raises(ValidationError) as again:
        passwords.reset_password(clinic.db, link.token, NEW + "2", clock=clock)
    assert again.value.field == "token"
    late = passwords.request_reset(clinic.db, "doc_mail", clock=clock)
    assert late is not None
    clock.advance(hours=1, seconds=1)
    with pytest.raises(ValidationError):
        passwords.reset_password(clinic.db, late.token, NEW + "3", clock=clock)
    # A change of password ends any link still open.
    open_link = passwords.request_reset(clinic.db, "doc_mail", clock=clock)
    assert open_link is not None
    doc = admin.user_actor(clinic.db, "doc_mail")
    passwords.change_password(clinic.db, doc, NEW, NEW + "4", clock=clock)
    with pytest.raises(ValidationError):
        passwords.reset_password(clinic.db, open_link.token, NEW + "5", clock=clock)


def test_the_clinic_sets_a_patients_new_password(clinic: Clinic, clock: FixedClock) -> None:
    pid = clinic.patients["A-001"].id
    doc = clinic.actors["clinician_sitea"]
    assert passwords.set_patient_password(clinic.db, doc, pid, NEW, clock=clock) == "p_A-001"
    assert signs_in(clinic, "p_A-001", NEW)
    with pytest.raises(NotFound):
        passwords.set_patient_password(clinic.db, clinic.actors["clinician_siteb"], pid, NEW)
    for refused in ("p_A-002", "unblinded_staff_sitea", "researcher_sitea"):
        with pytest.raises(PermissionDenied):
            passwords.set_patient_password(clinic.db, clinic.actors[refused], pid, NEW)
    with pytest.raises(PermissionDenied):  # a clinician cannot set a colleague's password
        passwords.set_user_password(clinic.db, doc, "clinician_siteb", NEW)
    passwords.set_user_password(clinic.db, system_actor("cli"), "clinician_siteb", NEW)
    assert signs_in(clinic, "clinician_siteb", NEW)
