"""The audit log's hash chain detects edited and deleted events."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from helpers import Clinic
from microtrial.services import patients
from microtrial.services.audit import verify_audit_log
from microtrial.store.models import AuditEventRow


def test_intact_chain_verifies(clinic: Clinic) -> None:
    problems, count = verify_audit_log(clinic.db)
    assert problems == []
    assert count > 10


def drop_guards(session: Session) -> None:
    """What an attacker with the database owner's rights would do first."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("DROP TRIGGER audit_events_no_update"))
        session.execute(text("DROP TRIGGER audit_events_no_delete"))
    else:
        session.execute(text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only"))


@pytest.mark.parametrize(
    "statement", ["UPDATE audit_events SET actor = 'x'", "DELETE FROM audit_events"]
)
def test_the_database_refuses_to_change_audit_events(clinic: Clinic, statement: str) -> None:
    with pytest.raises(DBAPIError, match="append-only"), clinic.db.transaction() as session:
        session.execute(text(statement))
    assert verify_audit_log(clinic.db)[0] == []


@pytest.mark.parametrize("tamper", ["edit", "delete-middle", "delete-newest"])
def test_tampering_is_detected(clinic: Clinic, tamper: str) -> None:
    patients.get_patient(clinic.db, clinic.actors["clinician_sitea"], clinic.patients["A-001"].id)
    with clinic.db.transaction() as session:
        drop_guards(session)
        ids = session.execute(select(AuditEventRow.id).order_by(AuditEventRow.id)).scalars().all()
        if tamper == "edit":
            session.execute(
                update(AuditEventRow).where(AuditEventRow.id == ids[3]).values(actor="mallory")
            )
        elif tamper == "delete-middle":
            session.execute(delete(AuditEventRow).where(AuditEventRow.id == ids[3]))
        else:
            session.execute(delete(AuditEventRow).where(AuditEventRow.id == ids[-1]))
    problems, _ = verify_audit_log(clinic.db)
    assert problems, tamper
    if tamper == "edit":
        assert problems[0].event_id == ids[3]
        assert "edited" in problems[0].problem
    if tamper == "delete-middle":
        assert problems[0].event_id == ids[4]
        assert "deleted" in problems[0].problem
    if tamper == "delete-newest":
        assert any("newest" in p.problem for p in problems)
