"""The clinician's record forms on the patient page: conditions (from the catalog), stopping a
medication, and a blood pressure measured in the clinic.

A refused form re-renders the patient page (422) with the typed values kept and the error beside
its field; an accepted one goes back to the page's section.
"""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from microtrial.domain.access import Action
from microtrial.domain.inputs import check_moment
from microtrial.errors import ValidationError
from microtrial.http.deps import AppContext, ContextDep
from microtrial.services import patient_chart, patients
from microtrial.web.clinic_pages import dashboard_context
from microtrial.web.forms import FormSpec, FormState
from microtrial.web.rendering import render
from microtrial.web.session import FormUserDep, FormValuesDep, PageUser

router = APIRouter(include_in_schema=False)
# The forms' fields by label; the service names that mean them (a BP item is "clinic_bp.<field>").
RECORD = FormSpec(
    {
        "code": "Condition",
        "reason": "Reason",
        "end_date": "End date",
        "local_date": "Date measured",
        "systolic": "Systolic (mmHg)",
        "diastolic": "Diastolic (mmHg)",
        "pulse": "Pulse",
    },
    {
        "date": "local_date",
        "clinic_bp.systolic": "systolic",
        "clinic_bp.diastolic": "diastolic",
        "clinic_bp.pulse": "pulse",
    },
    choices=frozenset({"code"}),
)


def _refused(
    context: AppContext,
    request: Request,
    user: PageUser,
    patient_id: int,
    form: tuple[str, dict[str, str]],
    err: ValidationError,
) -> HTMLResponse:
    """The patient page again around a refused record form (the shared FormState wording)."""
    key, values = form
    state = FormState.refused(key, values, err, RECORD)
    page = dashboard_context(context, user, patient_id)
    page["record_form"] = state
    page["error"] = state.message
    return render(request, "clinic_patient.html", page, status=422)


def _back(patient_id: int, anchor: str) -> RedirectResponse:
    return RedirectResponse(f"/clinic/patients/{patient_id}#{anchor}", status_code=303)


def _date(values: dict[str, str], field: str) -> dt.date:
    raw = values.get(field, "").strip()
    try:
        day = dt.date.fromisoformat(raw)
    except ValueError as err:
        raise ValidationError(field, f"{raw!r} is not a date", allowed="YYYY-MM-DD") from err
    return check_moment(field, day)


def _whole(values: dict[str, str], field: str) -> int:
    raw = values.get(field, "").strip()
    if not raw.isdigit():
        raise ValidationError(field, "enter a whole number", value=raw)
    return int(raw)


@router.post("/clinic/patients/{patient_id}/conditions")
def add_condition(
    context: ContextDep,
    request: Request,
    user: FormUserDep,
    values: FormValuesDep,
    patient_id: int,
) -> Response:
    """Add a condition chosen from the catalog list."""
    actor = user.require(Action.ADD_RECORDS)
    try:
        code = values.get("code", "")
        if code not in {c.code for c in patient_chart.condition_choices()}:
            raise ValidationError("code", "choose a condition from the list", value=code)
        patients.add_condition(context.db, actor, patient_id, code, clock=context.clock)
    except ValidationError as err:
        return _refused(context, request, user, patient_id, ("condition", values), err)
    return _back(patient_id, "conditions")


@router.post("/clinic/patients/{patient_id}/conditions/{record_id}/resolve")
def resolve_condition(
    context: ContextDep,
    request: Request,
    user: FormUserDep,
    values: FormValuesDep,
    patient_id: int,
    record_id: str,
) -> Response:
    """Mark a condition resolved, with a reason (a new version of the record)."""
    actor = user.require(Action.CORRECT_RECORDS)
    try:
        patients.correct_record(
            context.db,
            actor,
            "condition",
            record_id,
            {"status": "resolved"},
            values.get("reason", ""),
            patient_id=patient_id,
            clock=context.clock,
        )
    except ValidationError as err:
        key = f"resolve:{record_id}"
        return _refused(context, request, user, patient_id, (key, values), err)
    return _back(patient_id, "conditions")


@router.post("/clinic/patients/{patient_id}/medications/{record_id}/stop")
def stop_medication(
    context: ContextDep,
    request: Request,
    user: FormUserDep,
    values: FormValuesDep,
    patient_id: int,
    record_id: str,
) -> Response:
    """Stop a medication on an end date, with a reason."""
    actor = user.require(Action.CORRECT_RECORDS)
    try:
        patient_chart.stop_medication(
            context.db,
            actor,
            patient_id,
            record_id,
            _date(values, "end_date"),
            values.get("reason", ""),
            clock=context.clock,
        )
    except ValidationError as err:
        key = f"stop:{record_id}"
        return _refused(context, request, user, patient_id, (key, values), err)
    return _back(patient_id, "medications")


@router.post("/clinic/patients/{patient_id}/blood-pressure")
def record_clinic_bp(
    context: ContextDep,
    request: Request,
    user: FormUserDep,
    values: FormValuesDep,
    patient_id: int,
) -> Response:
    """Record a blood pressure measured in the clinic (the blood-pressure rules apply)."""
    actor = user.require(Action.ADD_RECORDS)
    try:
        pulse = _whole(values, "pulse") if values.get("pulse", "").strip() else None
        patient_chart.record_clinic_bp(
            context.db,
            actor,
            patient_id,
            _date(values, "local_date"),
            _whole(values, "systolic"),
            _whole(values, "diastolic"),
            pulse,
            clock=context.clock,
        )
    except ValidationError as err:
        return _refused(context, request, user, patient_id, ("bp", values), err)
    return _back(patient_id, "blood-pressure")
