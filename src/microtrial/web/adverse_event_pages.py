"""Clinician forms for adverse events on the patient page: record, confirm, regrade and close.

A refused form re-renders the patient page (422) with the typed values kept and the error beside
its field; an accepted one goes back to the page's adverse-event list.
"""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from microtrial.domain.access import Action
from microtrial.domain.inputs import check_moment
from microtrial.errors import ValidationError
from microtrial.http.deps import ContextDep
from microtrial.services import adverse_events
from microtrial.web.clinic_pages import dashboard_refused
from microtrial.web.forms import REFUSALS, FormSpec, FormState
from microtrial.web.session import FormUserDep, FormValuesDep

router = APIRouter(include_in_schema=False)

ADVERSE_EVENT = FormSpec(
    {
        "term": "Event",
        "grade": "CTCAE grade",
        "onset_date": "Onset date",
        "outcome": "Outcome",
        "resolved_date": "Resolution date",
        "reason": "Reason",
        "symptoms": "Red-flag symptoms",
    },
    choices=frozenset({"grade", "outcome", "symptoms"}),
)
# A ticked red-flag symptom's checkbox: "symptom.<catalog symptom code>".
SYMPTOM = "symptom."


def _date(values: dict[str, str], field: str) -> dt.date | None:
    raw = values.get(field, "").strip()
    if not raw:
        return None
    try:
        day = dt.date.fromisoformat(raw)
    except ValueError as err:
        raise ValidationError(field, f"{raw!r} is not a date", allowed="YYYY-MM-DD") from err
    return check_moment(field, day)


def _grade(values: dict[str, str]) -> int | None:
    raw = values.get("grade", "").strip()
    if not raw:
        return None
    if not raw.isdigit():
        raise ValidationError("grade", f"{raw!r} is not a grade", allowed="1..5")
    return int(raw)


def _back(patient_id: int) -> RedirectResponse:
    return RedirectResponse(f"/clinic/patients/{patient_id}#adverse-events", status_code=303)


@router.post("/clinic/patients/{patient_id}/adverse-events")
def record_adverse_event(
    context: ContextDep,
    request: Request,
    user: FormUserDep,
    values: FormValuesDep,
    patient_id: int,
) -> Response:
    """Record an adverse event the clinician has seen (confirmed at once)."""
    actor = user.require(Action.RECORD_ADVERSE_EVENT)
    try:
        grade, onset = _grade(values), _date(values, "onset_date")
        if grade is None:
            raise ValidationError("grade", "choose a grade", allowed="1..5")
        if onset is None:
            raise ValidationError("onset_date", "enter the onset date", allowed="YYYY-MM-DD")
        adverse_events.record_adverse_event(
            context.db,
            actor,
            patient_id,
            term=values.get("term", ""),
            grade=grade,
            serious=values.get("serious") == "on",
            onset_date=onset,
            symptoms=[k.removeprefix(SYMPTOM) for k, v in values.items() if k.startswith(SYMPTOM)],
            clock=context.clock,
        )
    except REFUSALS as err:
        form = FormState.refused("ae-new", values, err, ADVERSE_EVENT)
        return dashboard_refused(context, request, user, patient_id, form)
    return _back(patient_id)


@router.post("/clinic/patients/{patient_id}/adverse-events/{record_id}")
def review_adverse_event(
    context: ContextDep,
    request: Request,
    user: FormUserDep,
    values: FormValuesDep,
    patient_id: int,
    record_id: str,
) -> Response:
    """Confirm, regrade or close an adverse event at the version the page showed."""
    actor = user.require(Action.REVIEW_ADVERSE_EVENT)
    action = values.get("action", "")
    try:
        version = values.get("version", "")
        serious = values.get("serious") == "on" if "serious_shown" in values else None
        review = adverse_events.AdverseEventReview(
            action=action,
            grade=_grade(values),
            serious=serious,
            outcome=values.get("outcome") or None,
            resolved_date=_date(values, "resolved_date"),
            reason=values.get("reason") or None,
        )
        adverse_events.review_adverse_event(
            context.db,
            actor,
            patient_id,
            record_id,
            review,
            expected_version=int(version) if version.isdigit() else None,
            clock=context.clock,
        )
    except REFUSALS as err:
        form = FormState.refused(f"ae-{record_id}-{action}", values, err, ADVERSE_EVENT)
        return dashboard_refused(context, request, user, patient_id, form)
    return _back(patient_id)
