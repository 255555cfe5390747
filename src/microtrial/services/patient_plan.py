"""Where the patient is in their trial today: the phase, period and day, the next capsule and its
kit (never the arm), and whether a kit code the patient checks in with is the one due."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from microtrial.domain import lifecycle
from microtrial.domain.access import Action, allows
from microtrial.domain.actors import Actor
from microtrial.domain.calendar import CalendarDay, Phase, TrialCalendar
from microtrial.domain.kits import is_valid_kit_code, normalise_kit_code
from microtrial.errors import PermissionDenied, ValidationError
from microtrial.services.adaptive import adaptive_view
from microtrial.services.common import (
    Clock,
    audit_patient,
    patient_for,
    patient_today,
    system_clock,
)
from microtrial.services.schemas import ReadModel
from microtrial.services.trial_loaders import calendar_for, load_trial
from microtrial.store.db import Database
from microtrial.store.models import DoseEventRow, PatientRow, TrialRow

# Where a patient can be: before the start, in the run-in, in a period, paused, or past the end.
BEFORE, RUN_IN, PERIOD, PAUSED, AFTER = "before", "run-in", "period", "on-pause", "after"


class TodayPlan(ReadModel):
    """The patient's place in their current trial today (no arm)."""

    trial_id: int | None = None
    status: str | None = None
    start_date: dt.date | None = None
    end_date: dt.date | None = None
    phase: str | None = None
    period: int | None = None
    periods: int = 0
    period_day: int | None = None  # 1 on a period's first day
    period_days: int | None = None
    run_in_day: int | None = None  # 1 on the first run-in day
    run_in_days: int = 0
    dose_today: bool = False
    taken_today: bool = False
    next_dose: dt.date | None = None  # the next planned dose after today
    kit_code: str | None = None  # the kit of today's dose, else of the next one
    kit_period: int | None = None
    # An adaptive trial's looks, blinded: "continue" or "decision-reached" (else None).
    adaptive_state: str | None = None


class KitCheck(ReadModel):
    """A checked-in kit code against the kit due that day."""

    code: str
    due: str | None
    due_period: int | None
    is_due: bool
    period_of_code: int | None  # the period whose kit it is, when it is another of the trial's


def _current_trial(session: Session, patient: PatientRow) -> TrialRow | None:
    """The patient's latest trial that is scheduled, running, paused or completed."""
    return session.execute(
        select(TrialRow)
        .where(TrialRow.patient_id == patient.id, TrialRow.status.in_(lifecycle.CURRENT))
        .order_by(TrialRow.id.desc())
    ).scalar()


def _taken_on(session: Session, trial: TrialRow, day: dt.date) -> bool:
    return (
        session.execute(
            select(DoseEventRow.id).where(
                DoseEventRow.trial_id == trial.id,
                DoseEventRow.local_date == day,
                DoseEventRow.is_current.is_(True),
                DoseEventRow.status == "taken",
            )
        ).first()
        is not None
    )


def _phase(
    calendar: TrialCalendar, trial: TrialRow, day: CalendarDay | None, today: dt.date
) -> str:
    if today < calendar.first_date:
        return BEFORE
    if day is None or trial.status == lifecycle.TrialStatus.COMPLETED:
        return AFTER
    if trial.status == lifecycle.TrialStatus.PAUSED or day.phase is Phase.PAUSED:
        return PAUSED
    return RUN_IN if day.phase is Phase.RUN_IN else PERIOD


def plan_of(session: Session, trial: TrialRow, patient: PatientRow, today: dt.date) -> TodayPlan:
    """The plan for ``today`` inside an open transaction (callers audit)."""
    calendar = calendar_for(session, trial, patient)
    day = calendar.on(today)
    phase = _phase(calendar, trial, day, today)
    period_lengths: dict[int, int] = {}
    for d in calendar.days:
        if d.period is not None:
            period_lengths[d.period] = period_lengths.get(d.period, 0) + 1
    run_in_days = sum(1 for d in calendar.days if d.phase is Phase.RUN_IN)
    dosing = trial.status in lifecycle.DOSING and phase in (RUN_IN, PERIOD)
    dose_today = dosing and day is not None and day.is_dose_day
    upcoming = (
        [d for d in calendar.days if d.date > today and d.is_dose_day]
        if trial.status in (lifecycle.TrialStatus.SCHEDULED, *lifecycle.DOSING)
        else []
    )
    next_day = upcoming[0] if upcoming else None
    kit_day = day if dose_today else next_day
    in_period = phase == PERIOD and day is not None and day.period is not None
    return TodayPlan(
        trial_id=trial.id,
        status=trial.status,
        start_date=calendar.first_date,
        end_date=calendar.last_date,
        phase=phase,
        period=day.period if in_period and day else None,
        periods=len(period_lengths),
        period_day=(day.period_day or 0) + 1 if in_period and day else None,
        period_days=period_lengths.get(day.period) if in_period and day and day.period else None,
        run_in_day=(day.trial_day or 0) + 1 if phase == RUN_IN and day else None,
        run_in_days=run_in_days,
        dose_today=dose_today,
        taken_today=_taken_on(session, trial, today),
        next_dose=next_day.date if next_day else None,
        kit_code=kit_day.kit_code if kit_day else None,
        kit_period=kit_day.period if kit_day else None,
        adaptive_state=adaptive.state if (adaptive := adaptive_view(session, trial)) else None,
    )


def today_plan(db: Database, actor: Actor, *, clock: Clock = system_clock) -> TodayPlan:
    """The signed-in patient's place in their current trial today (an empty plan without one)."""
    if not allows(actor, Action.USE_PATIENT_APP) or actor.patient_id is None:
        raise PermissionDenied("only a patient has a plan for today", actor=actor)
    now = clock()
    with db.transaction() as session:
        patient = patient_for(session, actor, actor.patient_id)
        trial = _current_trial(session, patient)
        plan = (
            TodayPlan()
            if trial is None
            else plan_of(session, trial, patient, patient_today(patient, now))
        )
        audit_patient(session, actor, "read", "today_plan", plan.trial_id, patient, at=now)
        return plan


def check_kit(
    db: Database,
    actor: Actor,
    trial_id: int,
    kit_code: str,
    *,
    clock: Clock = system_clock,
    taken_at: dt.datetime | None = None,
) -> KitCheck:
    """Whether ``kit_code`` is the kit due on the day of ``taken_at`` (default now; a check-in kept
    offline was taken earlier) (ValidationError, in plain words, when the text is not a kit code
    at all). That dose day's kit, or on another day the current period's."""
    code = normalise_kit_code(kit_code)
    if not is_valid_kit_code(code):
        raise ValidationError(
            "kit_code",
            f"“{kit_code.strip()}” is not a kit code. Check the 8 letters and numbers "
            "printed under the QR code on the capsule pack",
            value=kit_code,
        )
    now = clock()
    with db.transaction() as session:
        trial, patient = load_trial(session, actor, trial_id)
        calendar = calendar_for(session, trial, patient)
        day = calendar.on(patient_today(patient, taken_at or now))
        periods = {d.kit_code: d.period for d in calendar.days if d.kit_code}
        due = day.kit_code if day is not None else None
        audit_patient(session, actor, "read", "kit_check", trial.id, patient, at=now)
        return KitCheck(
            code=code,
            due=due,
            due_period=day.period if day is not None else None,
            is_due=due is None or code == due,
            period_of_code=periods.get(code),
        )
