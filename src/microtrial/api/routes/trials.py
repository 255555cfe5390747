"""Trials: planning, lifecycle, calendar, doses, guesses, kits (unblinded staff), unblinding."""

from __future__ import annotations

import dataclasses
from typing import Annotated

from fastapi import APIRouter, Query, Response

from microtrial.api.actions import takes
from microtrial.api.once import OnceDep
from microtrial.api.paging import (
    Page,
    PageQuery,
    PatientPagesQuery,
    PreconditionDep,
    current_record,
    tagged,
)
from microtrial.api.schemas import (
    AdaptiveBody,
    AdherenceRead,
    CalendarDayRead,
    DoseCreate,
    GuessCreate,
    KitRecordCreate,
    TrialCreate,
    TrialTransition,
    Unblind,
)
from microtrial.domain.access import Action
from microtrial.domain.actors import Actor
from microtrial.domain.adaptive import AdaptiveRule, preset_with
from microtrial.domain.design import DesignSpec
from microtrial.http.deps import ActorDep, AppContext, ContextDep
from microtrial.services import (
    dosing,
    pharmacy,
    trial_allocation,
    trial_lifecycle,
    trial_planning,
    trial_views,
)
from microtrial.services.dosing import DoseRead, GuessRead
from microtrial.services.pharmacy import KitRecord
from microtrial.services.trial_allocation import KitSpec
from microtrial.services.trial_planning import RegimenChoice
from microtrial.services.trial_views import TrialRead

router = APIRouter(tags=["trials"])


@dataclasses.dataclass(frozen=True)
class KitSheet:
    """The kit -> arm list for unblinded staff, with the trial's status and screening decision."""

    trial_id: int
    patient_code: str
    kits: list[KitSpec]
    status: str
    screening: str | None
    # Why no kit may be handed out now: "paused", "alert" (an open safety alert holds dosing)
    # or "ended" (ended or withdrawn); null when kits may be handed out.
    hold: str | None = None


Status = Annotated[str, Query(max_length=12, description="Only trials in this status.")]


@router.get("/patients/{patient_id}/trials", openapi_extra=takes(Action.LIST_TRIALS))
def list_trials(pages: PatientPagesQuery, status: Status = "") -> Page[TrialRead]:
    """A patient's trials (arms only once unblinded); sort: id, start_date, status."""
    return pages.of(trial_views.trial_page, status=status)


@router.post(
    "/patients/{patient_id}/trials", openapi_extra=takes(Action.PLAN_TRIAL), status_code=201
)
def plan_trial(
    context: ContextDep, actor: ActorDep, patient_id: int, body: TrialCreate, once: OnceDep
) -> TrialRead:
    """Plan a blinded trial: randomised pairs, concealed allocation, kit codes (clinicians)."""
    regimen = RegimenChoice(
        template=body.regimen.template,
        substance=body.regimen.substance,
        amount=body.regimen.amount,
        unit=body.regimen.unit,
        weekdays=tuple(body.regimen.weekdays) if body.regimen.weekdays else None,
    )
    rule = _adaptive_rule(body.adaptive) if body.adaptive is not None else None
    design = body.design.model_dump()
    if rule is not None and "pairs" not in body.design.model_fields_set:
        design["pairs"] = rule.max_pairs  # an adaptive trial allocates its maximum
    spec = DesignSpec(**design)
    created = once(
        actor,
        f"trial:patient:{patient_id}",
        body,
        create=lambda: trial_planning.plan_trial(
            context.db,
            actor,
            patient_id,
            regimen,
            spec,
            start_date=body.start_date,
            adaptive=rule,
            clock=context.clock,
        ),
        fetch=lambda rid: trial_views.get_trial(context.db, actor, int(rid), clock=context.clock),
        ident=lambda t: str(t.id),
    )
    tagged(once.response, created.lock_version)
    return created


def _adaptive_rule(body: AdaptiveBody) -> AdaptiveRule:
    """The body's rule: the named preset (with the maximum and outcome given), or the numbers."""
    if body.preset is None:
        return AdaptiveRule(**body.model_dump(exclude={"preset"}))
    given = body.model_dump(exclude={"preset"}, exclude_unset=True)
    return preset_with(body.preset, given, prefix="adaptive.")


@router.get("/trials/{trial_id}", openapi_extra=takes(Action.READ_TRIAL))
def read_trial(
    context: ContextDep, actor: ActorDep, trial_id: int, response: Response
) -> TrialRead:
    """One trial, with its ETag (the trial's lock version)."""
    trial = trial_views.get_trial(context.db, actor, trial_id, clock=context.clock)
    tagged(response, trial.lock_version)
    return trial


@router.post("/trials/{trial_id}/transitions", openapi_extra=takes(Action.MOVE_TRIAL))
def transition(
    context: ContextDep,
    actor: ActorDep,
    trial_id: int,
    body: TrialTransition,
    update: PreconditionDep,
) -> TrialRead:
    """Move the trial on (If-Match required): confirm-screening, schedule, start, pause, ..."""
    version = update.expected()
    trial = trial_lifecycle.transition(
        context.db,
        actor,
        trial_id,
        body.action,
        reason=body.reason,
        expected_version=version,
        clock=context.clock,
    )
    update.tag(trial.lock_version)
    return trial


