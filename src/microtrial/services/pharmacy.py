"""The pharmacy's work: which trials' kits are to prepare or to hand out, and the record of
each kit prepared and dispensed (who, when, how many capsules). No arm is read here.

An adaptive trial's kits are asked for one pair ahead of the pair under way
(``domain.adaptive.kits_needed_through``): the pairs beyond are listed as not yet needed, and
kits returned unused after an early stop are counted as returned, never prepared or handed out.

Kits are prepared only for a trial that is scheduled or later and whose screening is not
do-not-start (the same gate as the kit sheet, ``trial_allocation.kit_preparation``); they are
dispensed only after they were prepared, never more capsules than were put in, and never while
the patient may not dose (``alerts.dosing_hold``: paused, held by an alert that refuses Start
and Resume, ended or withdrawn): handing out is refused then (SafetyBlock), preparing ahead not.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy import and_, case, func, not_, or_, select
from sqlalchemy.orm import Session

from microtrial.domain import lifecycle
from microtrial.domain.access import Action
from microtrial.domain.actors import Actor
from microtrial.domain.kits import normalise_kit_code
from microtrial.domain.paging import ListRequest, PageInfo
from microtrial.domain.screening import DO_NOT_START
from microtrial.domain.trial_plan import TrialPlan
from microtrial.errors import ConflictError, NotFound, SafetyBlock, ValidationError
from microtrial.services.alerts import (
    HOLD_ALERT,
    HOLD_ENDED,
    HOLD_PAUSED,
    dosing_hold,
    dosing_holds,
)
from microtrial.services.common import Clock, audit_list, audit_patient, scoped, system_clock
from microtrial.services.paging import Listing, Paged, fetch_page
from microtrial.services.schemas import ReadModel
from microtrial.services.screening import current_screening
from microtrial.services.trial_loaders import (
    calendar_for,
    kit_in_use,
    kit_record_fields,
    load_trial_for_kits,
    periods_and_kits,
)
from microtrial.services.unit import UnitOfWork
from microtrial.store.db import Database
from microtrial.store.models import KitRow, PatientRow, PeriodRow, ScreeningResultRow, TrialRow

# Trials whose kits the pharmacy still works on: planned to start, or under way.
PHARMACY_STATUSES = tuple(
    sorted(
        s.value
        for s in (
            lifecycle.TrialStatus.SCHEDULED,
            lifecycle.TrialStatus.RUNNING,
            lifecycle.TrialStatus.PAUSED,
        )
    )
)
MAX_CAPSULES = 366


class PharmacyTrial(ReadModel):
    """One trial on the pharmacy's list, with its kit counts (no arm)."""

    trial_id: int
    patient_code: str
    status: str
    start_date: dt.date | None
    kits: int
    prepared: int
    dispensed: int
    # The first day of the earliest kit not yet dispensed, as resumed pauses moved it; None while
    # paused (its days move later by the pause, unknown until the trial resumes).
    next_kit_date: dt.date | None
    # paused: the next kit's day is not known until the trial resumes
    waits_for_resume: bool = False
    screening: str | None
    blocked: bool  # screening missing or do-not-start: prepare nothing
    # Adaptive trials: kits of later pairs not asked for yet, and kits returned unused.
    not_yet_needed: int = 0
    returned: int = 0
    needed_through_pair: int | None = None
    # Kits capsules are recorded from that are not marked dispensed (handed out off the record?).
    in_use_undispensed: int = 0
    # Why no kit may be handed out now (``alerts.dosing_hold``: paused, alert, ended), else None.
    hold: str | None = None


class PharmacyWork(ReadModel):
    """The pharmacy's lists: trials with kits to prepare, and with prepared kits to hand out."""

    to_prepare: list[PharmacyTrial]
    to_dispense: list[PharmacyTrial]
    prepare_page: PageInfo
    dispense_page: PageInfo


class KitRecord(ReadModel):
    """A kit's pharmacy record after a change."""

    code: str
    period: int
    prepared_at: dt.datetime | None
    prepared_by: str | None
    prepared_capsules: int | None
    dispensed_at: dt.datetime | None
    dispensed_by: str | None
    dispensed_capsules: int | None


