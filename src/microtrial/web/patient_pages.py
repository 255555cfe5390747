"""The patient's pages: Today (where they are in the trial, diary, capsule check-in by QR code or
typed kit code, side effects, blood pressure), PHQ-9 and GAD-7. Everything works without JavaScript
(the camera scan fills the same form field as typing); History is in ``history_pages``."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from microtrial.domain import lifecycle
from microtrial.domain.access import Action
from microtrial.domain.actors import Actor
from microtrial.domain.alerts import crisis_item_rules, crisis_rule_fires
from microtrial.domain.patients import parse_date
from microtrial.domain.regimens import guess_opens_on
from microtrial.errors import (
    ConflictError,
    NotFound,
    PermissionDenied,
    SafetyBlock,
    ValidationError,
)
from microtrial.http.creates import create_once
from microtrial.http.deps import AppContext, ContextDep
from microtrial.http.errors import status_for
from microtrial.i18n import N_
from microtrial.services import (
    attacks,
    dashboards,
    dosing,
    patient_plan,
    records,
    trial_views,
)
from microtrial.services.patient_status import patient_status
from microtrial.services.trial_views import TrialRead
from microtrial.web.day_reports import DIARY, day_entries, report_sections
from microtrial.web.forms import FormSpec, FormState, answers_from_form, form_items
from microtrial.web.rendering import render
from microtrial.web.session import FormUserDep, FormValuesDep, PageUser, PageUserDep

router = APIRouter(include_in_schema=False)
# The Today form's own fields (instrument items are named and labelled by the catalog).
TODAY = FormSpec({"kit_code": N_("Kit code on the capsule pack")})

PHQ9 = "phq9"
# The questionnaires a patient fills in when they choose (each kept for offline use).
QUESTIONNAIRES = {
    PHQ9: N_("Mood questionnaire (PHQ-9)"),
    "gad7": N_("Anxiety questionnaire (GAD-7)"),
}


@dataclass(frozen=True)
class TrialState:
    """The patient's current trial as the Today page needs it (never the arm)."""

    trial: TrialRead | None
    guess_period: int | None

    @property
    def dosing(self) -> bool:
        """Whether capsules are due: the trial runs."""
        return self.trial is not None and self.trial.status in lifecycle.DOSING


def trial_state(context: AppContext, actor: Actor, today: dt.date) -> TrialState:
    """The patient's open trial and the earliest period whose guess is due."""
    own = [
        t
        for t in trial_views.list_trials(context.db, actor, clock=context.clock)
        if t.status in lifecycle.CURRENT
    ]
    if not own:
        return TrialState(None, None)
    trial = own[-1]
    due = None
    if trial.status in lifecycle.GUESSING:
        guessed = {g.period for g in dosing.list_guesses(context.db, actor, trial.id)}
        for period in trial.periods:
            if today >= guess_opens_on(period.end_date) and period.number not in guessed:
                due = period.number
                break
    return TrialState(trial, due)