@router.post("/trials/{trial_id}/unblind", openapi_extra=takes(Action.UNBLIND_TRIAL))
def unblind(
    context: ContextDep, actor: ActorDep, trial_id: int, body: Unblind, response: Response
) -> TrialRead:
    """Break the blind: after completion, or early for safety with a reason (audited)."""
    trial = trial_lifecycle.unblind_trial(
        context.db, actor, trial_id, body.reason, clock=context.clock
    )
    tagged(response, trial.lock_version)
    return trial


@router.get("/trials/{trial_id}/calendar", openapi_extra=takes(Action.READ_TRIAL))
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


@router.get("/trials/{trial_id}/adherence", openapi_extra=takes(Action.READ_TRIAL))
def adherence(context: ContextDep, actor: ActorDep, trial_id: int) -> AdherenceRead:
    """Planned and taken doses so far, and deviations from the calendar."""
    return AdherenceRead(**dosing.adherence(context.db, actor, trial_id, clock=context.clock))


@router.get("/trials/{trial_id}/doses", openapi_extra=takes(Action.READ_TRIAL))
def list_doses(
    context: ContextDep, actor: ActorDep, trial_id: int, page: PageQuery
) -> Page[DoseRead]:
    """Recorded doses."""
    rows = dosing.list_doses(context.db, actor, trial_id, clock=context.clock)
    return page.of(rows, lambda d: (d.local_date.isoformat(), d.record_id))


@router.post("/trials/{trial_id}/doses", openapi_extra=takes(Action.RECORD_DOSE), status_code=201)
def record_dose(actor: ActorDep, trial_id: int, body: DoseCreate, once: OnceDep) -> DoseRead:
    """A dose check-in with the kit code (stored even while held: marked as a deviation)."""
    services = (dosing.record_dose, dosing.get_dose)
    fields = {"taken_at": body.taken_at, "kit_code": body.kit_code}
    return once.record(actor, f"dose:trial:{trial_id}", body, services, trial_id, **fields)


@router.get("/trials/{trial_id}/guesses", openapi_extra=takes(Action.READ_TRIAL))
def list_guesses(
    context: ContextDep, actor: ActorDep, trial_id: int, page: PageQuery
) -> Page[dosing.GuessView]:
    """The patient's period guesses."""
    rows = dosing.list_guesses(context.db, actor, trial_id, clock=context.clock)
    return page.of(rows, lambda g: (g.period,))


@router.post(
    "/trials/{trial_id}/guesses", openapi_extra=takes(Action.RECORD_GUESS), status_code=201
)
def record_guess(
    context: ContextDep, actor: ActorDep, trial_id: int, body: GuessCreate, once: OnceDep
) -> GuessRead:
    """The patient's guess of a period's arm, in its last days (once per period)."""
    return once(
        actor,
        f"guess:trial:{trial_id}",
        body,
        create=once.bind(
            dosing.record_guess, actor, trial_id, body.period, body.guess, body.confidence
        ),
        fetch=lambda rid: _guess(context, actor, trial_id, rid),
    )


def _guess(context: AppContext, actor: Actor, trial_id: int, record_id: str) -> GuessRead:
    guesses = dosing.list_guesses(context.db, actor, trial_id, clock=context.clock)
    return current_record(guesses, record_id, "guess")


@router.get("/trials/{trial_id}/kits", openapi_extra=takes(Action.SEE_ALLOCATION))
def kit_sheet(context: ContextDep, actor: ActorDep, trial_id: int) -> KitSheet:
    """The kit -> arm list (unblinded staff only; audited; scheduled trials or later: 409)."""
    prep = trial_allocation.kit_preparation(context.db, actor, trial_id, clock=context.clock)
    return KitSheet(
        trial_id=prep.trial_id,
        patient_code=prep.patient_code,
        kits=list(prep.kits),
        status=prep.status,
        screening=prep.screening,
        hold=prep.hold,
    )


def _kit_step_route(step: str, description: str) -> None:
    """``POST /trials/{trial_id}/kits/<step>``: one pharmacy step on a kit."""

    def record(
        context: ContextDep, actor: ActorDep, trial_id: int, body: KitRecordCreate
    ) -> KitRecord:
        return pharmacy.record_kit_step(
            context.db, actor, trial_id, step, body.kit_code, body.capsules, clock=context.clock
        )

    router.add_api_route(
        f"/trials/{{trial_id}}/kits/{step}",
        record,
        methods=["POST"],
        name=f"kit_{step}",
        description=description,
        openapi_extra=takes(Action.PREPARE_KITS),
    )


_kit_step_route(
    "prepared", "Record a kit filled, with its capsule count (unblinded staff; once per kit)."
)
_kit_step_route(
    "dispensed",
    "Record a prepared kit handed out, with its capsule count (unblinded staff; once per kit).",
)
