"""Planning a blinded n-of-1 trial: the regimen, the randomised design and the kit codes."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from microtrial.domain.access import Action
from microtrial.domain.actors import Actor
from microtrial.domain.adaptive import AdaptiveRule, kits_needed_through
from microtrial.domain.calendar import build_calendar
from microtrial.domain.design import ACTIVE, PLACEBO, DesignSpec, new_allocation_seed, plan_design
from microtrial.domain.kits import issue_kits
from microtrial.domain.lifecycle import OPEN, TrialStatus
from microtrial.domain.regimens import parse_weekdays
from microtrial.domain.substances import substance_ids
from microtrial.domain.trial_plan import PlannedRegimen, new_plan
from microtrial.errors import ConflictError, ValidationError
from microtrial.services.common import (
    Clock,
    audit_patient,
    patient_for,
    patient_today,
    system_clock,
)
from microtrial.services.trial_lifecycle import confirm_screening_if_cleared
from microtrial.services.trial_views import TrialRead, read_trial
from microtrial.services.unit import UnitOfWork
from microtrial.store.db import Database
from microtrial.store.models import AllocationRow, KitRow, PeriodRow, TrialRow

RegimenChoice = PlannedRegimen
"""The clinician's regimen: a catalog template plus substance, amount, unit (and weekdays).

``build`` refuses a unit foreign to the substance or an amount outside its sourced microdose range
(catalog ``microdose_ranges``), naming the field and what is allowed.
"""


def plan_trial(
    db: Database,
    actor: Actor,
    patient_id: int,
    regimen: RegimenChoice,
    spec: DesignSpec,
    *,
    start_date: dt.date,
    seed: int | None = None,
    adaptive: AdaptiveRule | None = None,
    clock: Clock = system_clock,
) -> TrialRead:
    """Plan a blinded n-of-1 trial: randomise, conceal the allocation, issue kit codes.

    An ``adaptive`` trial allocates and issues kits for all its ``max_pairs`` pairs now (so the
    allocation stays concealed however many pairs run); ``spec.pairs`` must equal it.
    """
    work = UnitOfWork(db, actor, Action.PLAN_TRIAL, clock=clock)
    if adaptive is not None:
        _check_adaptive(spec, adaptive)
    if regimen.weekdays is not None:
        parse_weekdays(regimen.weekdays)
    substances = substance_ids()
    if regimen.substance not in substances:
        raise ValidationError(
            "substance", f"unknown substance {regimen.substance!r}", allowed=substances
        )
    built = regimen.build()  # unit and amount inside the substance's sourced range
    seed = new_allocation_seed() if seed is None else seed
    design = plan_design(spec, seed)
    with work as (session, now):
        patient = patient_for(session, actor, patient_id)
        if start_date < patient_today(patient, now):
            raise ValidationError(
                "start_date", f"{start_date} is in the past", allowed="today or later"
            )
        build_calendar(design.blinded(), built, start_date, patient.time_zone)  # validates fit
        clash = session.execute(
            select(TrialRow.id).where(
                TrialRow.patient_id == patient.id,
                TrialRow.status.in_(sorted(s.value for s in OPEN)),
            )
        ).first()
        if clash:
            raise ConflictError(f"trial: patient already has an open trial ({clash[0]})")
        trial = TrialRow(
            patient_id=patient.id,
            status=TrialStatus.DRAFT.value,
            start_date=start_date,
            plan=new_plan(regimen, spec, adaptive).to_json(),
            lock_version=1,
            created_at=now,
            kits_through_pair=(
                None if adaptive is None else kits_needed_through(adaptive, 0, None)
            ),
        )
        session.add(trial)
        session.flush()
        session.add(
            AllocationRow(
                trial_id=trial.id,
                seed=seed,
                sequence=list(design.sequence),
                max_run_length=spec.max_run_length,
                created_at=now,
            )
        )
        issued = issue_kits(design)
        for period, kit in zip(design.periods, issued.kits, strict=True):
            row = PeriodRow(
                trial_id=trial.id,
                number=period.number,
                block=period.block,
                start_date=start_date + dt.timedelta(days=period.start_day),
                end_date=start_date + dt.timedelta(days=period.end_day),
                washin_days=period.wash_in_days,
            )
            session.add(row)
            session.flush()
            session.add(KitRow(trial_id=trial.id, period_id=row.id, code=kit.code))
        session.flush()
        audit_patient(
            session,
            actor,
            "create",
            "trial",
            trial.id,
            patient,
            at=now,
            regimen=regimen.template,
            periods=len(design.periods),
            adaptive=adaptive.to_json() if adaptive is not None else None,
        )
        confirm_screening_if_cleared(session, actor, trial, patient, now)
        return read_trial(session, trial, patient)


def _check_adaptive(spec: DesignSpec, rule: AdaptiveRule) -> None:
    """An adaptive design is active/placebo pairs, all ``max_pairs`` of them allocated."""
    if set(spec.arms) != {ACTIVE, PLACEBO}:
        raise ValidationError(
            "arms",
            "an adaptive trial compares active with placebo in pairs",
            value=list(spec.arms),
            allowed=[ACTIVE, PLACEBO],
        )
    if spec.pairs != rule.max_pairs:
        raise ValidationError(
            "pairs",
            f"an adaptive trial allocates its maximum of {rule.max_pairs} pairs at planning",
            value=spec.pairs,
            allowed=str(rule.max_pairs),
        )
