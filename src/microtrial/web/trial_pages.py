"""Trial pages: planning (clinicians), the trial view with its lifecycle and emergency
unblinding (the pharmacy's kit pages are in ``pharmacy_pages``)."""

from __future__ import annotations

import datetime as dt
from calendar import day_name
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from microtrial.analysis.adaptive import OperatingCharacteristics
from microtrial.domain import lifecycle
from microtrial.domain.access import Action
from microtrial.domain.adaptive import (
    ADAPTIVE_OUTCOMES,
    CUSTOM,
    PRESETS,
    SIMULATION,
    AdaptiveRule,
    preset,
)
from microtrial.domain.calendar import TrialCalendar
from microtrial.domain.design import DesignSpec
from microtrial.domain.patients import parse_date
from microtrial.domain.regimens import WEEKDAY_NAMES, load_regimen_catalog
from microtrial.domain.substances import substance_ids
from microtrial.errors import ValidationError
from microtrial.http.deps import ContextDep
from microtrial.i18n import N_
from microtrial.services import (
    adaptive,
    dosing,
    patients,
    trial_lifecycle,
    trial_planning,
    trial_views,
)
from microtrial.services.trial_planning import RegimenChoice
from microtrial.web.forms import REFUSALS, FormSpec, FormState
from microtrial.web.rendering import render, render_form
from microtrial.web.session import FormUserDep, FormValuesDep, PageUser, PageUserDep

router = APIRouter(include_in_schema=False)
# Lifecycle actions whose form asks for a reason (the service enforces the rules).
NEEDS_REASON = frozenset(a.value for a, t in lifecycle.TRANSITIONS.items() if t.needs_reason)
# The action buttons' words (each action's value, capitalised, translated by the page).
ACTION_WORDS = (
    N_("Confirm screening"),
    N_("Schedule"),
    N_("Start"),
    N_("Pause"),
    N_("Resume"),
    N_("Complete"),
    N_("Withdraw"),
)
# The label of each reason field ("Reason to " and the action), translated by the page.
REASON_LABELS = (
    N_("Reason to pause"),
    N_("Reason to resume"),
    N_("Reason to complete"),
    N_("Reason to withdraw"),
)


PLAN = FormSpec(
    {
        "template": "Regimen",
        "substance": "Substance",
        "amount": "Amount per dose",
        "unit": "Unit",
        "weekdays": "Dose weekdays",
        "start_date": "First day",
        "run_in_days": "Run-in days",
        "pairs": "Pairs",
        "period_days": "Days per period",
        "wash_in_days": "Wash-in days",
        "adaptive": "Adaptive",
        "rule": "Rule",
        "min_pairs": "Minimum pairs",
        "max_pairs": "Maximum pairs",
        "benefit_threshold": "Benefit threshold",
        "futility_threshold": "Futility threshold",
        "outcome": "Outcome the looks read",
    },
    {"regimen": "template", "pattern.weekdays": "weekdays"},
    choices=frozenset({"template", "substance", "unit", "weekdays", "outcome", "rule"}),
)
MOVE = FormSpec({"reason": "Reason"})
UNBLIND = FormSpec({"reason": "Reason", "confirm": "Confirmation"})


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


@dataclass(frozen=True)
class TemplateChoice:
    """A regimen the plan form offers, and how many weekdays the clinician chooses for it."""

    name: str
    title: str
    choose_weekdays: int | None


def _templates() -> list[TemplateChoice]:
    catalog = load_regimen_catalog()
    return [TemplateChoice(n, t.title, t.choose_weekdays) for n, t in catalog.templates.items()]


def _chosen_weekdays(values: dict[str, str]) -> tuple[str, ...] | None:
    """The weekdays ticked on the form, for a regimen that doses on chosen weekdays (else None)."""
    template = load_regimen_catalog().templates.get(values.get("template", ""))
    if template is None or template.choose_weekdays is None:
        return None  # a fixed pattern: weekday boxes are not used (the form says so)
    ticked = tuple(day for day in WEEKDAY_NAMES if values.get(f"weekday_{day}"))
    return ticked or None


