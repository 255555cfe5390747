"""Loading a trial the actor may see, and what every trial service reads from its stored plan.

The allocation (seed and arm sequence) lives in ``allocations``; ``allocation_of`` reads it, and
its callers decide who may see it. The calendar and periods carry no arm.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from microtrial.domain.access import Action, authorize
from microtrial.domain.actors import Actor
from microtrial.domain.calendar import (
    DayFields,
    TrialCalendar,
    build_calendar,
    day_fields,
    pause_open,
    plan_days,
    shift_for_pause,
)
from microtrial.domain.design import DesignView, PlannedPeriod
from microtrial.domain.lifecycle import TrialStatus
from microtrial.domain.regimens import Regimen
from microtrial.domain.trial_plan import TrialPlan
from microtrial.errors import ConflictError, NotFound
from microtrial.services.common import Clock, audit_patient, patient_for, row_by_id
from microtrial.store.db import Database
from microtrial.store.models import (
    AllocationRow,
    DoseEventRow,
    KitRow,
    PatientRow,
    PeriodRow,
    TrialRow,
)

T = TypeVar("T")


def patient_zone(patient: PatientRow) -> ZoneInfo:
    """The patient's ZoneInfo."""
    return ZoneInfo(patient.time_zone)


def load_trial(session: Session, actor: Actor, trial_id: int) -> tuple[TrialRow, PatientRow]:
    """A trial and its patient if the actor may see them (NotFound otherwise)."""
    authorize(actor, Action.READ_TRIAL)
    return _trial_and_patient(session, actor, trial_id, Action.READ_PATIENT)


def load_trial_for_kits(
    session: Session, actor: Actor, trial_id: int
) -> tuple[TrialRow, PatientRow]:
    """``load_trial`` for the pharmacy's work (READ_PATIENT_FOR_KITS): unblinded staff reach
    the trial and its patient's study code, never the outcomes READ_TRIAL would open."""
    return _trial_and_patient(session, actor, trial_id, Action.READ_PATIENT_FOR_KITS)


def _trial_and_patient(
    session: Session, actor: Actor, trial_id: int, action: Action
) -> tuple[TrialRow, PatientRow]:
    authorize(actor, action)
    trial = row_by_id(session, TrialRow, trial_id)
    if trial is None:
        raise NotFound(f"trial: no trial {trial_id}")
    missing = f"trial: no trial {trial_id}"
    patient = patient_for(session, actor, trial.patient_id, missing=missing, action=action)
    return trial, patient


def load_unblinded_trial(
    session: Session, actor: Actor, trial_id: int, shown: str
) -> tuple[TrialRow, PatientRow]:
    """``load_trial`` for what only an unblinded trial shows (ConflictError while blinded).

    The refusal ends "<shown> after unblinding" (e.g. shown="results are available").
    """
    trial, patient = load_trial(session, actor, trial_id)
    if trial.status != TrialStatus.UNBLINDED:
        raise ConflictError(
            f"status: trial {trial_id} is still blinded ({trial.status}); {shown} after unblinding"
        )
    return trial, patient


def allocation_of(session: Session, trial: TrialRow) -> list[str]:
    """The concealed arm sequence (callers must have checked who may see it)."""
    row = session.execute(
        select(AllocationRow).where(AllocationRow.trial_id == trial.id)
    ).scalar_one()
    return [str(a) for a in row.sequence]


def periods_and_kits(
    session: Session, trial: TrialRow, *, include_returned: bool = False
) -> list[tuple[PeriodRow, KitRow]]:
    """The trial's periods, each with its kit, in period order.

    A period whose kit was returned unused (an adaptive trial stopped before it) is not part of
    the trial any more: it is left out of the calendar and every view unless ``include_returned``.
    """
    query = (
        select(PeriodRow, KitRow)
        .join(KitRow, KitRow.period_id == PeriodRow.id)
        .where(PeriodRow.trial_id == trial.id)
        .order_by(PeriodRow.number)
    )
    if not include_returned:
        query = query.where(KitRow.returned_at.is_(None))
    return [(p, k) for p, k in session.execute(query).tuples()]


def regimen_of(trial: TrialRow, *, validated: bool = False) -> Regimen:
    """The trial's regimen, rebuilt from its stored plan.

    A plan stored before the sourced microdose ranges existed may lie outside them: it still
    reads (not sub-perceptual), but ``validated=True`` (what kit sheets ask for) refuses it.
    """
    return TrialPlan.from_json(trial.plan).regimen.build(enforce_range=validated)


