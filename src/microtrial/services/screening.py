"""Screening stored patients before a trial, the clinician's sign-off, and re-screening."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from microtrial.domain.access import Action, allows
from microtrial.domain.actors import Actor
from microtrial.domain.alerts import BP_INSTRUMENTS
from microtrial.domain.catalog import load_catalog
from microtrial.domain.lifecycle import NOT_STARTED
from microtrial.domain.screening import (
    DO_NOT_START,
    BloodPressure,
    PatientSnapshot,
    ScreeningResult,
    StoppedMedication,
    screen,
)
from microtrial.domain.trial_plan import TrialPlan
from microtrial.errors import ConflictError, NotFound, SafetyBlock
from microtrial.services.common import (
    Clock,
    audit_patient,
    current_records,
    current_version,
    patient_for,
    patient_today,
    stamp,
    supersede,
    system_clock,
)
from microtrial.services.schemas import ReadModel
from microtrial.services.trial_loaders import calendar_for
from microtrial.services.unit import UnitOfWork, patient_transaction
from microtrial.store.db import Database
from microtrial.store.models import (
    ConditionRow,
    DiaryEntryRow,
    HistoryFlagRow,
    MedicationRow,
    PatientRow,
    ScreeningResultRow,
    TrialRow,
)

PREGNANCY_FLAG = "pregnant"


class ScreeningRead(ReadModel):
    """A stored screening result and its sign-off."""

    record_id: str
    version: int
    patient_id: int
    substance: str
    decision: str
    findings: list[dict[str, Any]]
    catalog_version: str
    recorded_at: dt.datetime
    signed_off_by: str | None
    signed_off_at: dt.datetime | None
    sign_off_reason: str | None

    @property
    def cleared(self) -> bool:
        """Whether a trial may start on this screening."""
        return self.decision == "no-known-issues" or (
            self.decision == "clinician-review" and self.signed_off_at is not None
        )


def history_flag_ids() -> list[str]:
    """The history questions screening accepts (plus the pregnancy status)."""
    return [*sorted(load_catalog().history_flags), PREGNANCY_FLAG]


def history_questions() -> dict[str, str]:
    """Each history flag's question as the catalog words it (the pregnancy status too)."""
    questions = {k: f.question for k, f in load_catalog().history_flags.items()}
    return {**questions, PREGNANCY_FLAG: "Currently pregnant?"}


def snapshot_of(
    session: Session, patient: PatientRow, today: dt.date, first_dose: dt.date | None = None
) -> PatientSnapshot:
    """Build the screening input from what is stored for the patient on their date ``today``.

    Stopped medications go in with their stop day; ``first_dose`` (default ``today``) is the day
    their wash-outs are judged against.
    """
    catalog = load_catalog()
    flags = {row.flag: row.value for row in current_records(session, HistoryFlagRow, patient.id)}
    pregnant = flags.pop(PREGNANCY_FLAG, None)
    if patient.sex == "male" and pregnant is None:
        pregnant = False
    history = {k: v for k, v in flags.items() if k in catalog.history_flags}
    conditions = [
        row.icd10_code
        for row in current_records(session, ConditionRow, patient.id)
        if row.status == "active" and catalog.condition_by_code(row.icd10_code) is not None
    ]
    rows = current_records(session, MedicationRow, patient.id)
    medications = [row.name_as_entered for row in rows if row.status == "active"]
    stopped = [
        StoppedMedication(row.name_as_entered, _stopped_on(session, row, patient))
        for row in rows
        if row.status != "active"
    ]
    # every current home or clinic reading in the catalog's window up to today: the domain
    # averages them (a newer version of a day's entry replaces it; is_current keeps one per day)
    since = catalog.blood_pressure_averaging.first_day(today)
    bp_rows = session.execute(
        select(DiaryEntryRow)
        .where(
            DiaryEntryRow.patient_id == patient.id,
            DiaryEntryRow.instrument_id.in_(sorted(BP_INSTRUMENTS)),
            DiaryEntryRow.is_current.is_(True),
            DiaryEntryRow.local_date >= since,
            DiaryEntryRow.local_date <= today,
        )
        .order_by(DiaryEntryRow.local_date, DiaryEntryRow.id)
    ).scalars()
    readings = [
        BloodPressure(
            int(row.answers["systolic"]), int(row.answers["diastolic"]), taken_on=row.local_date
        )
        for row in bp_rows
    ]
    return PatientSnapshot(
        history=history,
        pregnant=pregnant,
        conditions=conditions,
        medications=medications,
        blood_pressures=readings,
        age=today.year - patient.birth_year,
        stopped_medications=stopped,
        first_dose=first_dose or today,
    )