def _today_page(
    request: Request,
    context: AppContext,
    actor: Actor,
    *,
    values: dict[str, str] | None = None,
    form: FormState | None = None,
    flash: str | None = None,
    wrong_kit: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    home = dashboards.patient_home(context.db, actor, clock=context.clock)
    state = trial_state(context, actor, home.local_date)
    values = values or {}
    return render(
        request,
        "today.html",
        {
            "home": home,
            "status": patient_status(context.db, actor, clock=context.clock),
            "plan": patient_plan.today_plan(context.db, actor, clock=context.clock),
            "wrong_kit": wrong_kit,
            "trial": state.trial,
            "guess_period": state.guess_period,
            "dosing": state.dosing,
            "diary_items": form_items(DIARY),
            **report_sections(values),
            "attack_logs": attacks.patient_attack_instruments(context.db, actor, home.patient_id),
            "values": values,
            "submission_id": values.get("submission_id") or uuid.uuid4().hex,
            "guess_submission_id": uuid.uuid4().hex,
            "form": form,
            "error": form.message if form else None,
            "flash": flash,
        },
        status=form.status if form else status,
    )


@router.get("/today")
def today(
    context: ContextDep, request: Request, user: PageUserDep, saved: str = ""
) -> HTMLResponse:
    """Today's diary form, with the capsule check-in and any period-end guess."""
    actor = user.require(Action.USE_PATIENT_APP)
    # A saved diary is confirmed by the page itself ("Today's diary is saved"); a guess and a
    # capsule recorded unlike the plan here.
    flash = SAVED_WORDS.get(saved) or (OTHER_DEVIATION if saved.startswith("dose-") else None)
    return _today_page(request, context, actor, flash=flash)


# What Today says after a save (``?saved=``): a guess, a missed day (sent to Today when it calls
# for medical help now), or a capsule that was recorded although it differs from the plan (its
# deviation code; the clinic has an alert of it).
SAVED_WORDS = {
    "guess": N_("Your guess is saved. Thank you."),
    "day": N_("The day's diary is saved."),  # a missed day filled in (web/diary_pages.py)
    "added": N_("Added to today's diary. Your clinic sees it with the rest of your day."),
    "dose-off-calendar": N_(
        "Your capsule is recorded, but today is not a capsule day in your plan. Your clinic has "
        "been told. Take your next capsule on your next capsule day, as planned."
    ),
    "multiple-doses-per-day": N_(
        "This is the second capsule recorded today. Your clinic has been told. Do not take "
        "another capsule today."
    ),
    "dose-during-hold": N_(
        "Your capsule is recorded, but your capsules are on hold. Your clinic has been told. "
        "Do not take another capsule until they tell you to."
    ),
}
OTHER_DEVIATION = N_(
    "Your capsule is recorded. It differs from your plan, so your clinic has been told."
)


def today_entries(values: dict[str, str]) -> list[records.DiaryInput]:
    """The diary inputs in a submitted Today form (one per instrument answered)."""
    day = parse_date("local_date", values.get("local_date", ""))
    # A form sent after the day's diary was saved ("later") adds side effects, blood pressure or
    # the capsule to the day; it carries no diary answers to record again (its capsule check-in
    # is recorded as a dose, below the diary).
    return day_entries(day, values, diary=not values.get("later"))


def _own_id(user: PageUser) -> int:
    actor = user.require(Action.USE_PATIENT_APP)
    if actor.patient_id is None:
        raise PermissionDenied("this user is not linked to a patient")
    return actor.patient_id


class WrongKit(ValidationError):
    """A check-in with a kit of the trial that is not the one due (the patient may confirm it)."""

    def __init__(self, check: patient_plan.KitCheck) -> None:
        self.check = check
        which = (
            f"is your kit for period {check.period_of_code}"
            if check.period_of_code
            else "is not one of your kits"
        )
        due = f" Today's capsule comes from kit {check.due}" if check.due else ""
        super().__init__(
            "kit_code",
            f"kit {check.code} {which}, not the kit due today.{due}"
            + (f" (period {check.due_period})." if check.due_period else "."),
        )

    @property
    def words(self) -> str:
        """The message for the patient, without the field name."""
        return str(self).split(": ", 1)[1]


# A form kept offline on the phone (static/outbox.js) says how long ago it was saved; its capsule
# was taken then, not when the connection came back. At most a month: older is a mistake.
MAX_SAVED_AGO_S = 31 * 24 * 3600


def saved_ago(values: dict[str, str]) -> dt.timedelta:
    """How long before this request the patient saved the form (0 for a form sent at once)."""
    text = values.get("saved_ago_s", "").strip()
    if not text:
        return dt.timedelta(0)
    if not text.isdigit() or int(text) > MAX_SAVED_AGO_S:
        raise ValidationError(
            "saved_ago_s",
            f"{text!r} is not a number of seconds",
            allowed=f"whole seconds from 0 to {MAX_SAVED_AGO_S}",
        )
    return dt.timedelta(seconds=int(text))


def _check_in_dose(context: AppContext, actor: Actor, values: dict[str, str]) -> dosing.DoseRead:
    """Record the capsule as a dose of the running trial (once per form submission)."""
    trial_id = values.get("trial_id", "")
    kit_code = values.get("kit_code", "").strip()
    if not trial_id.isdigit():
        raise ValidationError("trial", "there is no running trial to check a capsule in for")
    if not kit_code:
        raise ValidationError("kit_code", "enter the kit code printed on the capsule pack")
    taken_at = context.clock() - saved_ago(values)
    check = patient_plan.check_kit(
        context.db, actor, int(trial_id), kit_code, clock=context.clock, taken_at=taken_at
    )
    if not check.is_due and values.get("kit_confirm") != check.code:
        raise WrongKit(check)
    return create_once(
        context,
        Response(),
        key=f"web-{values.get('submission_id') or uuid.uuid4().hex}-dose",
        scope=f"dose:trial:{trial_id}:user:{actor.user_id}",
        resource="dose",
        payload={"kit_code": kit_code, "trial": trial_id},
        create=lambda: dosing.record_dose(
            context.db,
            actor,
            int(trial_id),
            taken_at=taken_at,
            kit_code=kit_code,
            clock=context.clock,
        ),
        fetch=lambda rid: dosing.get_dose(context.db, actor, int(trial_id), rid),
        ident=lambda d: d.record_id,
    )


@router.post("/today")
def submit_today(
    context: ContextDep, request: Request, user: FormUserDep, values: FormValuesDep
) -> Response:
    """Save today's diary (with side effects and blood pressure when given), then the capsule."""
    patient_id = _own_id(user)
    try:
        entries = today_entries(values)
        # a side effect or blood pressure the day has already is added to it (records)
        records.record_diary_entries(
            context.db, user.actor, patient_id, entries, clock=context.clock
        )
    except ValidationError as err:
        form = FormState.refused("diary", values, err, TODAY)
        return _today_page(request, context, user.actor, values=values, form=form)
    if values.get("daily_diary.dose_check_in") == "taken" and values.get("trial_id"):
        try:
            dose = _check_in_dose(context, user.actor, values)
        except WrongKit as err:
            words = f"{err.words[0].upper()}{err.words[1:]}"
            message = f"Capsule check-in not recorded: {words}"
            form = FormState("diary", values, {"kit_code": words}, message, 422)
            return _today_page(
                request,
                context,
                user.actor,
                values=values,
                form=form,
                flash=N_("Your diary is saved."),
                wrong_kit=err.check.code if err.check.period_of_code else None,
            )
        except (ValidationError, SafetyBlock, ConflictError) as err:
            # The diary is saved; only the capsule check-in needs attention.
            form = FormState.refused("diary", values, err, TODAY)
            message = f"Capsule check-in not recorded: {form.message}"
            form = FormState(form.key, form.values, form.errors, message, status_for(err))
            return _today_page(
                request,
                context,
                user.actor,
                values=values,
                form=form,
                flash=N_("Your diary is saved."),
            )
        if (
            dose.deviation
        ):  # recorded, but not as planned: the patient hears it, not only the clinic
            first = dose.deviation.split(",")[0]
            return RedirectResponse(f"/today?saved={first}", status_code=303)
    # "Add to today" (after the diary): say that what was reported was added
    added = values.get("later") == "1" and bool(entries)
    return RedirectResponse(f"/today?saved={'added' if added else 1}", status_code=303)


@router.post("/guess")
def submit_guess(context: ContextDep, user: FormUserDep, values: FormValuesDep) -> Response:
    """The patient's guess of the period that is ending (once per form submission: a guess kept
    offline may be sent again)."""
    actor = user.require(Action.USE_PATIENT_APP)
    trial_id = values.get("trial_id", "")
    period = values.get("period", "")
    guess = values.get("guess", "")
    confidence = values.get("confidence", "").strip()
    if not trial_id.isdigit() or not period.isdigit():
        raise ValidationError("period", "no period to guess")
    create_once(
        context,
        Response(),
        key=f"web-{values.get('submission_id') or uuid.uuid4().hex}-guess",
        scope=f"guess:trial:{trial_id}:user:{actor.user_id}",
        resource="guess",
        payload={"period": period, "guess": guess, "confidence": confidence},
        create=lambda: (
            dosing.record_guess(
                context.db,
                actor,
                int(trial_id),
                int(period),
                guess,
                int(confidence) if confidence.isdigit() else None,
                clock=context.clock,
            ).record_id
        ),
        fetch=lambda record_id: record_id,
        ident=lambda record_id: record_id,
    )
    return RedirectResponse("/today?saved=guess", status_code=303)


def _questionnaire(instrument_id: str) -> str:
    """The title of a questionnaire the patient may fill in (NotFound for any other)."""
    if instrument_id not in QUESTIONNAIRES:
        raise NotFound(f"questionnaire: no questionnaire {instrument_id!r}")
    return QUESTIONNAIRES[instrument_id]


@router.get("/questionnaires/{instrument_id}")
def questionnaire_form(
    context: ContextDep, request: Request, user: PageUserDep, instrument_id: str, saved: int = 0
) -> HTMLResponse:
    """A questionnaire: PHQ-9 (mood) or GAD-7 (anxiety)."""
    _questionnaire(instrument_id)
    user.require(Action.USE_PATIENT_APP)
    home = dashboards.patient_home(context.db, user.actor, clock=context.clock)
    return _questionnaire_page(
        request, context, user.actor, instrument_id, home.local_date, saved=bool(saved)
    )


def _questionnaire_page(
    request: Request,
    context: AppContext,
    actor: Actor,
    instrument_id: str,
    day: dt.date,
    *,
    values: dict[str, str] | None = None,
    saved: bool = False,
    crisis: bool = False,
    form: FormState | None = None,
    status: int = 200,
) -> HTMLResponse:
    values = values or {}
    return render(
        request,
        "questionnaire.html",
        {
            "title": _questionnaire(instrument_id),
            "action": f"/questionnaires/{instrument_id}",
            "items": form_items(instrument_id),
            "values": values,
            "local_date": day,
            "submission_id": values.get("submission_id") or uuid.uuid4().hex,
            "saved": saved,
            "show_crisis": crisis,
            "crisis_lines": patient_status(context.db, actor, clock=context.clock).crisis_lines,
            # The catalog's crisis rules, for the script that shows the resources as one answers.
            "crisis_rules": [
                {"field": f"{instrument_id}.{rule.item}", "op": rule.op, "value": rule.value}
                for rule in crisis_item_rules(instrument_id)
            ],
            "form": form,
            "error": form.message if form else None,
        },
        status=form.status if form else status,
    )


@router.post("/questionnaires/{instrument_id}")
def submit_questionnaire(
    context: ContextDep,
    request: Request,
    user: FormUserDep,
    values: FormValuesDep,
    instrument_id: str,
) -> Response:
    """Save a questionnaire; an answer tripping a crisis rule (PHQ-9 item 9) shows crisis
    resources at once (and alerts staff)."""
    _questionnaire(instrument_id)
    patient_id = _own_id(user)
    answers: dict[str, Any] = {}
    try:
        day = parse_date("local_date", values.get("local_date", ""))
        answers = answers_from_form(instrument_id, values)
        submission = values.get("submission_id") or uuid.uuid4().hex
        entry = records.DiaryInput(
            local_date=day,
            answers=answers,
            instrument_id=instrument_id,
            idempotency_key=f"web-{submission}-{instrument_id}",
        )
        records.record_diary_entries(
            context.db, user.actor, patient_id, [entry], clock=context.clock
        )
    except ValidationError as err:
        home = dashboards.patient_home(context.db, user.actor, clock=context.clock)
        return _questionnaire_page(
            request,
            context,
            user.actor,
            instrument_id,
            home.local_date,
            values=values,
            form=FormState.refused(instrument_id, values, err),
            crisis=crisis_rule_fires(instrument_id, answers),
        )
    if crisis_rule_fires(instrument_id, answers):
        # Shown at once, on the response to the submission itself (no redirect to miss).
        return _questionnaire_page(
            request, context, user.actor, instrument_id, day, saved=True, crisis=True
        )
    return RedirectResponse(f"/questionnaires/{instrument_id}?saved=1", status_code=303)
