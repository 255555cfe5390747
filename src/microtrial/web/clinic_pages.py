"""Clinician pages: enrolment, the patient dashboard, screening, history, alerts (the patient
list is in ``worklist_pages``)."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from microtrial.domain.access import Action
from microtrial.domain.actors import Actor
from microtrial.domain.adverse_events import OUTCOMES
from microtrial.domain.patients import SEXES
from microtrial.domain.substances import substance_ids
from microtrial.errors import ConflictError, NotFound, ValidationError
from microtrial.http.deps import AppContext, ContextDep
from microtrial.i18n import N_
from microtrial.services import (
    adverse_events,
    alerts,
    patient_chart,
    patients,
    records,
    reminder_settings,
    screening,
    trial_views,
)
from microtrial.services.schemas import PatientRead
from microtrial.services.screening import ScreeningRead
from microtrial.services.worklist import condition_name
from microtrial.web.charts import pain_chart, pain_points
from microtrial.web.forms import REFUSALS, FormSpec, FormState
from microtrial.web.listing import list_request, pager
from microtrial.web.rendering import render, render_form
from microtrial.web.session import FormUserDep, FormValuesDep, PageUser, PageUserDep

router = APIRouter(include_in_schema=False)

# The forms of these pages: the label of each field, and the service names that mean it.
MEDICATION = FormSpec({"name": "Medication"}, {"medication": "name"})
ACKNOWLEDGED = N_("Alert acknowledged: it is kept, with your note, under “Acknowledged”.")
SIGN_OFF = FormSpec({"reason": "Reason for clearing this screening"})
ENROL = FormSpec(
    {
        "study_code": "Study code",
        "birth_year": "Year of birth",
        "sex": "Sex",
        "time_zone": "Time zone",
        "conditions": "Conditions",
    },
    {"code": "study_code", "tz": "time_zone", "condition": "conditions"},
    choices=frozenset({"sex"}),
)
ACKNOWLEDGE = FormSpec({"note": "What was done"})


def patient_nav(patient_id: int) -> list[tuple[str, str]]:
    """Links of a patient's clinician pages."""
    base = f"/clinic/patients/{patient_id}"
    return [
        (base, N_("Dashboard")),
        (f"{base}#screening", N_("Screening")),
        (f"{base}/history", N_("Medical history")),
        (f"{base}/trials/new", N_("Plan a trial")),
    ]


def _latest_screenings(
    context: AppContext, actor: Actor, patient_id: int
) -> dict[str, ScreeningRead | None]:
    found: dict[str, ScreeningRead | None] = {}
    for substance in substance_ids():
        try:
            found[substance] = screening.latest_screening(
                context.db, actor, patient_id, substance, clock=context.clock
            )
        except NotFound:
            found[substance] = None
    return found


@router.get("/clinic/patients/{patient_id}")
def patient_dashboard(
    context: ContextDep, request: Request, user: PageUserDep, patient_id: int
) -> HTMLResponse:
    """One patient's record, screening, trials, open alerts and an interactive pain chart."""
    return render(request, "clinic_patient.html", dashboard_context(context, user, patient_id))


def dashboard_context(context: AppContext, user: PageUser, patient_id: int) -> dict[str, Any]:
    """What the patient dashboard shows (also re-rendered by a refused adverse-event form)."""
    actor = user.require(Action.USE_CLINIC_PAGES)
    patient = patients.get_patient(context.db, actor, patient_id, clock=context.clock)
    entries = records.list_diary_entries(context.db, actor, patient_id, clock=context.clock)
    return {
        "patient": patient,
        "patient_nav": patient_nav(patient_id),
        "chart": pain_chart(pain_points(entries), title=f"{patient.study_code}: daily pain"),
        "screenings": _latest_screenings(context, actor, patient_id),
        "trials": trial_views.list_trials(
            context.db, actor, patient_id=patient_id, clock=context.clock
        ),
        "alerts": alerts.list_alerts(context.db, actor, patient_id=patient_id, clock=context.clock),
        "adverse_events": adverse_events.list_adverse_events(
            context.db, actor, patient_id, clock=context.clock
        ),
        "reminders": reminder_settings.get_settings(
            context.db,
            actor,
            patient_id,
            smtp_on=bool(context.settings.smtp_host),
            clock=context.clock,
        )
        if user.may(Action.READ_REMINDERS)
        else None,
        "can_stop_feed": user.may(Action.STOP_REMINDER_FEED),
        "can_screen": user.may(Action.SCREEN),
        "can_sign_off": user.may(Action.SIGN_OFF_SCREENING),
        "can_plan": user.may(Action.PLAN_TRIAL),
        "can_record_ae": user.may(Action.RECORD_ADVERSE_EVENT),
        "can_review_ae": user.may(Action.REVIEW_ADVERSE_EVENT),
        "ae_outcomes": OUTCOMES,
        "ae_symptoms": adverse_events.symptom_choices(),
        **record_context(context, user, patient),
    }