def _screening(session: Session, trial: TrialRow) -> str | None:
    substance = TrialPlan.from_json(trial.plan).regimen.substance
    found = current_screening(session, trial.patient_id, substance)
    return found.decision if found is not None else None


KIT_LISTING = Listing(
    {"start_date": TrialRow.start_date, "trial": TrialRow.id, "patient": PatientRow.study_code},
    default="start_date",
    tie=TrialRow.id,
)
STAGES = ("prepare", "dispense")


def _kit_counts() -> Any:
    """Per trial: the kits needed now, how many are prepared and dispensed, the next kit's first
    day, the kits not needed yet (later pairs of an adaptive trial) or returned unused, and the
    kits capsules are recorded from that are not marked dispensed."""
    kept = KitRow.returned_at.is_(None)
    due = or_(TrialRow.kits_through_pair.is_(None), PeriodRow.block <= TrialRow.kits_through_pair)
    needed = and_(kept, due)
    waiting = case((and_(needed, KitRow.dispensed_at.is_(None)), PeriodRow.start_date))
    return (
        select(
            KitRow.trial_id.label("trial_id"),
            func.count(case((needed, KitRow.id))).label("kits"),
            func.count(case((and_(needed, KitRow.prepared_at.is_not(None)), KitRow.id))).label(
                "prepared"
            ),
            func.count(case((and_(needed, KitRow.dispensed_at.is_not(None)), KitRow.id))).label(
                "dispensed"
            ),
            func.min(waiting).label("next_kit"),
            func.count(case((and_(kept, not_(due)), KitRow.id))).label("later"),
            func.count(KitRow.returned_at).label("returned"),
            func.count(case((and_(KitRow.dispensed_at.is_(None), kit_in_use()), KitRow.id))).label(
                "in_use"
            ),
        )
        .join(PeriodRow, PeriodRow.id == KitRow.period_id)
        .join(TrialRow, TrialRow.id == KitRow.trial_id)
        .group_by(KitRow.trial_id)
        .subquery()
    )


def _decisions(session: Session, patient_ids: set[int]) -> dict[tuple[int, str], str]:
    """The current screening decision per (patient, substance), for a page's patients at once."""
    rows = session.execute(
        select(
            ScreeningResultRow.patient_id, ScreeningResultRow.substance, ScreeningResultRow.decision
        ).where(
            ScreeningResultRow.patient_id.in_(patient_ids), ScreeningResultRow.is_current.is_(True)
        )
    ).tuples()
    return {(pid, substance): decision for pid, substance, decision in rows}


def _stage_page(
    session: Session, actor: Actor, stage: str, request: ListRequest
) -> Paged[PharmacyTrial]:
    """One page of the site's trials at ``stage``: kits to prepare, or prepared to hand out."""
    counts = _kit_counts()
    query = scoped(
        select(
            TrialRow, PatientRow.study_code, counts.c.kits, counts.c.prepared, counts.c.dispensed
        )
        .add_columns(counts.c.next_kit, counts.c.later, counts.c.returned, counts.c.in_use)
        .join(PatientRow, PatientRow.id == TrialRow.patient_id)
        .join(counts, counts.c.trial_id == TrialRow.id)
        .where(TrialRow.status.in_(PHARMACY_STATUSES)),
        actor,
        Action.PREPARE_KITS,
        PatientRow.site_id,
    )
    if stage == "prepare":
        query = query.where(counts.c.prepared < counts.c.kits)
    else:
        query = query.where(counts.c.prepared == counts.c.kits, counts.c.dispensed < counts.c.kits)
    rows, info = fetch_page(session, query, request, KIT_LISTING, clamp=True)
    decisions = _decisions(session, {row[0].patient_id for row in rows})
    holds = dosing_holds(session, [row[0] for row in rows])
    found = []
    for trial, code, kits, prepared, dispensed, next_kit, later, returned, in_use in rows:
        plan = TrialPlan.from_json(trial.plan)
        decision = decisions.get((trial.patient_id, plan.regimen.substance))
        found.append(
            PharmacyTrial(
                trial_id=trial.id,
                patient_code=code,
                status=trial.status,
                start_date=trial.start_date,
                kits=kits,
                prepared=prepared,
                dispensed=dispensed,
                next_kit_date=None if plan.paused_on or next_kit is None else plan.moved(next_kit),
                waits_for_resume=plan.paused_on is not None and next_kit is not None,
                screening=decision,
                blocked=decision is None or decision == DO_NOT_START,
                not_yet_needed=later,
                returned=returned,
                needed_through_pair=trial.kits_through_pair,
                in_use_undispensed=in_use,
                hold=holds[trial.id],
            )
        )
    return Paged(found, info)


