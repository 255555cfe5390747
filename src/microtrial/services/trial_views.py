"""Trials as patients, clinicians and researchers see them (blinded until unblinded)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from microtrial.domain.access import Action, Scope, authorize, scope_of
from microtrial.domain.actors import Actor
from microtrial.domain.calendar import TrialCalendar
from microtrial.domain.lifecycle import TrialStatus
from microtrial.domain.paging import ListRequest, check_choice
from microtrial.domain.trial_plan import TrialPlan
from microtrial.errors import NotFound
from microtrial.services.adaptive import AdaptiveRead, adaptive_view
from microtrial.services.common import Clock, audit_list, patient_for, scoped, system_clock
from microtrial.services.paging import Listing, Paged, fetch_page
from microtrial.services.schemas import ReadModel
from microtrial.services.trial_loaders import (
    allocation_of,
    calendar_for,
    periods_and_kits,
    read_audited,
    regimen_of,
)
from microtrial.services.unit import patient_transaction
from microtrial.store.db import Database
from microtrial.store.models import KitRow, PatientRow, PeriodRow, TrialRow


class PeriodRead(ReadModel):
    """A period as shown to everyone: dates and kit code; the arm only once unblinded."""

    number: int
    block: int
    start_date: dt.date
    end_date: dt.date
    wash_in_days: int
    kit_code: str
    arm: str | None = None


class TrialRead(ReadModel):
    """A trial as shown to patients, clinicians and researchers (blinded until unblinded)."""

    id: int
    patient_id: int
    patient_code: str
    status: str
    status_reason: str | None
    substance: str
    regimen: str
    regimen_name: str
    sub_perceptual: bool
    start_date: dt.date
    run_in_days: int
    period_days: int
    wash_in_days: int
    periods: list[PeriodRead]
    pauses: list[dict[str, str]]
    unblinded: bool
    unblinded_at: dt.datetime | None
    unblinded_early: bool
    unblind_reason: str | None
    lock_version: int
    # An adaptive trial's rule and the blinded state of its looks (no interim estimate).
    adaptive: AdaptiveRead | None = None


def get_trial(
    db: Database, actor: Actor, trial_id: int, *, clock: Clock = system_clock
) -> TrialRead:
    """One trial (blinded unless unblinded)."""
    return read_audited(db, actor, trial_id, "trial", read_trial, clock=clock)


def list_trials(
    db: Database, actor: Actor, *, patient_id: int | None = None, clock: Clock = system_clock
) -> list[TrialRead]:
    """Trials of the actor's site, or of one patient."""
    with db.transaction() as session:
        query = select(TrialRow).order_by(TrialRow.id)
        site_id = actor.site_id
        if patient_id is not None or scope_of(actor, Action.LIST_TRIALS) is Scope.SELF:
            patient = patient_for(session, actor, patient_id or actor.patient_id or 0)
            query = query.where(TrialRow.patient_id == patient.id)
            site_id = patient.site_id
        else:
            authorize(actor, Action.LIST_TRIALS)
            query = scoped(query.join(PatientRow), actor, Action.LIST_TRIALS, PatientRow.site_id)
        trials = list(session.execute(query).scalars())
        result = [read_trial(session, t, _patient(session, t)) for t in trials]
        ids = [t.id for t in trials]
        audit_list(session, actor, "trial", ids, at=clock(), site_id=site_id, patient_id=patient_id)
        return result


TRIAL_LISTING = Listing(
    {"id": TrialRow.id, "start_date": TrialRow.start_date, "status": TrialRow.status},
    default="id",
    tie=TrialRow.id,
)
STATUSES = tuple(s.value for s in TrialStatus)


def trial_page(
    db: Database,
    actor: Actor,
    patient_id: int,
    request: ListRequest,
    *,
    status: str = "",
    clock: Clock = system_clock,
) -> Paged[TrialRead]:
    """One page of a patient's trials (arms only once unblinded), filtered by status.

    Each trial on the page reads its periods and kits: a few statements per trial shown,
    however many trials the patient has.
    """
    check_choice("status", status, STATUSES)
    with patient_transaction(db, actor, patient_id) as (session, patient):
        query = select(TrialRow).where(TrialRow.patient_id == patient.id)
        if status:
            query = query.where(TrialRow.status == status)
        rows, info = fetch_page(session, query, request, TRIAL_LISTING)
        found = [read_trial(session, trial, patient) for (trial,) in rows]
        ids = [t.id for t in found]
        audit_list(
            session, actor, "trial", ids, at=clock(), site_id=patient.site_id, patient_id=patient.id
        )
        return Paged(found, info)


def trial_calendar(
    db: Database, actor: Actor, trial_id: int, *, clock: Clock = system_clock
) -> TrialCalendar:
    """The day-by-day plan (dose days and kit codes, no arm), shifted by any pauses."""
    return read_audited(db, actor, trial_id, "calendar", calendar_for, clock=clock)


def _patient(session: Session, trial: TrialRow) -> PatientRow:
    patient = session.get(PatientRow, trial.patient_id)
    if patient is None:  # foreign key guarantees it
        raise NotFound(f"trial: no trial {trial.id}")
    return patient


def period_views(session: Session, trial: TrialRow) -> list[PeriodRead]:
    """The trial's periods with kit codes; the arm only once the trial is unblinded.

    The one place that decides whether an arm may be shown: every view and export uses it.
    """
    arms = allocation_of(session, trial) if trial.status == TrialStatus.UNBLINDED else None
    return period_reads(periods_and_kits(session, trial), arms)


def period_reads(pairs: list[tuple[PeriodRow, KitRow]], arms: list[str] | None) -> list[PeriodRead]:
    """Period views from periods and kits already read, with the arms only if given."""
    return [
        PeriodRead(
            number=p.number,
            block=p.block,
            start_date=p.start_date,
            end_date=p.end_date,
            wash_in_days=p.washin_days,
            kit_code=k.code,
            arm=arms[p.number - 1] if arms else None,
        )
        for p, k in pairs
    ]


def read_trial(session: Session, trial: TrialRow, patient: PatientRow) -> TrialRead:
    """The trial view (arms only once unblinded)."""
    return trial_read(trial, patient, period_views(session, trial), adaptive_view(session, trial))


def trial_read(
    trial: TrialRow,
    patient: PatientRow,
    periods: list[PeriodRead],
    adaptive: AdaptiveRead | None,
) -> TrialRead:
    """The trial view from its parts already read (``read_trial`` reads them)."""
    unblinded = trial.status == TrialStatus.UNBLINDED
    regimen = regimen_of(trial)
    plan = TrialPlan.from_json(trial.plan)
    assert trial.start_date is not None
    return TrialRead(
        id=trial.id,
        patient_id=patient.id,
        patient_code=patient.study_code,
        status=trial.status,
        status_reason=trial.status_reason,
        substance=regimen.substance,
        regimen=regimen.describe(),
        regimen_name=regimen.name,
        sub_perceptual=regimen.sub_perceptual,
        start_date=trial.start_date,
        run_in_days=plan.design.run_in_days,
        period_days=plan.design.period_days,
        wash_in_days=plan.design.wash_in_days,
        periods=periods,
        pauses=plan.pauses_json(),
        unblinded=unblinded,
        unblinded_at=trial.unblinded_at,
        unblinded_early=trial.unblinded_early,
        unblind_reason=trial.unblind_reason,
        lock_version=trial.lock_version,
        adaptive=adaptive,
    )