def _plan_page(
    context: ContextDep,
    request: Request,
    user: PageUser,
    patient_id: int,
    form: FormState | None = None,
    oc: OperatingCharacteristics | None = None,
) -> HTMLResponse:
    actor = user.require(Action.PLAN_TRIAL)
    patient = patients.get_patient(context.db, actor, patient_id, clock=context.clock)
    start = context.clock().date() + dt.timedelta(days=7)
    page = {
        "patient_id": patient_id,
        "code": patient.study_code,
        "templates": _templates(),
        "substances": substance_ids(),
        "units": _units(),
        "doses": _doses(),
        "weekdays": list(zip(WEEKDAY_NAMES, day_name, strict=True)),
        "default_start": start.isoformat(),
        "defaults": DesignSpec(),
    }
    page["adaptive_defaults"] = AdaptiveRule()
    page["presets"] = list(PRESETS.values())
    page["adaptive_outcomes"] = ADAPTIVE_OUTCOMES
    page["oc"] = oc
    page["simulation"] = SIMULATION
    page["oc_rule"] = (
        None
        if oc is None
        else AdaptiveRule(
            min_pairs=oc.min_pairs,
            max_pairs=oc.max_pairs,
            benefit_threshold=oc.benefit_threshold,
            futility_threshold=oc.futility_threshold,
        )
    )
    if form is not None:
        return render_form(request, "plan_trial.html", page, form)
    return render(request, "plan_trial.html", page)


def _adaptive_rule(values: dict[str, str]) -> AdaptiveRule | None:
    """The form's adaptive rule, when the clinician chose an adaptive trial or simulates one:
    a named rule (``rule``) with the form's maximum and outcome, or the custom numbers."""
    if not (values.get("adaptive") or values.get("simulate")):
        return None
    base = AdaptiveRule()
    # No choice sent (a client without the radio buttons): the numbers sent, as before presets.
    choice = values.get("rule", "").strip() or CUSTOM
    max_pairs = int(_number(values, "max_pairs", str(base.max_pairs)))
    outcome = values.get("outcome", base.outcome) or base.outcome
    if choice in PRESETS:
        return preset(choice, max_pairs=max_pairs, outcome=outcome)
    if choice != CUSTOM:
        raise ValidationError(
            "rule", f"unknown rule {choice!r}", value=choice, allowed=[*PRESETS, CUSTOM]
        )
    return AdaptiveRule(
        min_pairs=int(_number(values, "min_pairs", str(base.min_pairs))),
        max_pairs=max_pairs,
        benefit_threshold=_number(values, "benefit_threshold", str(base.benefit_threshold)),
        futility_threshold=_number(values, "futility_threshold", str(base.futility_threshold)),
        outcome=outcome,
    )


@router.get("/clinic/patients/{patient_id}/trials/new")
def plan_form(
    context: ContextDep, request: Request, user: PageUserDep, patient_id: int
) -> HTMLResponse:
    """The trial planning form."""
    return _plan_page(context, request, user, patient_id)


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
        rule = _adaptive_rule(values)
        spec = DesignSpec(
            run_in_days=int(_number(values, "run_in_days", "7")),
            pairs=rule.max_pairs if rule else int(_number(values, "pairs", "3")),
            period_days=int(_number(values, "period_days", "14")),
            wash_in_days=int(_number(values, "wash_in_days", "3")),
        )
        if rule is not None and values.get("simulate"):  # never plans a trial
            # Operating characteristics before the first dose: the form again, with the table.
            oc = adaptive.simulate_rule(
                rule,
                run_in_days=spec.run_in_days,
                period_days=spec.period_days,
                wash_in_days=spec.wash_in_days,
            )
            shown = FormState("plan", dict(values), {}, "", 200)
            return _plan_page(context, request, user, patient_id, shown, oc)
        regimen = RegimenChoice(
            template=values.get("template", ""),
            substance=values.get("substance", ""),
            amount=_number(values, "amount", ""),
            unit=values.get("unit", ""),
            weekdays=_chosen_weekdays(values),
        )
        trial = trial_planning.plan_trial(
            context.db,
            actor,
            patient_id,
            regimen,
            spec,
            start_date=parse_date("start_date", values.get("start_date", "")),
            adaptive=rule,
            clock=context.clock,
        )
    except REFUSALS as err:
        form = FormState.refused("plan", values, err, PLAN)
        return _plan_page(context, request, user, patient_id, form)
    return RedirectResponse(f"/clinic/trials/{trial.id}", status_code=303)