def record_context(context: AppContext, user: PageUser, patient: PatientRead) -> dict[str, Any]:
    """What the patient page's record sections need (conditions, BP, mood, timeline, forms)."""
    actor = user.require(Action.USE_CLINIC_PAGES)
    now = context.clock().astimezone(ZoneInfo(patient.time_zone))
    return {
        "record_chart": patient_chart.patient_chart(
            context.db, actor, patient.id, clock=context.clock
        ),
        "condition_names": {c.icd10_code: condition_name(c.icd10_code) for c in patient.conditions},
        "condition_choices": patient_chart.condition_choices(),
        "can_add_records": user.may(Action.ADD_RECORDS),
        "can_correct": user.may(Action.CORRECT_RECORDS),
        "patient_today": now.date().isoformat(),
        "record_form": None,
    }


def dashboard_refused(
    context: AppContext, request: Request, user: PageUser, patient_id: int, form: FormState
) -> HTMLResponse:
    """The patient dashboard drawn again around one of its refused forms."""
    page = dashboard_context(context, user, patient_id)
    return render_form(request, "clinic_patient.html", page, form)


@router.post("/clinic/patients/{patient_id}/screenings")
def run_screening(
    context: ContextDep,
    request: Request,
    user: FormUserDep,
    values: FormValuesDep,
    patient_id: int,
) -> Response:
    """Screen the patient for a substance (stores the result and its findings)."""
    actor = user.require(Action.SCREEN)
    substance = values.get("substance", "")
    try:
        screening.screen_patient(context.db, actor, patient_id, substance, clock=context.clock)
    except REFUSALS as err:
        form = FormState.refused(f"screen-{substance}", values, err)
        return dashboard_refused(context, request, user, patient_id, form)
    return RedirectResponse(f"/clinic/patients/{patient_id}#screening", status_code=303)


@router.post("/clinic/patients/{patient_id}/screenings/{substance}/sign-off")
def sign_off_screening(
    context: ContextDep,
    request: Request,
    user: FormUserDep,
    values: FormValuesDep,
    patient_id: int,
    substance: str,
) -> Response:
    """Clear a clinician-review screening with a reason."""
    actor = user.require(Action.SIGN_OFF_SCREENING)
    current = screening.latest_screening(
        context.db, actor, patient_id, substance, clock=context.clock
    )
    try:
        if current.record_id != values.get("record_id"):
            raise ConflictError("screening: it changed since the page was loaded; review it again")
        screening.sign_off_screening(
            context.db, actor, current.record_id, values.get("reason", ""), clock=context.clock
        )
    except REFUSALS as err:
        form = FormState.refused(f"sign-off-{substance}", values, err, SIGN_OFF)
        return dashboard_refused(context, request, user, patient_id, form)
    return RedirectResponse(f"/clinic/patients/{patient_id}#screening", status_code=303)


@router.get("/clinic/patients/{patient_id}/history")
def history_form(
    context: ContextDep, request: Request, user: PageUserDep, patient_id: int
) -> HTMLResponse:
    """The medical-history questions screening needs."""
    actor = user.require(Action.RECORD_HISTORY)
    patient = patients.get_patient(context.db, actor, patient_id, clock=context.clock)
    answers = {h.flag: h.value for h in patient.history}
    return render(
        request,
        "history_flags.html",
        {
            "patient": patient,
            "flags": screening.history_flag_ids(),
            "questions": screening.history_questions(),
            "answers": answers,
        },
    )


@router.post("/clinic/patients/{patient_id}/history")
def save_history(
    context: ContextDep, user: FormUserDep, values: FormValuesDep, patient_id: int
) -> Response:
    """Store changed history answers (each a new version), then go back to screening."""
    actor = user.require(Action.RECORD_HISTORY)
    choices = {"yes": True, "no": False, "unknown": None}
    for flag in screening.history_flag_ids():
        answer = values.get(f"flag.{flag}")
        if answer in choices and answer != values.get(f"was.{flag}"):
            patients.set_history_flag(
                context.db, actor, patient_id, flag, choices[answer], clock=context.clock
            )
    return RedirectResponse(f"/clinic/patients/{patient_id}#screening", status_code=303)


