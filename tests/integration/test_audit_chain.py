"""The audit log's hash chain detects edited and deleted events."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from helpers import Clinic
from microtrial.services import patients
from microtrial.services.audit import verify_audit_log
from microtrial.store.models import AuditEventRow, AuditStreamRow


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


@pytest.mark.parametrize(
    "tamper",
    ["edit", "delete-middle", "delete-newest", "delete-stream", "delete-stream-and-head", "move"],
)
def test_tampering_is_detected(clinic: Clinic, tamper: str) -> None:
    pid = clinic.patients["A-001"].id
    patients.get_patient(clinic.db, clinic.actors["clinician_sitea"], pid)
    stream = f"patient:{pid}"
    with clinic.db.transaction() as session:
        drop_guards(session)
        ids = (
            session.execute(
                select(AuditEventRow.id)
                .where(AuditEventRow.stream == stream)
                .order_by(AuditEventRow.id)
            )
            .scalars()
            .all()
        )
        assert len(ids) >= 3
        one = AuditEventRow.id == ids[1]
        if tamper == "edit":
            session.execute(update(AuditEventRow).where(one).values(actor="mallory"))
        elif tamper == "delete-middle":
            session.execute(delete(AuditEventRow).where(one))
        elif tamper == "delete-newest":
            session.execute(delete(AuditEventRow).where(AuditEventRow.id == ids[-1]))
        elif tamper == "delete-stream":
            session.execute(delete(AuditEventRow).where(AuditEventRow.stream == stream))
        elif tamper == "delete-stream-and-head":
            session.execute(delete(AuditEventRow).where(AuditEventRow.stream == stream))
            session.execute(delete(AuditStreamRow).where(AuditStreamRow.stream == stream))
        else:
            session.execute(update(AuditEventRow).where(one).values(stream="global"))
    problems, _ = verify_audit_log(clinic.db)
    assert problems, tamper
    if tamper == "edit":
        assert problems[0].event_id == ids[1]
        assert "edited" in problems[0].problem
    if tamper == "delete-middle":
        # The next event of the same patient's chain no longer follows its predecessor.
        assert problems[0].event_id == ids[2]
        assert "deleted" in problems[0].problem
    if tamper == "delete-newest":
        assert any(f"{stream}: newest" in p.problem for p in problems)
    if tamper == "delete-stream":
        assert any(f"{stream}: head counts" in p.problem for p in problems)
    if tamper == "delete-stream-and-head":
        assert [p.problem for p in problems] == [f"{stream}: no audit events at all"]
    if tamper == "move":
        assert {p.event_id for p in problems} >= {ids[1], ids[2]}


def test_each_patient_has_a_chain_of_their_own(clinic: Clinic) -> None:
    """Events about a patient chain per patient; the rest per site or globally."""
    with clinic.db.transaction() as session:
        rows = session.execute(
            select(AuditEventRow.stream, AuditEventRow.patient_id, AuditEventRow.site_id)
        ).all()
    for stream, patient_id, site_id in rows:
        if patient_id is not None:
            assert stream == f"patient:{patient_id}"
        elif site_id is not None:
            assert stream == f"site:{site_id}"
        else:
            assert stream == "global"
    assert len({r.stream for r in rows if r.patient_id is not None}) >= 2


def test_a_plain_sqlalchemy_session_is_left_alone(clinic: Clinic) -> None:
    """The flush hook belongs to MicroTrial's session class, not to every SQLAlchemy Session."""
    from microtrial.store.audit import AuditedSession, append_event

    with clinic.db.transaction() as session:
        assert isinstance(session, AuditedSession)
        before = session.scalar(select(func.count()).select_from(AuditEventRow))
    foreign = Session(clinic.db.engine)
    try:
        # Pending events left in a foreign session's info are not written by its flush.
        foreign.info["audit_pending"] = [{"actor": "intruder"}]
        foreign.flush()
        assert foreign.info["audit_pending"] == [{"actor": "intruder"}]
        with pytest.raises(TypeError, match="MicroTrial session"):
            append_event(foreign, AuditEventRow(action="x", entity="y"))
        foreign.rollback()
    finally:
        foreign.close()
    with clinic.db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(AuditEventRow)) == before