def pharmacy_work(
    db: Database,
    actor: Actor,
    *,
    prepare: ListRequest | None = None,
    dispense: ListRequest | None = None,
    clock: Clock = system_clock,
) -> PharmacyWork:
    """The site's scheduled, running and paused trials whose kits are not all prepared, or not
    all dispensed (drafts, finished trials and everything else are not the pharmacy's work),
    a page of each, earliest start first unless sorted otherwise."""
    with UnitOfWork(db, actor, Action.PREPARE_KITS, clock=clock) as (session, now):
        to_prepare = _stage_page(session, actor, "prepare", prepare or ListRequest())
        to_dispense = _stage_page(session, actor, "dispense", dispense or ListRequest())
        ids = [r.trial_id for r in (*to_prepare.items, *to_dispense.items)]
        audit_list(session, actor, "trial", ids, at=now, site_id=actor.site_id, view="pharmacy")
        return PharmacyWork(
            to_prepare=to_prepare.items,
            to_dispense=to_dispense.items,
            prepare_page=to_prepare.info,
            dispense_page=to_dispense.info,
        )


def _kit(session: Session, trial: TrialRow, kit_code: str) -> tuple[PeriodRow, KitRow]:
    wanted = normalise_kit_code(kit_code)
    for period, kit in periods_and_kits(session, trial, include_returned=True):
        if kit.code == wanted:
            if kit.returned_at is not None:
                raise ConflictError(f"kit: {kit.code} was returned unused ({kit.returned_by})")
            return period, kit
    raise NotFound(f"kit: no kit {kit_code!r} in trial {trial.id}")


def _capsules(capsules: int) -> int:
    if not 1 <= capsules <= MAX_CAPSULES:
        raise ValidationError(
            "capsules", "enter the number of capsules", value=capsules, allowed=f"1-{MAX_CAPSULES}"
        )
    return capsules


def _record(kit: KitRow, period: PeriodRow) -> KitRecord:
    return KitRecord(code=kit.code, period=period.number, **kit_record_fields(kit))


def record_kit_step(
    db: Database,
    actor: Actor,
    trial_id: int,
    step: str,
    kit_code: str,
    capsules: int,
    *,
    clock: Clock = system_clock,
) -> KitRecord:
    """Record a kit ``prepared`` (filled) or ``dispensed`` (handed out) with ``capsules``
    capsules: once per kit and step, audited."""
    if step not in KIT_STEPS:
        raise ValidationError(
            "step", "unknown pharmacy step", value=step, allowed=sorted(KIT_STEPS)
        )
    return _kit_step(db, actor, trial_id, kit_code, capsules, clock, KIT_STEPS[step])


KitStep = Callable[[Session, TrialRow, str, int], tuple[PeriodRow, KitRow, str]]


def _kit_step(
    db: Database,
    actor: Actor,
    trial_id: int,
    kit_code: str,
    capsules: int,
    clock: Clock,
    step: KitStep,
) -> KitRecord:
    """Check and stamp one pharmacy step on a kit (who, when, capsules), audited as its verb."""
    work = UnitOfWork(db, actor, Action.PREPARE_KITS, clock=clock)
    capsules = _capsules(capsules)
    with work as (session, now):
        trial, patient = load_trial_for_kits(session, actor, trial_id)
        period, kit, verb = step(session, trial, kit_code, capsules)
        setattr(kit, f"{verb}_at", now)
        setattr(kit, f"{verb}_by", actor.label)
        setattr(kit, f"{verb}_by_user_id", actor.user_id)
        setattr(kit, f"{verb}_capsules", capsules)
        action = "prepare" if verb == "prepared" else "dispense"
        audit_patient(session, actor, action, "kit", kit.code, patient, at=now, capsules=capsules)
        return _record(kit, period)


