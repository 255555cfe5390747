"""Results: one unblinded trial's analysis, and the de-identified cohort (pooled, exportable)."""

from __future__ import annotations

import json
from typing import Any, Literal

import pandas as pd
from fastapi import APIRouter, Response
from pydantic import BaseModel

from microtrial.api.actions import takes
from microtrial.domain.access import Action, allows
from microtrial.domain.actors import Actor
from microtrial.http.deps import ActorDep, AppContext, ContextDep
from microtrial.http.results import CohortRead, cohort, research_zip
from microtrial.http.tables import records
from microtrial.reports.trial_report import trial_report
from microtrial.services import adaptive, analysis, exports
from microtrial.services.adaptive import LookRead
from microtrial.services.trial_views import TrialRead

router = APIRouter(tags=["results"])


class TrialResultRead(BaseModel):
    """A trial's analysis: effects per outcome (active minus placebo), period means, blinding."""

    trial: TrialRead
    condition_group: str | None
    primary: dict[str, Any]
    results: list[dict[str, Any]]
    period_means: list[dict[str, Any]]
    guesses: list[dict[str, Any]]
    blinding: dict[str, Any] | None
    doses_planned: int
    doses_taken: int
    warnings: list[str]
    # Migraine/cluster: the primary endpoint through the binary/count model (None otherwise).
    endpoint: dict[str, Any] | None = None
    # An adaptive trial's interim looks with the estimate each saw (shown only once unblinded).
    interim_looks: list[LookRead] = []


def trial_result(context: AppContext, actor: Actor, trial_id: int) -> TrialResultRead:
    """The analysis of an unblinded trial as a response body."""
    result = analysis.analyse_trial(context.db, actor, trial_id, clock=context.clock)
    return TrialResultRead(
        trial=result.trial,
        condition_group=result.condition_group,
        primary=result.primary,
        results=records(result.results),
        period_means=records(result.period_means),
        guesses=records(result.guesses),
        blinding=result.blinding.as_dict() if result.blinding else None,
        doses_planned=result.doses_planned,
        doses_taken=result.doses_taken,
        warnings=list(result.warnings),
        endpoint=_endpoint(result.endpoint),
        interim_looks=(
            adaptive.interim_looks(context.db, actor, trial_id, clock=context.clock)
            if result.trial.adaptive
            else []
        ),
    )


def _endpoint(e: analysis.EndpointAnalysis | None) -> dict[str, Any] | None:
    """The endpoint's identity and engine row (log-ratio scale), or why it was not analysed."""
    if e is None:
        return None
    row = records(pd.DataFrame([e.result]))[0] if e.result else None
    return {
        "endpoint_id": e.endpoint_id,
        "description": e.description,
        "instrument": e.instrument,
        "outcome_type": e.outcome_type,
        "entries": e.entries,
        "result": row,
        "reason": e.reason,
    }


@router.get("/trials/{trial_id}/result", openapi_extra=takes(Action.ANALYSE_TRIAL))
def read_trial_result(context: ContextDep, actor: ActorDep, trial_id: int) -> TrialResultRead:
    """The trial's result (409 while it is still blinded)."""
    return trial_result(context, actor, trial_id)


@router.get(
    "/trials/{trial_id}/report",
    openapi_extra=takes(Action.ANALYSE_TRIAL),
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}, "text/html": {}}}},
)
def read_trial_report(
    context: ContextDep,
    actor: ActorDep,
    trial_id: int,
    format: Literal["html", "pdf"] = "pdf",
    audience: Literal["clinician", "patient"] = "clinician",
) -> Response:
    """The trial report after unblinding (a patient always gets the patient version)."""
    if not allows(actor, Action.READ_CLINICIAN_REPORT):
        audience = "patient"
    content = trial_report(
        context.db, actor, trial_id, audience=audience, fmt=format, clock=context.clock
    )
    media = "application/pdf" if format == "pdf" else "text/html; charset=utf-8"
    return Response(content, media_type=media)


@router.get("/cohort", openapi_extra=takes(Action.READ_COHORT))
def read_cohort(
    context: ContextDep, actor: ActorDep, condition_group: str | None = None
) -> CohortRead:
    """Pooled results of every unblinded trial (researchers: all sites; clinicians: theirs)."""
    return cohort(context, actor, condition_group)


@router.get(
    "/cohort/export",
    openapi_extra=takes(Action.RESEARCH_EXPORT),
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}}},
)
def export_cohort(context: ContextDep, actor: ActorDep) -> Response:
    """The de-identified research export (researchers), as a zip of CSV files."""
    return Response(
        research_zip(context, actor),
        media_type="application/zip",
        headers={"Content-Disposition": 'attachment; filename="microtrial-research.zip"'},
    )


@router.get(
    "/fhir/Patient/{patient_id}/$everything",
    openapi_extra=takes(Action.READ_PATIENT),
    response_class=Response,
    responses={200: {"content": {"application/fhir+json": {}}}},
    tags=["fhir"],
)
def fhir_everything(context: ContextDep, actor: ActorDep, patient_id: int) -> Response:
    """The patient's record as a FHIR R4 searchset Bundle (no arm while the trial is blinded)."""
    bundle = exports.fhir_bundle_for_patient(context.db, actor, patient_id, clock=context.clock)
    return Response(json.dumps(bundle), media_type="application/fhir+json")
