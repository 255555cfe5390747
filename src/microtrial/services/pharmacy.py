"""The pharmacy's work: which trials' kits are to prepare or to hand out, and the record of
each kit prepared and dispensed (who, when, how many capsules). No arm is read here.

An adaptive trial's kits are asked for one pair ahead of the pair under way
(``domain.adaptive.kits_needed_through``): the pairs beyond are listed as not yet needed, and
kits returned unused after an early stop are counted as returned, never prepared or handed out.

Kits are prepared only for a trial that is scheduled or later and whose screening is not
do-not-start (the same gate as the kit sheet, ``trial_allocation.kit_preparation``); they are
dispensed only after they were prepared, and never more capsules than were put in.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from microtrial.domain import lifecycle
from microtrial.domain.access import Action, authorize
from microtrial.domain.actors import Actor
from microtrial.domain.kits import normalise_kit_code
from microtrial.domain.screening import DO_NOT_START
from microtrial.domain.trial_plan import TrialPlan
from microtrial.errors import ConflictError, NotFound, SafetyBlock, ValidationError
from microtrial.services.adaptive import kits_needed, rule_of
from microtrial.services.common import Clock, audit_list, audit_patient, scoped, system_clock
from microtrial.services.schemas import ReadModel
from microtrial.services.screening import current_screening
from microtrial.services.trial_loaders import kit_record_fields, load_trial, periods_and_kits
from microtrial.store.db import Database
from microtrial.store.models import KitRow, PatientRow, PeriodRow, TrialRow

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
    next_kit_date: dt.date | None  # the first day of the earliest kit not yet dispensed
    screening: str | None
    blocked: bool  # screening missing or do-not-start: prepare nothing
    # Adaptive trials: kits of later pairs not asked for yet, and kits returned unused.
    not_yet_needed: int = 0
    returned: int = 0
    needed_through_pair: int | None = None


class PharmacyWork(ReadModel):
    """The pharmacy's lists: trials with kits to prepare, and with prepared kits to hand out."""

    to_prepare: list[PharmacyTrial]
    to_dispense: list[PharmacyTrial]


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


def pharmacy_work(db: Database, actor: Actor, *, clock: Clock = system_clock) -> PharmacyWork:
    """The site's scheduled, running and paused trials whose kits are not all prepared, or not
    all dispensed (drafts, finished trials and everything else are not the pharmacy's work)."""
    authorize(actor, Action.PREPARE_KITS)
    now = clock()
    with db.transaction() as session:
        query = scoped(
            select(TrialRow, PatientRow.study_code)
            .join(PatientRow, PatientRow.id == TrialRow.patient_id)
            .where(TrialRow.status.in_(PHARMACY_STATUSES))
            .order_by(TrialRow.start_date, TrialRow.id),
            actor,
            Action.PREPARE_KITS,
            PatientRow.site_id,
        )
        trials = list(session.execute(query).tuples())
        kits: dict[int, list[tuple[PeriodRow, KitRow]]] = defaultdict(list)
        for period, kit in session.execute(
            select(PeriodRow, KitRow)
            .join(KitRow, KitRow.period_id == PeriodRow.id)
            .where(PeriodRow.trial_id.in_([t.id for t, _ in trials]))
            .order_by(PeriodRow.number)
        ).tuples():
            kits[period.trial_id].append((period, kit))
        work = PharmacyWork(to_prepare=[], to_dispense=[])
        for trial, code in trials:
            every = kits[trial.id]
            own = [(p, k) for p, k in every if k.returned_at is None]
            through = _needed_through(session, trial)
            later = [(p, k) for p, k in own if through is not None and p.block > through]
            own = [(p, k) for p, k in own if through is None or p.block <= through]
            waiting = [p.start_date for p, k in own if k.dispensed_at is None]
            decision = _screening(session, trial)
            row = PharmacyTrial(
                trial_id=trial.id,
                patient_code=code,
                status=trial.status,
                start_date=trial.start_date,
                kits=len(own),
                prepared=sum(1 for _, k in own if k.prepared_at is not None),
                dispensed=sum(1 for _, k in own if k.dispensed_at is not None),
                next_kit_date=min(waiting) if waiting else None,
                screening=decision,
                blocked=decision is None or decision == DO_NOT_START,
                not_yet_needed=len(later),
                returned=len(every) - len(own) - len(later),
                needed_through_pair=through,
            )
            if row.prepared < row.kits:
                work.to_prepare.append(row)
            elif row.dispensed < row.kits:
                work.to_dispense.append(row)
        ids = [r.trial_id for r in (*work.to_prepare, *work.to_dispense)]
        audit_list(session, actor, "trial", ids, at=now, site_id=actor.site_id, view="pharmacy")
        return work


def _needed_through(session: Session, trial: TrialRow) -> int | None:
    """An adaptive trial's last pair whose kits are needed now (None: a fixed design, all)."""
    rule = rule_of(trial)
    return None if rule is None else kits_needed(session, trial, rule)


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


def record_prepared(
    db: Database,
    actor: Actor,
    trial_id: int,
    kit_code: str,
    capsules: int,
    *,
    clock: Clock = system_clock,
) -> KitRecord:
    """Record that a kit was filled with ``capsules`` capsules (once; audited)."""
    return _kit_step(db, actor, trial_id, kit_code, capsules, clock, _prepare)


def record_dispensed(
    db: Database,
    actor: Actor,
    trial_id: int,
    kit_code: str,
    capsules: int,
    *,
    clock: Clock = system_clock,
) -> KitRecord:
    """Record that a prepared kit was handed out with ``capsules`` capsules (once; audited)."""
    return _kit_step(db, actor, trial_id, kit_code, capsules, clock, _dispense)


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
    authorize(actor, Action.PREPARE_KITS)
    capsules = _capsules(capsules)
    now = clock()
    with db.transaction() as session:
        trial, patient = load_trial(session, actor, trial_id)
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
    """A kit may be filled once, for a screened trial that is (being) scheduled."""
    del capsules  # any count from 1 up may be filled
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
    return period, kit, "prepared"


def _dispense(
    session: Session, trial: TrialRow, kit_code: str, capsules: int
) -> tuple[PeriodRow, KitRow, str]:
    """A prepared kit may be handed out once, with no more capsules than it holds."""
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
