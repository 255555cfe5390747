"""Clinician pages: patient list with alert badges and adherence, enrolment, patient dashboard."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from microtrial.api.deps import ContextDep
from microtrial.domain.actors import Role
from microtrial.domain.patients import SEXES
from microtrial.errors import ValidationError
from microtrial.services import patients, records, web_support
from microtrial.web.charts import pain_chart, pain_points
from microtrial.web.rendering import render
from microtrial.web.session import FormUserDep, FormValuesDep, PageUserDep

router = APIRouter(include_in_schema=False)
STAFF = (Role.CLINICIAN, Role.UNBLINDED_STAFF)


@router.get("/clinic/patients")
def patient_list(context: ContextDep, request: Request, user: PageUserDep) -> HTMLResponse:
    """The site's patients with open alerts and diary adherence."""
    actor = user.require(*STAFF)
    rows = web_support.clinic_overview(context.db, actor, clock=context.clock)
    return render(
        request,
        "clinic_patients.html",
        {"rows": rows, "window": web_support.ADHERENCE_WINDOW_DAYS},
    )


def patient_nav(patient_id: int) -> list[tuple[str, str]]:
    """Links of a patient's clinician pages."""
    base = f"/clinic/patients/{patient_id}"
    return [(base, "Dashboard")]


@router.get("/clinic/patients/{patient_id}")
def patient_dashboard(
    context: ContextDep, request: Request, user: PageUserDep, patient_id: int
) -> HTMLResponse:
    """One patient's record and an interactive pain chart."""
    actor = user.require(*STAFF)
    patient = patients.get_patient(context.db, actor, patient_id, clock=context.clock)
    entries = records.list_diary_entries(context.db, actor, patient_id, clock=context.clock)
    return render(
        request,
        "clinic_patient.html",
        {
            "patient": patient,
            "patient_nav": patient_nav(patient_id),
            "chart": pain_chart(pain_points(entries), title=f"{patient.study_code}: daily pain"),
        },
    )


@router.post("/clinic/patients/{patient_id}/medications")
def add_medication(
    context: ContextDep, user: FormUserDep, values: FormValuesDep, patient_id: int
) -> Response:
    """Add a medication as the patient reports it."""
    actor = user.require(Role.CLINICIAN)
    patients.add_medication(
        context.db, actor, patient_id, values.get("name", ""), clock=context.clock
    )
    return RedirectResponse(f"/clinic/patients/{patient_id}", status_code=303)


def _enrol_page(
    request: Request, values: dict[str, str], error: str | None = None, status: int = 200
) -> HTMLResponse:
    return render(
        request,
        "enrol.html",
        {"values": values, "sexes": SEXES, "error": error},
        status=status,
    )


@router.get("/clinic/enrol")
def enrol_form(request: Request, user: PageUserDep) -> HTMLResponse:
    """The enrolment form."""
    user.require(Role.CLINICIAN)
    return _enrol_page(request, {})


@router.post("/clinic/enrol")
def enrol(
    context: ContextDep, request: Request, user: FormUserDep, values: FormValuesDep
) -> Response:
    """Enrol a patient at the clinician's site, then open their dashboard."""
    actor = user.require(Role.CLINICIAN)
    try:
        year = values.get("birth_year", "").strip()
        if not year.isdigit():
            raise ValidationError("birth_year", "enter a year such as 1980", value=year)
        conditions = [
            c for c in values.get("conditions", "").replace(";", ",").split(",") if c.strip()
        ]
        patient = web_support.enrol_at_own_site(
            context.db,
            actor,
            study_code=values.get("study_code", "").strip(),
            birth_year=int(year),
            sex=values.get("sex", ""),
            time_zone=values.get("time_zone", "").strip(),
            conditions=conditions,
            clock=context.clock,
        )
    except ValidationError as err:
        return _enrol_page(request, values, str(err), status=422)
    return RedirectResponse(f"/clinic/patients/{patient.id}", status_code=303)
