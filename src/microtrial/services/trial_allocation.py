"""The concealed allocation: the kit preparation sheet for unblinded staff, and reasoned notes."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from microtrial.domain import lifecycle
from microtrial.domain.access import Action, allows
from microtrial.domain.actors import Actor
from microtrial.domain.alerts import emergency_numbers
from microtrial.domain.calendar import Phase, TrialCalendar
from microtrial.domain.screening import DO_NOT_START
from microtrial.domain.trial_plan import TrialPlan
from microtrial.errors import ConflictError, PermissionDenied, SafetyBlock
from microtrial.services.alerts import dosing_hold
from microtrial.services.common import Clock, audit_patient, system_clock
from microtrial.services.patient_status import own_crisis_lines
from microtrial.services.screening import current_screening
from microtrial.services.trial_loaders import (
    allocation_of,
    calendar_for,
    kit_record_fields,
    kits_in_use,
    load_trial_for_kits,
    periods_and_kits,
    regimen_of,
)
from microtrial.services.unit import UnitOfWork
from microtrial.store.db import Database
from microtrial.store.models import AllocationAnnotationRow


@dataclass(frozen=True)
class KitSpec:
    """One kit for the preparation sheet (unblinded)."""

    code: str
    period: int
    arm: str
    start_date: dt.date
    end_date: dt.date
    regimen_text: str
    dose_days: tuple[dt.date, ...] = ()  # the calendar's dose days in the period: one capsule each
    prepared_at: dt.datetime | None = None
    prepared_by: str | None = None
    prepared_capsules: int | None = None
    dispensed_at: dt.datetime | None = None
    dispensed_by: str | None = None
    dispensed_capsules: int | None = None
    # Capsules are recorded from it: one not marked dispensed was handed out off the record
    # (or is a wrong kit), and the clinician has an alert about it.
    in_use: bool = False


@dataclass(frozen=True)
class KitPreparation:
    """What unblinded staff need to fill and label a trial's kits."""

    trial_id: int
    patient_code: str
    kits: tuple[KitSpec, ...]
    status: str = ""
    screening: str | None = None  # the screening decision for the trial's substance
    # For the labels: the site's first own crisis line, else every catalog emergency number with
    # its region (a site's country is not recorded: one country's number alone could be wrong).
    emergency_contact: str | None = None
    # Why no kit may be handed out now (``alerts.dosing_hold``: paused, alert, ended), in no
    # clinical detail; None when kits may be handed out.
    hold: str | None = None


def dose_days_by_period(
    calendar: TrialCalendar, *, dose_only: bool = True
) -> dict[int, tuple[dt.date, ...]]:
    """Each period's dose dates (every date with ``dose_only=False``) from the trial calendar
    (pauses already shifted)."""
    out: dict[int, list[dt.date]] = {}
    for day in calendar.days:
        if (
            day.phase is Phase.PERIOD
            and day.period is not None
            and (day.is_dose_day or not dose_only)
        ):
            out.setdefault(day.period, []).append(day.date)
    return {period: tuple(days) for period, days in out.items()}


def kit_preparation(
    db: Database, actor: Actor, trial_id: int, *, clock: Clock = system_clock
) -> KitPreparation:
    """The kit -> arm list for unblinded staff (audited; refused to everyone else), only for a
    trial that is screened and scheduled or later and whose screening does not say do-not-start.
    """
    if not allows(actor, Action.SEE_ALLOCATION):
        raise PermissionDenied("only unblinded staff see the allocation", actor=actor)
    now = clock()
    with db.transaction() as session:
        trial, patient = load_trial_for_kits(session, actor, trial_id)
        substance = TrialPlan.from_json(trial.plan).regimen.substance
        screening = current_screening(session, patient.id, substance)
        decision = screening.decision if screening is not None else None
        if trial.status not in lifecycle.KIT_PREPARATION:
            raise ConflictError(
                f"status: kits are prepared for a scheduled trial, not a {trial.status} one"
            )
        if decision is None or decision == DO_NOT_START:
            raise SafetyBlock(f"screening: decision is {decision or 'missing'}; prepare no kits")
        allocation = allocation_of(session, trial)
        regimen = regimen_of(trial, validated=True).describe()  # print only a sourced dose
        # A kit holds every dose day of its period, on the days resumed pauses moved them to: a
        # pause not yet resumed cuts no kit short (its days move later once it resumes).
        calendar = calendar_for(session, trial, patient, open_pause=False)
        dose_days = dose_days_by_period(calendar)
        spans = dose_days_by_period(calendar, dose_only=False)
        in_use = kits_in_use(session, trial.id)
        kits = tuple(
            KitSpec(
                code=kit.code,
                period=period.number,
                arm=allocation[period.number - 1],
                start_date=spans.get(period.number, (period.start_date,))[0],
                end_date=spans.get(period.number, (period.end_date,))[-1],
                regimen_text=regimen,
                dose_days=dose_days.get(period.number, ()),
                in_use=kit.code in in_use,
                **kit_record_fields(kit),
            )
            for period, kit in periods_and_kits(session, trial)
        )
        own = own_crisis_lines(session, patient.site_id)
        audit_patient(session, actor, "read", "allocation", trial.id, patient, at=now)
        return KitPreparation(
            trial_id=trial.id,
            patient_code=patient.study_code,
            kits=kits,
            status=trial.status,
            screening=decision,
            emergency_contact=" ".join(own[0]) if own else emergency_numbers(),
            hold=dosing_hold(session, trial),
        )


def annotate_allocation(
    db: Database, actor: Actor, trial_id: int, note: str, *, clock: Clock = system_clock
) -> int:
    """Add a reasoned note to a trial's allocation (the allocation itself never changes)."""
    work = UnitOfWork(db, actor, Action.ANNOTATE_ALLOCATION, clock=clock)
    with work.needs_text("note", note, "an annotation needs text") as (session, now):
        trial, patient = load_trial_for_kits(session, actor, trial_id)
        row = AllocationAnnotationRow(
            trial_id=trial.id, note=note.strip(), created_at=now, created_by=actor.label
        )
        session.add(row)
        session.flush()
        audit_patient(
            session, actor, "annotate", "allocation", trial.id, patient, at=now, annotation=row.id
        )
        return row.id