@router.post("/clinic/patients/{patient_id}/medications")
def add_medication(
    context: ContextDep,
    request: Request,
    user: FormUserDep,
    values: FormValuesDep,
    patient_id: int,
) -> Response:
    """Add a medication as the patient reports it."""
    actor = user.require(Action.ADD_RECORDS)
    try:
        patients.add_medication(
            context.db, actor, patient_id, values.get("name", ""), clock=context.clock
        )
    except REFUSALS as err:
        form = FormState.refused("medication", values, err, MEDICATION)
        return dashboard_refused(context, request, user, patient_id, form)
    return RedirectResponse(f"/clinic/patients/{patient_id}", status_code=303)


@router.get("/clinic/enrol")
def enrol_form(request: Request, user: PageUserDep) -> HTMLResponse:
    """The enrolment form."""
    user.require(Action.ENROL_PATIENT)
    return render(request, "enrol.html", {"sexes": SEXES})


@router.post("/clinic/enrol")
def enrol(
    context: ContextDep, request: Request, user: FormUserDep, values: FormValuesDep
) -> Response:
    """Enrol a patient at the clinician's site, then open their dashboard."""
    actor = user.require(Action.ENROL_PATIENT)
    try:
        year = values.get("birth_year", "").strip()
        if not year.isdigit():
            raise ValidationError("birth_year", "enter a year such as 1980", value=year)
        conditions = [
            c for c in values.get("conditions", "").replace(";", ",").split(",") if c.strip()
        ]
        patient = patients.enrol_at_own_site(
            context.db,
            actor,
            study_code=values.get("study_code", "").strip(),
            birth_year=int(year),
            sex=values.get("sex", ""),
            time_zone=values.get("time_zone", "").strip(),
            conditions=conditions,
            clock=context.clock,
        )
    except REFUSALS as err:
        form = FormState.refused("enrol", values, err, ENROL)
        return render_form(request, "enrol.html", {"sexes": SEXES}, form)
    return RedirectResponse(f"/clinic/patients/{patient.id}", status_code=303)


@router.get("/clinic/alerts")
def alert_list(context: ContextDep, request: Request, user: PageUserDep) -> HTMLResponse:
    """The site's alerts a page at a time (open ones, newest first, unless filtered), each open
    one with an acknowledge form."""
    return render(request, "clinic_alerts.html", alerts_context(context, request, user))


ALERT_SORTS = (
    ("", N_("Newest first")),
    ("id", N_("Oldest first")),
    ("patient", N_("By patient")),
)


def alerts_context(context: AppContext, request: Request, user: PageUser) -> dict[str, Any]:
    """What the alert list shows (also drawn again around a refused acknowledgement)."""
    actor = user.require(Action.USE_CLINIC_PAGES)
    params = request.query_params
    state, severity = params.get("state", "open"), params.get("severity", "")
    # Escalated alerts (urgent, unacknowledged too long) come first, oldest first; then the rest.
    found = alerts.alert_page(
        context.db,
        actor,
        list_request(request),
        state=state,
        severity=severity,
        clamp=True,
        escalated_first=True,
        clock=context.clock,
    )
    overdue = {a.id for a in alerts.overdue_alerts(context.db, actor, clock=context.clock)}
    return {
        "alerts": found.items,
        "pager": pager(request, found.info),
        "pager_size": found.info.size,
        "state": state,
        "severity": severity,
        "sort": params.get("sort", ""),
        "states": alerts.ALERT_STATES,
        "severities": alerts.SEVERITIES,
        "sorts": ALERT_SORTS,
        "can_acknowledge": user.may(Action.ACKNOWLEDGE_ALERT),
        "overdue": overdue,
        # after an acknowledgement (its redirect says so): what happened to the alert
        "flash": ACKNOWLEDGED if params.get("acknowledged") else None,
    }


@router.post("/clinic/alerts/{alert_id}/acknowledge")
def acknowledge(
    context: ContextDep,
    request: Request,
    user: FormUserDep,
    values: FormValuesDep,
    alert_id: int,
) -> Response:
    """Acknowledge an alert with a note."""
    actor = user.require(Action.ACKNOWLEDGE_ALERT)
    try:
        alerts.acknowledge_alert(
            context.db, actor, alert_id, values.get("note", ""), clock=context.clock
        )
    except REFUSALS as err:
        form = FormState.refused(f"acknowledge-{alert_id}", values, err, ACKNOWLEDGE)
        page = alerts_context(context, request, user)
        return render_form(request, "clinic_alerts.html", page, form)
    return RedirectResponse(f"/clinic/alerts?acknowledged={alert_id}", status_code=303)
