"""After unblinding: a trial's result and report; the researcher's de-identified cohort."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from microtrial import i18n
from microtrial.domain.access import Action
from microtrial.domain.actors import Actor
from microtrial.domain.catalog import load_catalog
from microtrial.errors import NotFound
from microtrial.http.deps import AppContext, ContextDep
from microtrial.http.results import cohort, research_zip
from microtrial.http.tables import records
from microtrial.reports.cohort_report import render_cohort_reports
from microtrial.reports.trial_endpoint import endpoint_result
from microtrial.reports.trial_report import Audience, trial_report
from microtrial.services import analysis, report_data
from microtrial.settings import export_secret
from microtrial.web.charts import arm_chart, forest_chart
from microtrial.web.rendering import page_language, render
from microtrial.web.session import PageUserDep

router = APIRouter(include_in_schema=False)


@router.get("/clinic/trials/{trial_id}/result")
def result_page(
    context: ContextDep, request: Request, user: PageUserDep, trial_id: int
) -> HTMLResponse:
    """The trial's result: effects with credible intervals, the condition endpoint, blinding."""
    actor = user.require(Action.USE_CLINIC_PAGES)
    found = analysis.analyse_trial(context.db, actor, trial_id, clock=context.clock)
    days = records(found.days)
    with i18n.speaking(page_language(request)):  # the endpoint's words, made here, not in render
        endpoint = endpoint_result(found)
    return render(
        request,
        "result.html",
        {
            "trial": found.trial,
            "results": records(found.results),
            "periods": records(found.period_means),
            "blinding": found.blinding.as_dict() if found.blinding else None,
            "found": found,
            "endpoint": endpoint,
            "chart": arm_chart(
                days,
                title="Daily pain by arm",
                adverse_events=[(str(e.onset_date), e.grade) for e in found.adverse_events],
            ),
        },
    )


REPORT_TYPES = {"html": "text/html; charset=utf-8", "pdf": "application/pdf"}


def _report(
    context: AppContext,
    actor: Actor,
    trial_id: int,
    fmt: str,
    audience: Audience,
    language: str = i18n.DEFAULT,
) -> Response:
    if fmt not in REPORT_TYPES:
        raise NotFound(f"report: no {fmt!r} format")
    with i18n.speaking(language):
        content = trial_report(
            context.db, actor, trial_id, audience=audience, fmt=fmt, clock=context.clock
        )
    return Response(
        content,
        media_type=REPORT_TYPES[fmt],
        headers={
            # The web page opens in the browser ("as a web page"); the PDF is a file to keep.
            "Content-Disposition": f"{'inline' if fmt == 'html' else 'attachment'}; "
            f'filename="trial-{trial_id}-{audience}.{fmt}"'
        },
    )


@router.get("/clinic/trials/{trial_id}/report.{fmt}")
def clinician_report(
    context: ContextDep, request: Request, user: PageUserDep, trial_id: int, fmt: str
) -> Response:
    """The clinician's trial report (HTML or PDF) after unblinding, in the reader's language."""
    actor = user.require(Action.READ_CLINICIAN_REPORT)
    return _report(context, actor, trial_id, fmt, "clinician", page_language(request, actor))


@router.get("/my/trials/{trial_id}/report.{fmt}")
def patient_report(
    context: ContextDep, request: Request, user: PageUserDep, trial_id: int, fmt: str
) -> Response:
    """The patient's own trial report, in plain language and their language, after unblinding."""
    actor = user.require(Action.USE_PATIENT_APP)
    language = page_language(request, actor)
    return _report(context, actor, trial_id, fmt, "patient", language)


@router.get("/research")
def research(
    context: ContextDep, request: Request, user: PageUserDep, condition: str | None = None
) -> HTMLResponse:
    """The de-identified cohort: pooled effects by condition group and a forest plot."""
    actor = user.require(Action.USE_RESEARCH_PAGES)
    result = cohort(context, actor, condition or None)
    pain = [r for r in result.results if r.get("outcome") == "pain"]
    return render(
        request,
        "research.html",
        {
            "cohort": result,
            "pain": pain,
            "condition": condition or "",
            "groups": sorted({c.group for c in load_catalog().conditions.values()}),
            "chart": forest_chart(pain, title="Per-trial effect on daily pain"),
            # Without an export key the download would only be refused: say so instead.
            "export_ready": export_secret(context.settings) is not None,
        },
    )


@router.get("/research/report.{fmt}")
def research_report(
    context: ContextDep, request: Request, user: PageUserDep, fmt: str, condition: str = ""
) -> Response:
    """The cohort report of the trials the researcher may see (one condition group or all)."""
    actor = user.require(Action.USE_RESEARCH_PAGES)
    if fmt not in REPORT_TYPES:
        raise NotFound(f"report: no {fmt!r} format")
    data = report_data.cohort_report_data(
        context.db, actor, condition=condition or None, clock=context.clock
    )
    with i18n.speaking(page_language(request, actor)):
        content = render_cohort_reports(data, (fmt,))[fmt]
    return Response(
        content,
        media_type=REPORT_TYPES[fmt],
        headers={
            "Content-Disposition": f"{'inline' if fmt == 'html' else 'attachment'}; "
            f'filename="cohort-{condition or "all"}.{fmt}"'
        },
    )


@router.get("/research/export.zip")
def research_export(context: ContextDep, user: PageUserDep) -> Response:
    """Download the de-identified research export (CSV tables and a manifest)."""
    actor = user.require(Action.USE_RESEARCH_PAGES)
    return Response(
        research_zip(context, actor),
        media_type="application/zip",
        headers={"Content-Disposition": 'attachment; filename="microtrial-research.zip"'},
    )