def _prepare(
    session: Session, trial: TrialRow, kit_code: str, capsules: int
) -> tuple[PeriodRow, KitRow, str]:
    """A kit may be filled once, for a screened trial that is (being) scheduled, with at least
    one capsule for each dose day of its period (the number its label prints)."""
    if trial.status not in lifecycle.KIT_PREPARATION:
        raise ConflictError(
            f"status: kits are prepared for a scheduled trial, not a {trial.status} one"
        )
    decision = _screening(session, trial)
    if decision is None or decision == DO_NOT_START:
        raise SafetyBlock(f"screening: decision is {decision or 'missing'}; prepare no kits")
    period, kit = _kit(session, trial, kit_code)
    if kit.prepared_at is not None:
        raise ConflictError(f"kit: {kit.code} was already prepared by {kit.prepared_by}")
    patient = session.get_one(PatientRow, trial.patient_id)
    days = calendar_for(session, trial, patient, open_pause=False).days  # a pause cuts no kit
    needed = sum(1 for d in days if d.period == period.number and d.is_dose_day)
    if capsules < needed:
        # A short kit leaves the patient without a capsule on a dose day, while its label says
        # otherwise: refused, not recorded.
        raise ValidationError(
            "capsules",
            f"kit {kit.code} needs {needed} capsules, one for each dose day of period "
            f"{period.number} (its label says {needed})",
            value=capsules,
            allowed=f"{needed}-{MAX_CAPSULES}",
        )
    return period, kit, "prepared"


def _dispense(
    session: Session, trial: TrialRow, kit_code: str, capsules: int
) -> tuple[PeriodRow, KitRow, str]:
    """A prepared kit may be handed out once, with no more capsules than it holds, and only
    while the patient may dose (a kit handed out is capsules the patient will take)."""
    hold = dosing_hold(session, trial)
    if hold is not None:
        raise SafetyBlock(DISPENSE_REFUSALS[hold].format(trial=trial.id, status=trial.status))
    if trial.status not in PHARMACY_STATUSES:
        raise ConflictError(
            f"status: kits are dispensed for a scheduled or running trial, not a {trial.status} one"
        )
    period, kit = _kit(session, trial, kit_code)
    if kit.prepared_at is None or kit.prepared_capsules is None:
        raise ConflictError(f"kit: {kit.code} has not been prepared yet")
    if kit.dispensed_at is not None:
        raise ConflictError(f"kit: {kit.code} was already dispensed by {kit.dispensed_by}")
    if capsules > kit.prepared_capsules:
        raise ValidationError(
            "capsules",
            "more capsules than the kit was filled with",
            value=capsules,
            allowed=f"1-{kit.prepared_capsules}",
        )
    return period, kit, "dispensed"


# Why handing out a kit is refused, by ``dosing_hold``'s reason: no clinical detail (the
# pharmacist is unblinded and sees no outcome), only what to do.
DISPENSE_REFUSALS = {
    HOLD_PAUSED: (
        "dosing: trial {trial} is paused: do not hand out kits until a clinician resumes it "
        "(kits may still be prepared)"
    ),
    HOLD_ALERT: (
        "dosing: dosing in trial {trial} is held by an open safety alert: do not hand out kits "
        "until a clinician has reviewed it (kits may still be prepared)"
    ),
    HOLD_ENDED: "dosing: trial {trial} has ended ({status}) or was withdrawn: hand out no kits",
}
# A pharmacy step by the name it is recorded under (the kit's ``<step>_at`` columns).
KIT_STEPS: dict[str, KitStep] = {"prepared": _prepare, "dispensed": _dispense}
