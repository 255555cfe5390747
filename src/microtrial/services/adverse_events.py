"""Adverse events as reviewed records: made from the patient's checklist, reviewed by clinicians.

A checklist grade >= 2 becomes a record (source "patient report", awaiting review) in the
diary entry's transaction, once per symptom episode (``domain.adverse_events`` says what an
episode is). Clinicians confirm, regrade and close records; each is a new version
(``services.common.supersede``). An event that becomes serious or grade >= 3 raises the
adverse-event alert through ``services.alerts.raise_alerts``, which pauses a running trial.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from microtrial.domain.access import Action, allows
from microtrial.domain.actors import Actor
from microtrial.domain.adverse_events import (
    AWAITING_REVIEW,
    CHECKLIST,
    CLINICIAN,
    CLOSED,
    CONFIRMED,
    MIN_RECORDED_GRADE,
    PATIENT_REPORT,
    Episode,
    check_review,
    checklist_symptoms,
    episode_change,
    pauses,
)
from microtrial.domain.alerts import (
    AdverseEventReport,
    check_adverse_event,
    check_symptom_codes,
    symptom_names,
)
from microtrial.domain.catalog import load_catalog
from microtrial.errors import ValidationError
from microtrial.services.alerts import active_trial_ids, raise_alerts
from microtrial.services.common import (
    Clock,
    add_audited,
    current_version,
    patient_for,
    patient_today,
    stamp,
    supersede_audited,
    system_clock,
)
from microtrial.services.diary_rules import run_adverse_event_rules
from microtrial.services.schemas import ReadModel
from microtrial.services.unit import UnitOfWork, read_record, read_records
from microtrial.store.db import Database
from microtrial.store.models import AdverseEventRow, DiaryEntryRow, PatientRow

# What a review may change on a record (every change is a new version).
REVIEWABLE = ("status", "grade", "serious", "outcome", "resolved_date")


class AdverseEventRead(ReadModel):
    """A stored adverse event (current version)."""

    id: int
    record_id: str
    version: int
    patient_id: int
    term: str
    grade: int
    serious: bool
    onset_date: dt.date
    resolved_date: dt.date | None = None
    source: str = "clinician"
    status: str = CONFIRMED
    outcome: str | None = None


@dataclass(frozen=True)
class AdverseEventReview:
    """A clinician's review: confirm, regrade or close, with the values it sets."""

    action: str
    grade: int | None = None
    serious: bool | None = None
    outcome: str | None = None
    resolved_date: dt.date | None = None
    reason: str | None = None


def add_adverse_event(
    session: Session,
    actor: Actor,
    patient: PatientRow,
    now: dt.datetime,
    row: AdverseEventRow,
    **detail: Any,
) -> AdverseEventRow:
    """Store a new adverse event of the patient (version 1), audited with its grade, seriousness
    and ``detail``."""
    row.patient_id = patient.id
    stamp(row, actor, now)
    add_audited(
        session,
        actor,
        row,
        patient,
        "adverse_event",
        at=now,
        grade=row.grade,
        serious=row.serious,
        **detail,
    )
    return row


def record_checklist_events(
    session: Session, actor: Actor, patient: PatientRow, entry: DiaryEntryRow, now: dt.datetime
) -> list[AdverseEventRow]:
    """Make or raise the records for a new checklist entry's symptoms graded 2 or more."""
    if entry.instrument_id != CHECKLIST:
        return []
    instrument = load_catalog().instrument(CHECKLIST)
    symptoms = checklist_symptoms(instrument, entry.answers, MIN_RECORDED_GRADE)
    if not symptoms:
        return []
    serious = entry.answers.get("serious") is True
    latest = _latest_by_symptom(session, patient.id, {s.item for s in symptoms})
    written: list[AdverseEventRow] = []
    for symptom in symptoms:
        row = latest.get(symptom.item)
        episode = None
        if row is not None:
            episode = Episode(row.grade, row.serious, row.status, row.onset_date, row.resolved_date)
        change = episode_change(episode, entry.local_date, symptom.grade, serious)
        if change == "new":
            new = add_adverse_event(
                session,
                actor,
                patient,
                now,
                AdverseEventRow(
                    trial_id=entry.trial_id,
                    term=symptom.label,
                    grade=symptom.grade,
                    serious=serious,
                    onset_date=entry.local_date,
                    source=PATIENT_REPORT,
                    status=AWAITING_REVIEW,
                    symptom=symptom.item,
                ),
                source=PATIENT_REPORT,
                diary_entry=entry.record_id,
            )
            written.append(new)
        elif change == "raise" and row is not None:
            changes: dict[str, Any] = {
                "grade": max(row.grade, symptom.grade),
                "serious": row.serious or serious,
                "status": AWAITING_REVIEW,
            }
            reason = f"patient reported grade {symptom.grade} on {entry.local_date}"
            detail = {"grade": changes["grade"], "diary_entry": entry.record_id}
            new = _revise(session, actor, row, changes, patient, now, reason, "correct", detail)
            written.append(new)
    return written


def _revise(
    session: Session,
    actor: Actor,
    old: AdverseEventRow,
    changes: dict[str, Any],
    patient: PatientRow,
    now: dt.datetime,
    reason: str,
    action: str,
    detail: dict[str, Any],
) -> AdverseEventRow:
    """The next version of an adverse event (reviewable fields only), audited as ``action``."""
    return supersede_audited(
        session,
        old,
        changes,
        patient,
        "adverse_event",
        actor=actor,
        at=now,
        reason=reason,
        editable=REVIEWABLE,
        action=action,
        **detail,
    )