def _stopped_on(session: Session, row: MedicationRow, patient: PatientRow) -> dt.date:
    """The day a medication was stopped: its end date, else the patient's date when the version
    that stopped it was recorded (a stop through a plain status correction carries no date)."""
    if row.end_date is not None:
        return row.end_date
    versions = session.execute(
        select(MedicationRow.status, MedicationRow.recorded_at)
        .where(MedicationRow.record_id == row.record_id)
        .order_by(MedicationRow.version.desc())
    ).all()
    stopped_at = row.recorded_at
    for status, recorded_at in versions:
        if status == "active":
            break
        stopped_at = recorded_at  # an earlier version already stopped it
    return patient_today(patient, stopped_at)


def planned_first_dose(
    session: Session, patient: PatientRow, substance: str, today: dt.date
) -> dt.date:
    """The first capsule day of the patient's not yet started trial of ``substance`` (never
    before ``today``); ``today`` when none is planned or the trial has started."""
    trial = session.execute(
        select(TrialRow)
        .where(
            TrialRow.patient_id == patient.id,
            TrialRow.status.in_(sorted(s.value for s in NOT_STARTED)),
        )
        .order_by(TrialRow.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    if trial is None or TrialPlan.from_json(trial.plan).regimen.substance != substance:
        return today
    doses = calendar_for(session, trial, patient).dose_dates
    return max(doses[0], today) if doses else today


def screening_values(result: ScreeningResult) -> dict[str, Any]:
    """The stored columns of a new, not yet signed-off screening result."""
    return {
        "decision": result.decision,
        "findings": [f.as_dict() for f in result.findings],
        "catalog_version": ",".join(f"{k}={v}" for k, v in sorted(result.catalog_versions.items())),
        "signed_off_by_user_id": None,
        "signed_off_by": None,
        "signed_off_at": None,
        "sign_off_reason": None,
    }


def run_screening(
    session: Session, actor: Actor, patient: PatientRow, substance: str, now: dt.datetime
) -> ScreeningResultRow:
    """Screen the stored patient, store the result as a new version, audit it."""
    return _store(session, actor, patient, _screened(session, patient, substance, now), now)


def _screened(
    session: Session, patient: PatientRow, substance: str, now: dt.datetime
) -> ScreeningResult:
    """Screen the stored patient now, wash-outs judged against the planned first dose."""
    # the patient's own date: diary readings are dated in the patient's time zone
    today = patient_today(patient, now)
    first_dose = planned_first_dose(session, patient, substance, today)
    return screen(snapshot_of(session, patient, today, first_dose), substance)


def rescreen_for_first_dose(
    session: Session, actor: Actor, patient: PatientRow, substance: str, now: dt.datetime
) -> None:
    """Re-screen a newly planned trial's patient when its first dose changes a stopped
    medication's wash-out findings (the stored screening was judged against another day);
    otherwise the stored screening, and its sign-off, stand."""
    row = _latest(session, patient.id, substance)
    if row is None:
        return
    result = _screened(session, patient, substance, now)
    fresh = [f.as_dict() for f in result.findings if f.until is not None]
    stored = [f for f in row.findings if isinstance(f, dict) and f.get("until")]
    if fresh != stored:
        _store(session, actor, patient, result, now)


def _store(
    session: Session, actor: Actor, patient: PatientRow, result: ScreeningResult, now: dt.datetime
) -> ScreeningResultRow:
    """Store a screening result as the patient's new current version, audited."""
    substance = result.substance
    values = screening_values(result)
    previous = _latest(session, patient.id, substance)
    if previous is None:
        row = stamp(
            ScreeningResultRow(patient_id=patient.id, substance=substance, **values), actor, now
        )
        session.add(row)
        session.flush()
    else:
        row = supersede(
            session,
            previous,
            values,
            actor=actor,
            at=now,
            reason="re-screened",
            editable=values.keys(),
        )
    audit_patient(
        session,
        actor,
        "create",
        "screening",
        row.record_id,
        patient,
        at=now,
        substance=substance,
        decision=result.decision,
    )
    return row


def screen_patient(
    db: Database, actor: Actor, patient_id: int, substance: str, *, clock: Clock = system_clock
) -> ScreeningRead:
    """Screen a patient for a substance and store the result."""
    with UnitOfWork(db, actor, Action.SCREEN, clock=clock) as (session, now):
        patient = patient_for(session, actor, patient_id)
        return ScreeningRead.model_validate(run_screening(session, actor, patient, substance, now))


def sign_off_screening(
    db: Database, actor: Actor, record_id: str, reason: str, *, clock: Clock = system_clock
) -> ScreeningRead:
    """A clinician clears a clinician-review screening, giving a reason."""
    # Those who screen may sign off; but a sign-off carries a clinician's name, so the operator
    # (who may screen) is stopped for safety rather than refused.
    work = UnitOfWork(db, actor, Action.SCREEN, clock=clock, doing="sign off screenings")
    if not allows(actor, Action.SIGN_OFF_SCREENING):
        raise SafetyBlock("only a clinician user can sign off a screening")
    with work.needs_text("reason", reason, "a sign-off needs a reason") as (session, now):
        row = current_version(session, ScreeningResultRow, record_id)
        missing = f"record: no record {record_id}"
        patient = patient_for(session, actor, row.patient_id, missing=missing)
        if row.decision == DO_NOT_START:
            raise SafetyBlock("decision: do-not-start cannot be signed off")
        if row.decision == "no-known-issues":
            raise ConflictError("decision: no-known-issues needs no sign-off")
        if row.signed_off_at is not None:
            raise ConflictError("screening: already signed off")
        new = supersede(
            session,
            row,
            {
                "signed_off_by_user_id": actor.user_id,
                "signed_off_by": actor.label,
                "signed_off_at": now,
                "sign_off_reason": reason.strip(),
            },
            actor=actor,
            at=now,
            reason="clinician sign-off",
            editable=("signed_off_by_user_id", "signed_off_by", "signed_off_at", "sign_off_reason"),
        )
        audit_patient(
            session, actor, "sign-off", "screening", record_id, patient, at=now, version=new.version
        )
        return ScreeningRead.model_validate(new)


def latest_screening(
    db: Database, actor: Actor, patient_id: int, substance: str, *, clock: Clock = system_clock
) -> ScreeningRead:
    """The current screening of a patient for a substance."""
    with patient_transaction(db, actor, patient_id) as (session, patient):
        row = _latest(session, patient.id, substance)
        if row is None:
            raise NotFound(f"screening: patient {patient_id} has no {substance} screening")
        audit_patient(session, actor, "read", "screening", row.record_id, patient, at=clock())
        return ScreeningRead.model_validate(row)


def current_screening(session: Session, patient_id: int, substance: str) -> ScreeningRead | None:
    """The current screening inside an open transaction (no audit: callers audit their action)."""
    row = _latest(session, patient_id, substance)
    return None if row is None else ScreeningRead.model_validate(row)


def rescreen_after_change(
    session: Session, actor: Actor, patient: PatientRow, now: dt.datetime
) -> list[ScreeningResultRow]:
    """Re-run every substance's screening after the patient's record changed."""
    substances = (
        session.execute(
            select(ScreeningResultRow.substance)
            .where(
                ScreeningResultRow.patient_id == patient.id, ScreeningResultRow.is_current.is_(True)
            )
            .distinct()
        )
        .scalars()
        .all()
    )
    return [run_screening(session, actor, patient, s, now) for s in sorted(substances)]


def _latest(session: Session, patient_id: int, substance: str) -> ScreeningResultRow | None:
    return session.execute(
        select(ScreeningResultRow).where(
            ScreeningResultRow.patient_id == patient_id,
            ScreeningResultRow.substance == substance,
            ScreeningResultRow.is_current.is_(True),
        )
    ).scalar_one_or_none()