def _view(
    trial: TrialRow, pairs: list[tuple[PeriodRow, KitRow]], plan: TrialPlan | None = None
) -> DesignView:
    design = (plan or TrialPlan.from_json(trial.plan)).design
    start = trial.start_date
    assert start is not None  # set when planned
    periods = tuple(
        PlannedPeriod(
            number=p.number,
            block=p.block,
            start_day=(p.start_date - start).days,
            end_day=(p.end_date - start).days,
            wash_in_days=p.washin_days,
        )
        for p, _ in pairs
    )
    return DesignView(
        run_in_days=design.run_in_days,
        period_days=design.period_days,
        wash_in_days=design.wash_in_days,
        periods=periods,
    )


def calendar_for(
    session: Session, trial: TrialRow, patient: PatientRow, *, open_pause: bool = True
) -> TrialCalendar:
    """The trial's calendar inside an open transaction (no audit: callers audit); see
    ``calendar_of`` for ``open_pause``."""
    return calendar_of(trial, patient, periods_and_kits(session, trial), open_pause=open_pause)


def calendar_of(
    trial: TrialRow,
    patient: PatientRow,
    pairs: list[tuple[PeriodRow, KitRow]],
    *,
    open_pause: bool = True,
) -> TrialCalendar:
    """The trial's calendar from its periods and kits already read (``periods_and_kits``).

    ``open_pause=False`` draws a pause not yet resumed as if it had not begun: what a kit holds
    (every dose day of its period), since a pause moves a kit's days later and cuts none.
    """
    plan = TrialPlan.from_json(trial.plan)  # (parsed once: the regimen and the design too)
    regimen = plan.regimen.build(enforce_range=False)  # as regimen_of reads it
    codes = {p.number: k.code for p, k in pairs}
    assert trial.start_date is not None
    view = _view(trial, pairs, plan)
    calendar = build_calendar(view, regimen, trial.start_date, patient.time_zone, codes)
    for paused, resumed in plan.pauses:
        calendar = shift_for_pause(calendar, paused, resumed, regimen=regimen)
    if plan.paused_on is not None and open_pause:
        calendar = pause_open(calendar, plan.paused_on)
    return calendar


def calendar_days_of(
    trial: TrialRow, patient: PatientRow, pairs: list[tuple[PeriodRow, KitRow]]
) -> list[DayFields]:
    """``calendar_of``'s days as tuples of their fields, without building the days when no
    pause moved them (what the refresh of thousands of trials reads)."""
    plan = TrialPlan.from_json(trial.plan)
    if plan.pauses or plan.paused_on is not None:
        return [day_fields(d) for d in calendar_of(trial, patient, pairs).days]
    assert trial.start_date is not None
    return plan_days(
        _view(trial, pairs, plan),
        plan.regimen.build(enforce_range=False),
        trial.start_date,
        patient.time_zone,
        {p.number: k.code for p, k in pairs},
    )


def read_audited(
    db: Database,
    actor: Actor,
    trial_id: int,
    entity: str,
    view: Callable[[Session, TrialRow, PatientRow], T],
    *,
    clock: Clock,
) -> T:
    """``view`` of a trial the actor may see, audited as a read of ``entity``."""
    with db.transaction() as session:
        trial, patient = load_trial(session, actor, trial_id)
        audit_patient(session, actor, "read", entity, trial.id, patient, at=clock())
        return view(session, trial, patient)


# A kit's pharmacy record (migration 0011): who filled and handed it out, when, how many capsules.
KIT_RECORD_FIELDS = (
    "prepared_at",
    "prepared_by",
    "prepared_capsules",
    "dispensed_at",
    "dispensed_by",
    "dispensed_capsules",
)


def kit_in_use() -> ColumnElement[bool]:
    """SQL: the kit of the row has a current dose recorded from it (correlated on ``KitRow``)."""
    return (
        select(DoseEventRow.id)
        .where(
            DoseEventRow.trial_id == KitRow.trial_id,
            DoseEventRow.kit_code == KitRow.code,
            DoseEventRow.is_current.is_(True),
        )
        .exists()
    )


def kits_in_use(session: Session, trial_id: int) -> set[str]:
    """Codes of the trial's kits that a current dose was recorded from."""
    return set(
        session.execute(
            select(KitRow.code).where(KitRow.trial_id == trial_id, kit_in_use())
        ).scalars()
    )


def kit_record_fields(kit: KitRow) -> dict[str, Any]:
    """A kit's prepared and dispensed record as read-model fields (no arm)."""
    return {name: getattr(kit, name) for name in KIT_RECORD_FIELDS}
