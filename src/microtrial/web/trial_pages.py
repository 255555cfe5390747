"""Trial pages: planning (clinicians), the trial view with its lifecycle and emergency
unblinding (the pharmacy's kit pages are in ``pharmacy_pages``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from microtrial.domain import lifecycle
from microtrial.domain.access import Action
from microtrial.domain.calendar import TrialCalendar
from microtrial.domain.design import DesignSpec
from microtrial.domain.patients import parse_date
from microtrial.domain.regimens import load_regimen_catalog
from microtrial.domain.substances import substance_ids
from microtrial.errors import ValidationError
from microtrial.http.deps import ContextDep
from microtrial.services import (
    dosing,
    patients,
    trial_lifecycle,
    trial_planning,
    trial_views,
)
from microtrial.services.trial_planning import RegimenChoice
from microtrial.web.rendering import render
from microtrial.web.session import FormUserDep, FormValuesDep, PageUserDep

router = APIRouter(include_in_schema=False)
# Lifecycle actions whose form asks for a reason (the service enforces the rules).
NEEDS_REASON = frozenset(a.value for a, t in lifecycle.TRANSITIONS.items() if t.needs_reason)


def _number(values: dict[str, str], name: str, default: str) -> float:
    raw = values.get(name, default).strip() or default
    try:
        return float(raw)
    except ValueError as err:
        raise ValidationError(name, f"{raw!r} is not a number", value=raw) from err


def _doses() -> dict[str, list[str]]:
    """Each substance's allowed doses from the catalog, e.g. ``{"lsd": ["5–20 µg"]}``."""
    ranges = load_regimen_catalog().microdose_ranges
    return {s: [r.describe() for r in preparations] for s, preparations in ranges.items()}


def _units() -> list[str]:
    """The units some substance's sourced range uses (no other unit is offered)."""
    ranges = load_regimen_catalog().microdose_ranges.values()
    return sorted({r.unit.value for preparations in ranges for r in preparations})


def _templates() -> list[tuple[str, str]]:
    catalog = load_regimen_catalog()
    return [(name, t.title) for name, t in catalog.templates.items()]


def _plan_page(
    request: Request,
    patient_id: int,
    code: str,
    values: dict[str, str],
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "plan_trial.html",
        {
            "patient_id": patient_id,
            "code": code,
            "templates": _templates(),
            "substances": substance_ids(),
            "units": _units(),
            "doses": _doses(),
            "values": values,
            "error": error,
            "defaults": DesignSpec(),
        },
        status=status,
    )


@router.get("/clinic/patients/{patient_id}/trials/new")
def plan_form(
    context: ContextDep, request: Request, user: PageUserDep, patient_id: int
) -> HTMLResponse:
    """The trial planning form."""
    actor = user.require(Action.PLAN_TRIAL)
    patient = patients.get_patient(context.db, actor, patient_id, clock=context.clock)
    start = context.clock().date() + dt.timedelta(days=7)
    return _plan_page(request, patient_id, patient.study_code, {"start_date": start.isoformat()})


@router.post("/clinic/patients/{patient_id}/trials")
def plan(
    context: ContextDep,
    request: Request,
    user: FormUserDep,
    values: FormValuesDep,
    patient_id: int,
) -> Response:
    """Plan the trial (randomised pairs, concealed allocation, kit codes)."""
    actor = user.require(Action.PLAN_TRIAL)
    try:
        spec = DesignSpec(
            run_in_days=int(_number(values, "run_in_days", "7")),
            pairs=int(_number(values, "pairs", "3")),
            period_days=int(_number(values, "period_days", "14")),
            wash_in_days=int(_number(values, "wash_in_days", "3")),
        )
        regimen = RegimenChoice(
            template=values.get("template", ""),
            substance=values.get("substance", ""),
            amount=_number(values, "amount", ""),
            unit=values.get("unit", ""),
        )
        trial = trial_planning.plan_trial(
            context.db,
            actor,
            patient_id,
            regimen,
            spec,
            start_date=parse_date("start_date", values.get("start_date", "")),
            clock=context.clock,
        )
    except ValidationError as err:
        patient = patients.get_patient(context.db, actor, patient_id, clock=context.clock)
        return _plan_page(request, patient_id, patient.study_code, values, str(err), 422)
    return RedirectResponse(f"/clinic/trials/{trial.id}", status_code=303)


@router.get("/clinic/trials/{trial_id}")
def trial_page(
    context: ContextDep, request: Request, user: PageUserDep, trial_id: int
) -> HTMLResponse:
    """A trial: status, periods and kit codes (arms only once unblinded), calendar, actions."""
    actor = user.require(Action.USE_CLINIC_PAGES)
    trial = trial_views.get_trial(context.db, actor, trial_id, clock=context.clock)
    calendar = trial_views.trial_calendar(context.db, actor, trial_id, clock=context.clock)
    adherence = (
        dosing.adherence(context.db, actor, trial_id, clock=context.clock)
        if trial.status in lifecycle.STARTED
        else None
    )
    return render(
        request,
        "trial.html",
        {
            "trial": trial,
            "calendar": calendar,
            "adherence": adherence,
            "actions": _next_actions(trial.status, calendar, context.clock())
            if user.may(Action.MOVE_TRIAL)
            else (),
            "needs_reason": NEEDS_REASON,
            "can_unblind": _may_unblind(user.may, trial.status),
            "early_unblinding": lifecycle.is_early_unblinding(trial.status),
        },
    )


def _may_unblind(may: Callable[[Action], bool], status: str) -> bool:
    """Whether to offer the unblinding form: clinicians only; early ones need UNBLIND_EARLY."""
    if status not in lifecycle.UNBLINDABLE or not may(Action.UNBLIND_TRIAL):
        return False
    return not lifecycle.is_early_unblinding(status) or may(Action.UNBLIND_EARLY)


def _next_actions(status: str, calendar: TrialCalendar, now: dt.datetime) -> tuple[str, ...]:
    """The lifecycle actions a clinician may take next from ``status`` (completing only once
    the last period has ended in the patient's time zone: the service refuses it before)."""
    ended = now.astimezone(ZoneInfo(calendar.tz)).date() > calendar.last_date
    return tuple(
        a.value
        for a in lifecycle.next_actions(status)
        if a is not lifecycle.TrialAction.COMPLETE or ended
    )


@router.post("/clinic/trials/{trial_id}/transitions")
def move(context: ContextDep, user: FormUserDep, values: FormValuesDep, trial_id: int) -> Response:
    """Apply a lifecycle action; the form's version guards against a trial changed meanwhile."""
    actor = user.require(Action.MOVE_TRIAL)
    version = values.get("lock_version", "")
    trial_lifecycle.transition(
        context.db,
        actor,
        trial_id,
        values.get("action", ""),
        reason=values.get("reason") or None,
        expected_version=int(version) if version.isdigit() else -1,
        clock=context.clock,
    )
    return RedirectResponse(f"/clinic/trials/{trial_id}", status_code=303)


@router.post("/clinic/trials/{trial_id}/unblind")
def unblind(
    context: ContextDep, user: FormUserDep, values: FormValuesDep, trial_id: int
) -> Response:
    """Break the blind (early: for safety, with a reason; audited)."""
    actor = user.require(Action.UNBLIND_TRIAL)
    if values.get("confirm") != "yes":
        raise ValidationError(
            "confirm", "tick the box to confirm breaking the blind", allowed="confirmed"
        )
    trial_lifecycle.unblind_trial(
        context.db, actor, trial_id, values.get("reason") or None, clock=context.clock
    )
    return RedirectResponse(f"/clinic/trials/{trial_id}", status_code=303)
