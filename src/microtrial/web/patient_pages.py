"""The patient's pages: Today (diary, capsule check-in, side effects, blood pressure), PHQ-9,
own pain history. Everything works without JavaScript."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from microtrial.api.deps import ContextDep
from microtrial.domain.actors import Role
from microtrial.domain.patients import parse_date
from microtrial.errors import PermissionDenied, ValidationError
from microtrial.services import records, web_support
from microtrial.web.charts import pain_chart
from microtrial.web.forms import answers_from_form, form_items
from microtrial.web.rendering import render
from microtrial.web.session import FormUserDep, FormValuesDep, PageUser, PageUserDep

router = APIRouter(include_in_schema=False)

SIDE_EFFECTS = "ae_checklist"
BLOOD_PRESSURE = "home_bp"
DIARY = "daily_diary"
PHQ9 = "phq9"


def _today_page(
    request: Request,
    home: web_support.PatientHome,
    *,
    values: dict[str, str] | None = None,
    error: str | None = None,
    flash: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    values = values or {}
    return render(
        request,
        "today.html",
        {
            "home": home,
            "diary_items": form_items(DIARY),
            "ae_items": form_items(SIDE_EFFECTS),
            "bp_items": form_items(BLOOD_PRESSURE),
            "values": values,
            "ae_open": any(
                k.startswith(f"{SIDE_EFFECTS}.") and v not in ("", "0") for k, v in values.items()
            ),
            "bp_open": any(k.startswith(f"{BLOOD_PRESSURE}.") and v for k, v in values.items()),
            "submission_id": values.get("submission_id") or uuid.uuid4().hex,
            "error": error,
            "flash": flash,
        },
        status=status,
    )


@router.get("/today")
def today(context: ContextDep, request: Request, user: PageUserDep, saved: int = 0) -> HTMLResponse:
    """Today's diary form."""
    user.require(Role.PATIENT)
    home = web_support.patient_home(context.db, user.actor, clock=context.clock)
    return _today_page(request, home, flash="Saved. Thank you." if saved else None)


def today_entries(values: dict[str, str]) -> list[records.DiaryInput]:
    """The diary inputs in a submitted Today form (one per instrument answered)."""
    day = parse_date("local_date", values.get("local_date", ""))
    submission = values.get("submission_id") or uuid.uuid4().hex
    entries = []
    diary = answers_from_form(DIARY, values)
    side_effects = {
        k: v for k, v in answers_from_form(SIDE_EFFECTS, values).items() if v not in (0, False)
    }
    pressure = answers_from_form(BLOOD_PRESSURE, values)
    for instrument_id, answers in (
        (DIARY, diary),
        (SIDE_EFFECTS, side_effects),
        (BLOOD_PRESSURE, pressure),
    ):
        if answers or instrument_id == DIARY:
            entries.append(
                records.DiaryInput(
                    local_date=day,
                    answers=dict(answers),
                    instrument_id=instrument_id,
                    idempotency_key=f"web-{submission}-{instrument_id}",
                )
            )
    return entries


def _own_id(user: PageUser) -> int:
    actor = user.require(Role.PATIENT)
    if actor.patient_id is None:
        raise PermissionDenied("this user is not linked to a patient")
    return actor.patient_id


@router.post("/today")
def submit_today(
    context: ContextDep, request: Request, user: FormUserDep, values: FormValuesDep
) -> Response:
    """Save today's diary (and side effects and blood pressure when given) in one go."""
    patient_id = _own_id(user)
    try:
        entries = today_entries(values)
        records.record_diary_entries(
            context.db, user.actor, patient_id, entries, clock=context.clock
        )
    except ValidationError as err:
        home = web_support.patient_home(context.db, user.actor, clock=context.clock)
        return _today_page(request, home, values=values, error=str(err), status=422)
    return RedirectResponse("/today?saved=1", status_code=303)


@router.get("/questionnaires/phq9")
def phq9_form(
    context: ContextDep, request: Request, user: PageUserDep, saved: int = 0
) -> HTMLResponse:
    """The PHQ-9 mood questionnaire."""
    user.require(Role.PATIENT)
    home = web_support.patient_home(context.db, user.actor, clock=context.clock)
    return _phq9_page(request, home.local_date, saved=bool(saved))


def _phq9_page(
    request: Request,
    day: dt.date,
    *,
    values: dict[str, str] | None = None,
    saved: bool = False,
    crisis: bool = False,
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    values = values or {}
    return render(
        request,
        "questionnaire.html",
        {
            "title": "Mood questionnaire (PHQ-9)",
            "action": "/questionnaires/phq9",
            "items": form_items(PHQ9),
            "values": values,
            "local_date": day,
            "submission_id": values.get("submission_id") or uuid.uuid4().hex,
            "saved": saved,
            "show_crisis": crisis,
            "error": error,
        },
        status=status,
    )


@router.post("/questionnaires/phq9")
def submit_phq9(
    context: ContextDep, request: Request, user: FormUserDep, values: FormValuesDep
) -> Response:
    """Save a PHQ-9; a positive item 9 shows crisis resources at once (and alerts staff)."""
    patient_id = _own_id(user)
    answers: dict[str, Any] = {}
    try:
        day = parse_date("local_date", values.get("local_date", ""))
        answers = answers_from_form(PHQ9, values)
        entry = records.DiaryInput(
            local_date=day,
            answers=answers,
            instrument_id=PHQ9,
            idempotency_key=f"web-{values.get('submission_id') or uuid.uuid4().hex}-{PHQ9}",
        )
        records.record_diary_entries(
            context.db, user.actor, patient_id, [entry], clock=context.clock
        )
    except ValidationError as err:
        home = web_support.patient_home(context.db, user.actor, clock=context.clock)
        positive = _item9_positive(answers)
        return _phq9_page(
            request, home.local_date, values=values, error=str(err), crisis=positive, status=422
        )
    if _item9_positive(answers):
        # Shown at once, on the response to the submission itself (no redirect to miss).
        return _phq9_page(request, day, saved=True, crisis=True)
    return RedirectResponse("/questionnaires/phq9?saved=1", status_code=303)


def _item9_positive(answers: dict[str, Any]) -> bool:
    value = answers.get("q9")
    return isinstance(value, int) and value > 0


@router.get("/history")
def history(context: ContextDep, request: Request, user: PageUserDep) -> HTMLResponse:
    """The patient's own daily pain, as a chart and a table (no arms before unblinding)."""
    user.require(Role.PATIENT)
    home = web_support.patient_home(context.db, user.actor, clock=context.clock)
    return render(
        request,
        "history.html",
        {
            "chart": pain_chart(home.pain_history, title="My daily average pain"),
            "rows": list(reversed(home.pain_history)),
        },
    )
