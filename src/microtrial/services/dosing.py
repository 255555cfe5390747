"""Dose check-ins and blinding guesses of a running trial, and adherence to its calendar."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from microtrial.analysis.blinding import GUESSES
from microtrial.domain.access import Action
from microtrial.domain.actors import Actor
from microtrial.domain.alerts import check_dose_report, check_kit_dispensed
from microtrial.domain.calendar import (
    DeviationKind,
    DoseEvent,
    TrialCalendar,
    find_deviations,
    summarise_adherence,
)
from microtrial.domain.kits import is_valid_kit_code, normalise_kit_code
from microtrial.domain.lifecycle import DOSING, GUESSING, TrialStatus
from microtrial.domain.regimens import guess_opens_on
from microtrial.domain.trend_rules import Cause
from microtrial.errors import ConflictError, ValidationError
from microtrial.services.alerts import Caused, dose_holds, raise_alerts, raise_caused
from microtrial.services.common import (
    Clock,
    add_audited,
    audit_patient,
    current_version,
    patient_today,
    stamp,
    system_clock,
)
from microtrial.services.schemas import ReadModel
from microtrial.services.trial_loaders import calendar_for, load_trial, patient_zone
from microtrial.services.unit import UnitOfWork, patient_transaction
from microtrial.store.db import Database
from microtrial.store.models import (
    BlindingGuessRow,
    DoseEventRow,
    KitRow,
    PatientRow,
    PeriodRow,
    TrialRow,
)

# Trials without a calendar yet: a dose reported for one is off any calendar.
UNPLANNED = frozenset({TrialStatus.DRAFT, TrialStatus.SCREENED})
DOSE_DURING_HOLD = DeviationKind.DOSE_DURING_HOLD.value
R = TypeVar("R")


class DoseRead(ReadModel):
    """A recorded dose (``deviation``: the protocol deviations it was reported with)."""

    record_id: str
    trial_id: int | None
    local_date: dt.date
    kit_code: str | None
    status: str
    deviation: str | None = None


class GuessRead(ReadModel):
    """A patient's guess of a period's arm."""

    record_id: str
    trial_id: int
    period_id: int
    guess: str
    confidence: int | None


def record_dose(
    db: Database,
    actor: Actor,
    trial_id: int,
    *,
    taken_at: dt.datetime,
    kit_code: str,
    clock: Clock = system_clock,
) -> DoseRead:
    """Record a reported dose. It is a fact: one taken while dosing is held or the trial is not
    running, a second one on a day, an off-calendar one or one from the wrong kit is stored,
    marked as a protocol deviation, and raises an alert (urgent when held or more than one a day).
    One from a kit the pharmacy has not marked dispensed is stored too, with one clinician-review
    alert per kit (no deviation: the patient is told nothing, dosing is not held).
    """
    work = UnitOfWork(db, actor, Action.RECORD_DOSE, clock=clock)
    if taken_at.tzinfo is None:
        raise ValidationError("taken_at", "needs a time zone", allowed="an ISO time with offset")
    code = normalise_kit_code(kit_code)
    if not is_valid_kit_code(code):
        raise ValidationError(
            "kit_code", f"{kit_code!r} is not a kit code", allowed="8 characters as printed"
        )
    now = work.now
    if taken_at > now + dt.timedelta(minutes=5):
        raise ValidationError("taken_at", "is in the future", allowed=f"before {now.isoformat()}")
    with work as (session, now):
        trial, patient = load_trial(session, actor, trial_id)
        local = taken_at.astimezone(patient_zone(patient)).date()
        held_by = _held_by(session, trial, patient.id)
        earlier = _doses_on(session, trial.id, local)
        scheduled: set[dt.date] = set()
        expected_kit = None
        if trial.start_date is not None and trial.status not in UNPLANNED:
            calendar = calendar_for(session, trial, patient)
            scheduled = set(calendar.dose_dates)
            planned = calendar.on(local)
            expected_kit = planned.kit_code if planned is not None else None
        alerts = check_dose_report(
            local,
            scheduled,
            held_by=held_by,
            doses_that_day=earlier,
            expected_kit=expected_kit,
            kit=code,
        )
        row = stamp(
            DoseEventRow(
                patient_id=patient.id,
                trial_id=trial.id,
                local_date=local,
                taken_at=taken_at,
                kit_code=code,
                status="taken",
                deviation=",".join(a.code for a in alerts) or None,
            ),
            actor,
            now,
        )
        add_audited(session, actor, row, patient, "dose", at=now, date=local.isoformat())
        raise_alerts(
            session,
            actor,
            patient,
            alerts,
            trigger={"dose": row.record_id, "date": local.isoformat()},
            now=now,
        )
        _check_kit_dispensed(session, actor, trial, patient, row, now)
        return DoseRead.model_validate(row)


def _check_kit_dispensed(
    session: Session,
    actor: Actor,
    trial: TrialRow,
    patient: PatientRow,
    dose: DoseEventRow,
    now: dt.datetime,
) -> None:
    """Tell a clinician, once per kit, that a capsule came from one of the trial's kits the
    pharmacy has not marked dispensed (the dose stands as reported; dosing is not held)."""
    kit = session.execute(
        select(KitRow).where(KitRow.trial_id == trial.id, KitRow.code == dose.kit_code)
    ).scalar_one_or_none()
    if kit is None:
        return  # not one of the trial's kits: the calendar's wrong-kit check speaks for it
    alert = check_kit_dispensed(kit.code, kit.dispensed_at is not None)
    if alert is not None:
        cause = Cause(alert, f"kit-not-dispensed:{kit.code}")
        raise_caused(session, [Caused(actor, patient, cause, {"dose": dose.record_id})], now)


def _held_by(session: Session, trial: TrialRow, patient_id: int) -> str | None:
    """Why no dose is due now (the trial's status or the open holds), or None when one may be."""
    if trial.status not in DOSING:
        return f"the trial is {trial.status}"
    holds = dose_holds(session, patient_id)
    if holds:
        return "dosing held by alert " + ", ".join(sorted({h.code for h in holds}))
    return None


def _doses_on(session: Session, trial_id: int, day: dt.date) -> int:
    """How many doses of the trial are already recorded on a local date."""
    return len(
        session.execute(
            select(DoseEventRow.id).where(
                DoseEventRow.trial_id == trial_id,
                DoseEventRow.local_date == day,
                DoseEventRow.is_current.is_(True),
                DoseEventRow.status == "taken",
            )
        ).all()
    )


def record_guess(
    db: Database,
    actor: Actor,
    trial_id: int,
    period_number: int,
    guess: str,
    confidence: int | None = None,
    *,
    clock: Clock = system_clock,
) -> GuessRead:
    """The patient's guess of a period's arm, from its last days on; once per period."""
    work = UnitOfWork(db, actor, Action.RECORD_GUESS, clock=clock)
    if guess not in GUESSES:
        raise ValidationError("guess", f"unknown guess {guess!r}", allowed=GUESSES)
    if confidence is not None and not 0 <= confidence <= 100:
        raise ValidationError("confidence", f"{confidence} out of range", allowed="0..100")
    with work as (session, now):
        trial, patient = load_trial(session, actor, trial_id)
        if trial.status not in GUESSING:
            raise ConflictError(
                f"status: guesses are taken during the trial, not when {trial.status}"
            )
        period = session.execute(
            select(PeriodRow).where(
                PeriodRow.trial_id == trial.id, PeriodRow.number == period_number
            )
        ).scalar_one_or_none()
        if period is None:
            raise ValidationError("period", f"no period {period_number}", allowed="1..n")
        today = patient_today(patient, now)
        if today < guess_opens_on(period.end_date):
            raise ConflictError(f"period: period {period_number} has not reached its last days")
        exists = session.execute(
            select(BlindingGuessRow.id).where(
                BlindingGuessRow.trial_id == trial.id,
                BlindingGuessRow.period_id == period.id,
                BlindingGuessRow.is_current.is_(True),
            )
        ).first()
        if exists:
            raise ConflictError(f"period: a guess for period {period_number} exists")
        row = stamp(
            BlindingGuessRow(
                patient_id=patient.id,
                trial_id=trial.id,
                period_id=period.id,
                guess=guess,
                confidence=confidence,
            ),
            actor,
            now,
        )
        add_audited(session, actor, row, patient, "guess", at=now, period=period_number)
        return GuessRead.model_validate(row)


def adherence(
    db: Database, actor: Actor, trial_id: int, *, clock: Clock = system_clock
) -> dict[str, Any]:
    """Planned and taken doses so far, and the deviations (no arm)."""
    now = clock()
    with db.transaction() as session:
        trial, patient = load_trial(session, actor, trial_id)
        calendar = calendar_for(session, trial, patient)
        doses = dose_events(session, trial)
        through = adherence_through(trial, patient, calendar, now)
        summary = summarise_adherence(calendar, doses, through=through)
        deviations = find_deviations(calendar, doses, through=through)
        audit_patient(session, actor, "read", "adherence", trial.id, patient, at=now)
        return {
            "planned": summary.planned,
            "taken": summary.taken,
            "proportion": summary.proportion,
            "through": through.isoformat(),
            "deviations": [
                {"kind": d.kind.value, "date": d.date.isoformat(), "period": d.period}
                for d in deviations
            ],
        }


def adherence_through(
    trial: TrialRow, patient: PatientRow, calendar: TrialCalendar, now: dt.datetime
) -> dt.date:
    """The last day dose adherence counts: yesterday, the plan's last day or the unblinding day.

    Every page and report counts planned doses up to this day, so that one trial shows one
    adherence figure everywhere (a trial stopped early is not charged for the days after it).
    """
    return adherence_until(trial, patient, calendar.last_date, now)


def adherence_until(
    trial: TrialRow, patient: PatientRow, last_date: dt.date, now: dt.datetime
) -> dt.date:
    """``adherence_through`` of a calendar that ends on ``last_date``."""
    through = min(patient_today(patient, now) - dt.timedelta(days=1), last_date)
    if trial.unblinded_at is not None:
        through = min(through, patient_today(patient, trial.unblinded_at))
    return through


def dose_events(session: Session, trial: TrialRow) -> list[DoseEvent]:
    """The trial's current dose check-ins as calendar events (no arm)."""
    return dose_events_of(
        session.execute(
            select(DoseEventRow).where(
                DoseEventRow.trial_id == trial.id, DoseEventRow.is_current.is_(True)
            )
        ).scalars()
    )


def dose_events_of(rows: Iterable[DoseEventRow]) -> list[DoseEvent]:
    """Current dose rows already read as calendar events (rows without a time left out)."""
    return [
        DoseEvent(
            taken_at=r.taken_at,
            kit_code=r.kit_code,
            event_id=r.record_id,
            during_hold=DOSE_DURING_HOLD in (r.deviation or "").split(","),
        )
        for r in rows
        if r.taken_at is not None
    ]


def _doses(session: Session, trial: TrialRow) -> list[DoseRead]:
    rows = session.execute(
        select(DoseEventRow)
        .where(DoseEventRow.trial_id == trial.id, DoseEventRow.is_current.is_(True))
        .order_by(DoseEventRow.id)
    ).scalars()
    return [DoseRead.model_validate(r) for r in rows]


def list_doses(
    db: Database, actor: Actor, trial_id: int, *, clock: Clock = system_clock
) -> list[DoseRead]:
    """A trial's recorded doses (current versions), oldest first."""
    return _audited_list(db, actor, trial_id, "dose", _doses, clock=clock)


def doses_on_day(
    db: Database, actor: Actor, patient_id: int, day: dt.date, *, clock: Clock = system_clock
) -> list[DoseRead]:
    """The patient's recorded doses (current versions) on one local date, of any trial."""
    with patient_transaction(db, actor, patient_id) as (session, patient):
        rows = session.execute(
            select(DoseEventRow)
            .where(
                DoseEventRow.patient_id == patient.id,
                DoseEventRow.local_date == day,
                DoseEventRow.is_current.is_(True),
            )
            .order_by(DoseEventRow.id)
        ).scalars()
        found = [DoseRead.model_validate(r) for r in rows]
        ids = [d.record_id for d in found]
        audit_patient(
            session, actor, "list", "dose", None, patient, at=clock(), day=day.isoformat(), ids=ids
        )
        return found


def get_dose(
    db: Database, actor: Actor, trial_id: int, record_id: str, *, clock: Clock = system_clock
) -> DoseRead:
    """One recorded dose of a trial."""
    with db.transaction() as session:
        trial, patient = load_trial(session, actor, trial_id)
        row = current_version(session, DoseEventRow, record_id, trial_id=trial.id)
        audit_patient(session, actor, "read", "dose", record_id, patient, at=clock())
        return DoseRead.model_validate(row)


class GuessView(GuessRead):
    """A period guess with the period's number."""

    period: int


def _guesses(session: Session, trial: TrialRow) -> list[GuessView]:
    rows = session.execute(
        select(BlindingGuessRow, PeriodRow.number)
        .join(PeriodRow, PeriodRow.id == BlindingGuessRow.period_id)
        .where(BlindingGuessRow.trial_id == trial.id, BlindingGuessRow.is_current.is_(True))
        .order_by(PeriodRow.number)
    ).all()
    return [
        GuessView.model_validate({**GuessRead.model_validate(row).model_dump(), "period": number})
        for row, number in rows
    ]


def list_guesses(
    db: Database, actor: Actor, trial_id: int, *, clock: Clock = system_clock
) -> list[GuessView]:
    """A trial's period guesses (current versions), by period."""
    return _audited_list(db, actor, trial_id, "guess", _guesses, clock=clock)


def _audited_list(
    db: Database,
    actor: Actor,
    trial_id: int,
    entity: str,
    rows: Callable[[Session, TrialRow], list[R]],
    *,
    clock: Clock,
) -> list[R]:
    """A trial's records of one kind, read under the access gate and audited as a list."""
    with db.transaction() as session:
        trial, patient = load_trial(session, actor, trial_id)
        result = rows(session, trial)
        audit_patient(
            session,
            actor,
            "list",
            entity,
            None,
            patient,
            at=clock(),
            trial=trial.id,
            count=len(result),
        )
        return result