def _latest_by_symptom(
    session: Session, patient_id: int, items: set[str]
) -> dict[str, AdverseEventRow]:
    """Each symptom's newest patient-reported record (current version)."""
    rows = session.execute(
        select(AdverseEventRow)
        .where(
            AdverseEventRow.patient_id == patient_id,
            AdverseEventRow.is_current.is_(True),
            AdverseEventRow.source == PATIENT_REPORT,
            AdverseEventRow.symptom.in_(items),
        )
        .order_by(AdverseEventRow.onset_date, AdverseEventRow.id)
    ).scalars()
    return {row.symptom: row for row in rows if row.symptom is not None}


def review_adverse_event(
    db: Database,
    actor: Actor,
    patient_id: int,
    record_id: str,
    review: AdverseEventReview,
    *,
    expected_version: int | None = None,
    clock: Clock = system_clock,
) -> AdverseEventRead:
    """Confirm, regrade or close an adverse event: a new version; a serious one pauses the trial."""
    with UnitOfWork(db, actor, Action.REVIEW_ADVERSE_EVENT, clock=clock) as (session, now):
        patient = patient_for(session, actor, patient_id)
        old = current_version(
            session,
            AdverseEventRow,
            record_id,
            expected_version=expected_version,
            patient_id=patient.id,
        )
        check_review(
            review.action,
            old.status,
            grade=review.grade,
            outcome=review.outcome,
            resolved=review.resolved_date,
            onset=old.onset_date,
        )
        changes: dict[str, Any] = {"status": CLOSED if review.action == "close" else CONFIRMED}
        if review.grade is not None:
            changes["grade"] = review.grade
        if review.serious is not None:
            changes["serious"] = review.serious
        if review.action == "close":
            changes |= {"outcome": review.outcome, "resolved_date": review.resolved_date}
        reason = (review.reason or "").strip() or f"{review.action} by clinician review"
        was_pausing = pauses(old.grade, old.serious)
        detail = {"grade": changes.get("grade", old.grade), "status": changes["status"]}
        detail["serious"] = changes.get("serious", old.serious)
        new = _revise(session, actor, old, changes, patient, now, reason, review.action, detail)
        if pauses(new.grade, new.serious) and not was_pausing:
            # The one stop-rule path: the adverse-event alert pauses a running trial.
            report = AdverseEventReport(term=new.term, grade=new.grade, serious=new.serious)
            raise_alerts(
                session,
                actor,
                patient,
                check_adverse_event(report),
                trigger={"adverse_event": record_id, "version": new.version},
                now=now,
            )
        return AdverseEventRead.model_validate(new)


def record_adverse_event(
    db: Database,
    actor: Actor,
    patient_id: int,
    *,
    term: str,
    grade: int,
    serious: bool,
    onset_date: dt.date,
    symptoms: Sequence[str] = (),
    clock: Clock = system_clock,
) -> AdverseEventRead:
    """Record an adverse event with its CTCAE grade (1-5), seriousness and red-flag symptoms (the
    catalog's symptom codes, each raising its rule's alert)."""
    work = UnitOfWork(db, actor, Action.RECORD_ADVERSE_EVENT, clock=clock)
    reported = check_symptom_codes(symptoms)
    if not 1 <= grade <= 5:
        raise ValidationError("grade", f"{grade} is out of range", value=grade, allowed="1..5")
    term = term.strip()
    if not term:
        raise ValidationError("term", "empty adverse-event term")
    reviewer = allows(actor, Action.REVIEW_ADVERSE_EVENT)
    with work as (session, now):
        patient = patient_for(session, actor, patient_id)
        if onset_date > patient_today(patient, now):
            raise ValidationError("onset_date", f"{onset_date} is in the future")
        row = add_adverse_event(
            session,
            actor,
            patient,
            now,
            AdverseEventRow(
                trial_id=_trial_id(session, patient.id),
                term=term,
                grade=grade,
                serious=serious,
                onset_date=onset_date,
                # A clinician's record needs no review; anyone else's is a patient report.
                source=CLINICIAN if reviewer else PATIENT_REPORT,
                status=CONFIRMED if reviewer else AWAITING_REVIEW,
            ),
            symptoms=sorted(reported),
        )
        report = AdverseEventReport(term=term, grade=grade, serious=serious, symptoms=reported)
        raise_alerts(
            session,
            actor,
            patient,
            check_adverse_event(report),
            trigger={"adverse_event": row.record_id},
            now=now,
        )
        run_adverse_event_rules(session, actor, patient, row, now)
        return AdverseEventRead.model_validate(row)


def symptom_choices() -> dict[str, str]:
    """The red-flag symptoms a record may name (catalog symptom code -> staff name)."""
    return symptom_names()


def _trial_id(session: Session, patient_id: int) -> int | None:
    return active_trial_ids(session, [patient_id]).get(patient_id)


def list_adverse_events(
    db: Database, actor: Actor, patient_id: int, *, clock: Clock = system_clock
) -> list[AdverseEventRead]:
    """A patient's current adverse events, oldest first."""
    rows, _ = read_records(
        db, actor, patient_id, AdverseEventRow, "adverse_event", AdverseEventRow.id, clock=clock
    )
    return [AdverseEventRead.model_validate(r) for r in rows]


def get_adverse_event(
    db: Database, actor: Actor, patient_id: int, record_id: str, *, clock: Clock = system_clock
) -> AdverseEventRead:
    """One current adverse event of a patient (NotFound for another patient's)."""
    row, _ = read_record(
        db, actor, patient_id, AdverseEventRow, "adverse_event", record_id, clock=clock
    )
    return AdverseEventRead.model_validate(row)
