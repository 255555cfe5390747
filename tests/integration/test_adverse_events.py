"""Reported harm becomes a record: checklist grades >= 2 and clinician review, on both databases."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from helpers import Clinic, FixedClock
from integration.test_safety_services import planned_and_running
from microtrial.domain.adverse_events import AWAITING_REVIEW, CLOSED, CONFIRMED, PATIENT_REPORT
from microtrial.errors import NotFound, PermissionDenied, StaleVersion, ValidationError
from microtrial.services import adverse_events, alerts, records, trial_views
from microtrial.services.adverse_events import AdverseEventReview, review_adverse_event
from microtrial.services.records import DiaryInput
from microtrial.store.models import AdverseEventRow, AuditEventRow


def checklist(day: dt.date, key: str | None = None, **grades: object) -> DiaryInput:
    return DiaryInput(day, dict(grades), instrument_id="ae_checklist", idempotency_key=key)


def test_grade_3_nausea_makes_one_record_names_it_and_pauses(
    clinic: Clinic, clock: FixedClock
) -> None:
    doc, pid, trial_id = planned_and_running(clinic, clock)
    patient = clinic.actors["p_A-001"]
    today = clock().date()
    records.record_diary_entry(
        clinic.db, patient, pid, checklist(today, "k1", nausea_gi=3), clock=clock
    )
    events = adverse_events.list_adverse_events(clinic.db, doc, pid, clock=clock)
    assert len(events) == 1
    event = events[0]
    assert event.term.startswith("Nausea")
    assert (event.grade, event.source, event.status) == (3, PATIENT_REPORT, AWAITING_REVIEW)
    assert event.onset_date == today
    assert not event.serious
    (alert,) = [a for a in alerts.list_alerts(clinic.db, doc) if a.code == "ae-grade-3-or-serious"]
    assert "Nausea" in alert.message
    assert "grade 3 (patient report)" in alert.message
    assert "checklist: grade" not in alert.message
    assert alert.trigger["adverse_events"] == [event.record_id]
    assert trial_views.get_trial(clinic.db, doc, trial_id, clock=clock).status == "paused"
    # A replay of the same entry lands once: no second record, no second alert.
    records.record_diary_entry(
        clinic.db, patient, pid, checklist(today, "k1", nausea_gi=3), clock=clock
    )
    assert len(adverse_events.list_adverse_events(clinic.db, doc, pid, clock=clock)) == 1
    with clinic.db.transaction() as session:
        created = session.execute(
            select(AuditEventRow).where(
                AuditEventRow.entity == "adverse_event", AuditEventRow.action == "create"
            )
        ).all()
    assert len(created) == 1


def test_episode_same_or_lower_grade_is_one_record_higher_grade_a_new_version(
    clinic: Clinic, clock: FixedClock
) -> None:
    doc, pid, _ = planned_and_running(clinic, clock)
    patient = clinic.actors["p_A-001"]
    today = clock().date()
    day = [today - dt.timedelta(days=n) for n in (3, 2, 1, 0)]
    records.record_diary_entry(
        clinic.db, patient, pid, checklist(day[0], headache=2, anxiety=1), clock=clock
    )
    records.record_diary_entry(clinic.db, patient, pid, checklist(day[1], headache=2), clock=clock)
    records.record_diary_entry(clinic.db, patient, pid, checklist(day[2], headache=1), clock=clock)
    (event,) = adverse_events.list_adverse_events(
        clinic.db, doc, pid, clock=clock
    )  # grade 1 anxiety: no record
    assert (event.grade, event.version, event.onset_date) == (2, 1, day[0])
    records.record_diary_entry(clinic.db, patient, pid, checklist(day[3], headache=3), clock=clock)
    (raised,) = adverse_events.list_adverse_events(clinic.db, doc, pid, clock=clock)
    assert (raised.record_id, raised.version, raised.grade) == (event.record_id, 2, 3)
    assert raised.onset_date == day[0]
    assert raised.status == AWAITING_REVIEW
    with clinic.db.transaction() as session:
        versions = session.execute(
            select(AdverseEventRow.version, AdverseEventRow.is_current, AdverseEventRow.grade)
            .where(AdverseEventRow.record_id == event.record_id)
            .order_by(AdverseEventRow.version)
        ).all()
    assert [tuple(v) for v in versions] == [(1, False, 2), (2, True, 3)]


def test_clinician_confirms_regrades_and_closes(clinic: Clinic, clock: FixedClock) -> None:
    doc, pid, trial_id = planned_and_running(clinic, clock)
    patient = clinic.actors["p_A-001"]
    today = clock().date()
    records.record_diary_entry(clinic.db, patient, pid, checklist(today, dizziness=2), clock=clock)
    (event,) = adverse_events.list_adverse_events(clinic.db, doc, pid, clock=clock)
    assert trial_views.get_trial(clinic.db, doc, trial_id, clock=clock).status == "running"
    with pytest.raises(PermissionDenied):
        review_adverse_event(
            clinic.db, patient, pid, event.record_id, AdverseEventReview("confirm")
        )
    other = clinic.actors["clinician_siteb"]
    with pytest.raises(NotFound):
        review_adverse_event(clinic.db, other, pid, event.record_id, AdverseEventReview("confirm"))
    confirmed = review_adverse_event(
        clinic.db, doc, pid, event.record_id, AdverseEventReview("confirm"), expected_version=1
    )
    assert (confirmed.status, confirmed.version) == (CONFIRMED, 2)
    with pytest.raises(StaleVersion):
        review_adverse_event(
            clinic.db,
            doc,
            pid,
            event.record_id,
            AdverseEventReview("regrade", grade=3),
            expected_version=1,
        )
    with pytest.raises(ValidationError) as refused:
        review_adverse_event(clinic.db, doc, pid, event.record_id, AdverseEventReview("confirm"))
    assert refused.value.field == "status"
    # Serious: the adverse-event alert pauses the trial (the one stop-rule path).
    serious = review_adverse_event(
        clinic.db,
        doc,
        pid,
        event.record_id,
        AdverseEventReview("regrade", grade=2, serious=True, reason="admitted overnight"),
    )
    assert serious.serious
    assert serious.version == 3
    assert trial_views.get_trial(clinic.db, doc, trial_id, clock=clock).status == "paused"
    codes = [a.code for a in alerts.list_alerts(clinic.db, doc, patient_id=pid)]
    assert codes.count("ae-grade-3-or-serious") == 1
    with pytest.raises(ValidationError) as refused:
        review_adverse_event(
            clinic.db,
            doc,
            pid,
            event.record_id,
            AdverseEventReview("close", outcome="recovered", resolved_date=today - dt.timedelta(1)),
        )
    assert refused.value.field == "resolved_date"
    closed = review_adverse_event(
        clinic.db,
        doc,
        pid,
        event.record_id,
        AdverseEventReview("close", outcome="recovered", resolved_date=today),
    )
    assert (closed.status, closed.outcome, closed.resolved_date) == (CLOSED, "recovered", today)
    # A report after the closed episode starts a new one.
    clock.advance(days=1)
    records.record_diary_entry(
        clinic.db, patient, pid, checklist(clock().date(), dizziness=2), clock=clock
    )
    assert len(adverse_events.list_adverse_events(clinic.db, doc, pid, clock=clock)) == 2
