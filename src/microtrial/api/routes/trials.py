"""Trials: planning, lifecycle, calendar, doses, guesses, kits (unblinded staff), unblinding."""

from __future__ import annotations

import dataclasses

from fastapi import APIRouter, Response

from microtrial.api.creates import create_once
from microtrial.api.deps import ActorDep, AppContext, ContextDep
from microtrial.api.paging import (
    CursorQuery,
    IdempotencyKeyHeader,
    IfMatchHeader,
    LimitQuery,
    Page,
    etag_for,
    expected_version,
    paginate,
)
from microtrial.api.schemas import (
    AdherenceRead,
    CalendarDayRead,
    DoseCreate,
    GuessCreate,
    TrialCreate,
    TrialTransition,
    Unblind,
)
from microtrial.domain.actors import Actor
from microtrial.domain.design import DesignSpec
from microtrial.errors import NotFound
from microtrial.services import (
    dosing,
    trial_allocation,
    trial_lifecycle,
    trial_planning,
    trial_views,
)
from microtrial.services.dosing import DoseRead, GuessRead
from microtrial.services.trial_allocation import KitSpec
from microtrial.services.trial_planning import RegimenChoice
from microtrial.services.trial_views import TrialRead

router = APIRouter(tags=["trials"])


@dataclasses.dataclass(frozen=True)
class KitSheet:
    """The kit -> arm list for unblinded staff."""

    trial_id: int
    patient_code: str
    kits: list[KitSpec]


@router.get("/patients/{patient_id}/trials")
def list_trials(
    context: ContextDep,
    actor: ActorDep,
    patient_id: int,
    cursor: CursorQuery = None,
    limit: LimitQuery = 50,
) -> Page[TrialRead]:
    """A patient's trials (arms only once unblinded)."""
    rows = trial_views.list_trials(context.db, actor, patient_id=patient_id, clock=context.clock)
    return paginate(rows, lambda t: (t.id,), cursor, limit)


@router.post("/patients/{patient_id}/trials", status_code=201)
def plan_trial(
    context: ContextDep,
    actor: ActorDep,
    patient_id: int,
    body: TrialCreate,
    response: Response,
    idempotency_key: IdempotencyKeyHeader = None,
) -> TrialRead:
    """Plan a blinded trial: randomised pairs, concealed allocation, kit codes (clinicians)."""
    regimen = RegimenChoice(
        template=body.regimen.template,
        substance=body.regimen.substance,
        amount=body.regimen.amount,
        unit=body.regimen.unit,
        weekdays=tuple(body.regimen.weekdays) if body.regimen.weekdays else None,
    )
    spec = DesignSpec(**body.design.model_dump())
    created = create_once(
        context,
        response,
        key=idempotency_key,
        scope=f"trial:patient:{patient_id}:user:{actor.user_id}",
        resource="trial",
        payload=body.model_dump(mode="json"),
        create=lambda: trial_planning.plan_trial(
            context.db,
            actor,
            patient_id,
            regimen,
            spec,
            start_date=body.start_date,
            clock=context.clock,
        ),
        fetch=lambda rid: trial_views.get_trial(context.db, actor, int(rid), clock=context.clock),
        ident=lambda t: str(t.id),
    )
    response.headers["ETag"] = etag_for(created.lock_version)
    return created


@router.get("/trials/{trial_id}")
def read_trial(
    context: ContextDep, actor: ActorDep, trial_id: int, response: Response
) -> TrialRead:
    """One trial, with its ETag (the trial's lock version)."""
    trial = trial_views.get_trial(context.db, actor, trial_id, clock=context.clock)
    response.headers["ETag"] = etag_for(trial.lock_version)
    return trial


@router.post("/trials/{trial_id}/transitions")
def transition(
    context: ContextDep,
    actor: ActorDep,
    trial_id: int,
    body: TrialTransition,
    response: Response,
    if_match: IfMatchHeader = None,
) -> TrialRead:
    """Move the trial on (If-Match required): confirm-screening, schedule, start, pause, ..."""
    version = expected_version(if_match)
    trial = trial_lifecycle.transition(
        context.db,
        actor,
        trial_id,
        body.action,
        reason=body.reason,
        expected_version=version,
        clock=context.clock,
    )
    response.headers["ETag"] = etag_for(trial.lock_version)
    return trial


@router.post("/trials/{trial_id}/unblind")
def unblind(
    context: ContextDep, actor: ActorDep, trial_id: int, body: Unblind, response: Response
) -> TrialRead:
    """Break the blind: after completion, or early for safety with a reason (audited)."""
    trial = trial_lifecycle.unblind_trial(
        context.db, actor, trial_id, body.reason, clock=context.clock
    )
    response.headers["ETag"] = etag_for(trial.lock_version)
    return trial