@router.get("/clinic/trials/{trial_id}")
def trial_page(
    context: ContextDep, request: Request, user: PageUserDep, trial_id: int
) -> HTMLResponse:
    """A trial: status, periods and kit codes (arms only once unblinded), calendar, actions."""
    return _trial_page(context, request, user, trial_id)


def _trial_page(
    context: ContextDep,
    request: Request,
    user: PageUser,
    trial_id: int,
    form: FormState | None = None,
) -> HTMLResponse:
    actor = user.require(Action.USE_CLINIC_PAGES)
    trial = trial_views.get_trial(context.db, actor, trial_id, clock=context.clock)
    calendar = trial_views.trial_calendar(context.db, actor, trial_id, clock=context.clock)
    adherence = (
        dosing.adherence(context.db, actor, trial_id, clock=context.clock)
        if trial.status in lifecycle.STARTED
        else None
    )
    actions = (
        _next_actions(trial.status, calendar, context.clock())
        if user.may(Action.MOVE_TRIAL)
        else ()
    )
    # Start and resume are not offered while an alert stands in the way: the page says which.
    gated = [a for a in actions if lifecycle.transition_for(a).blocked_by_alerts]
    blocks = (
        trial_lifecycle.start_blocks(context.db, actor, trial_id, clock=context.clock)
        if gated
        else []
    )
    page = {
        "trial": trial,
        "calendar": calendar,
        "adherence": adherence,
        "actions": tuple(a for a in actions if not (blocks and a in gated)),
        "start_blocks": blocks,
        "blocked_action": gated[0] if blocks else None,
        "needs_reason": NEEDS_REASON,
        "can_unblind": _may_unblind(user.may, trial.status),
        "early_unblinding": lifecycle.is_early_unblinding(trial.status),
    }
    if form is not None:
        return render_form(request, "trial.html", page, form)
    return render(request, "trial.html", page)


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
def move(
    context: ContextDep,
    request: Request,
    user: FormUserDep,
    values: FormValuesDep,
    trial_id: int,
) -> Response:
    """Apply a lifecycle action; the form's version guards against a trial changed meanwhile."""
    actor = user.require(Action.MOVE_TRIAL)
    version = values.get("lock_version", "")
    action = values.get("action", "")
    try:
        trial_lifecycle.transition(
            context.db,
            actor,
            trial_id,
            action,
            reason=values.get("reason") or None,
            expected_version=int(version) if version.isdigit() else -1,
            clock=context.clock,
        )
    except REFUSALS as err:
        form = FormState.refused(f"move-{action}", values, err, MOVE)
        return _trial_page(context, request, user, trial_id, form)
    return RedirectResponse(f"/clinic/trials/{trial_id}", status_code=303)


@router.post("/clinic/trials/{trial_id}/unblind")
def unblind(
    context: ContextDep,
    request: Request,
    user: FormUserDep,
    values: FormValuesDep,
    trial_id: int,
) -> Response:
    """Break the blind (early: for safety, with a reason; audited)."""
    actor = user.require(Action.UNBLIND_TRIAL)
    try:
        if values.get("confirm") != "yes":
            raise ValidationError("confirm", "tick the box to confirm breaking the blind")
        trial_lifecycle.unblind_trial(
            context.db, actor, trial_id, values.get("reason") or None, clock=context.clock
        )
    except REFUSALS as err:
        form = FormState.refused("unblind", values, err, UNBLIND)
        return _trial_page(context, request, user, trial_id, form)
    return RedirectResponse(f"/clinic/trials/{trial_id}", status_code=303)