@router.get("/trials/{trial_id}/calendar")
def calendar(context: ContextDep, actor: ActorDep, trial_id: int) -> list[CalendarDayRead]:
    """The day-by-day plan: dose days and kit codes (never the arm)."""
    plan = trial_views.trial_calendar(context.db, actor, trial_id, clock=context.clock)
    return [
        CalendarDayRead(
            date=day.date,
            phase=day.phase.value,
            period=day.period,
            period_day=day.period_day,
            is_wash_in=day.is_wash_in,
            is_dose_day=day.is_dose_day,
            kit_code=day.kit_code,
        )
        for day in plan.days
    ]


@router.get("/trials/{trial_id}/adherence")
def adherence(context: ContextDep, actor: ActorDep, trial_id: int) -> AdherenceRead:
    """Planned and taken doses so far, and deviations from the calendar."""
    return AdherenceRead(**dosing.adherence(context.db, actor, trial_id, clock=context.clock))


@router.get("/trials/{trial_id}/doses")
def list_doses(
    context: ContextDep,
    actor: ActorDep,
    trial_id: int,
    cursor: CursorQuery = None,
    limit: LimitQuery = 50,
) -> Page[DoseRead]:
    """Recorded doses."""
    rows = dosing.list_doses(context.db, actor, trial_id, clock=context.clock)
    return paginate(rows, lambda d: (d.local_date.isoformat(), d.record_id), cursor, limit)


@router.post("/trials/{trial_id}/doses", status_code=201)
def record_dose(
    context: ContextDep,
    actor: ActorDep,
    trial_id: int,
    body: DoseCreate,
    response: Response,
    idempotency_key: IdempotencyKeyHeader = None,
) -> DoseRead:
    """A dose check-in with the kit code (refused while dosing is held: 423)."""
    return create_once(
        context,
        response,
        key=idempotency_key,
        scope=f"dose:trial:{trial_id}:user:{actor.user_id}",
        resource="dose",
        payload=body.model_dump(mode="json"),
        create=lambda: dosing.record_dose(
            context.db,
            actor,
            trial_id,
            taken_at=body.taken_at,
            kit_code=body.kit_code,
            clock=context.clock,
        ),
        fetch=lambda rid: dosing.get_dose(context.db, actor, trial_id, rid, clock=context.clock),
        ident=lambda d: d.record_id,
    )


@router.get("/trials/{trial_id}/guesses")
def list_guesses(
    context: ContextDep,
    actor: ActorDep,
    trial_id: int,
    cursor: CursorQuery = None,
    limit: LimitQuery = 50,
) -> Page[dosing.GuessView]:
    """The patient's period guesses."""
    rows = dosing.list_guesses(context.db, actor, trial_id, clock=context.clock)
    return paginate(rows, lambda g: (g.period,), cursor, limit)


@router.post("/trials/{trial_id}/guesses", status_code=201)
def record_guess(
    context: ContextDep,
    actor: ActorDep,
    trial_id: int,
    body: GuessCreate,
    response: Response,
    idempotency_key: IdempotencyKeyHeader = None,
) -> GuessRead:
    """The patient's guess of a period's arm, in its last days (once per period)."""
    return create_once(
        context,
        response,
        key=idempotency_key,
        scope=f"guess:trial:{trial_id}:user:{actor.user_id}",
        resource="guess",
        payload=body.model_dump(mode="json"),
        create=lambda: dosing.record_guess(
            context.db,
            actor,
            trial_id,
            body.period,
            body.guess,
            body.confidence,
            clock=context.clock,
        ),
        fetch=lambda rid: _guess(context, actor, trial_id, rid),
        ident=lambda g: g.record_id,
    )


def _guess(context: AppContext, actor: Actor, trial_id: int, record_id: str) -> GuessRead:
    for guess in dosing.list_guesses(context.db, actor, trial_id, clock=context.clock):
        if guess.record_id == record_id:
            return guess
    raise NotFound(f"guess: no guess {record_id}")


@router.get("/trials/{trial_id}/kits")
def kit_sheet(context: ContextDep, actor: ActorDep, trial_id: int) -> KitSheet:
    """The kit -> arm list (unblinded staff only; audited)."""
    prep = trial_allocation.kit_preparation(context.db, actor, trial_id, clock=context.clock)
    return KitSheet(trial_id=prep.trial_id, patient_code=prep.patient_code, kits=list(prep.kits))
