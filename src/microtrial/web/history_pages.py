"""The patient's History page (server-drawn SVG charts with tables, no chart library) and the
download of their own diary as CSV or PDF."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from microtrial import i18n
from microtrial.domain import lifecycle
from microtrial.domain.access import Action
from microtrial.errors import NotFound
from microtrial.http.deps import ContextDep
from microtrial.reports.diary_export import EMPTY, diary_csv, diary_pdf, history_charts
from microtrial.services import trial_views
from microtrial.services.patient_history import diary_history
from microtrial.web.item_language import export_row_text
from microtrial.web.rendering import page_language, render
from microtrial.web.session import PageUserDep

router = APIRouter(include_in_schema=False)

EXPORT_TYPES = {"csv": "text/csv; charset=utf-8", "pdf": "application/pdf"}


@router.get("/history")
def history(context: ContextDep, request: Request, user: PageUserDep) -> HTMLResponse:
    """The patient's own pain, sleep, mood and capsules as charts and tables (arms only after
    unblinding)."""
    actor = user.require(Action.USE_PATIENT_APP)
    found = diary_history(context.db, actor, clock=context.clock)
    finished = [
        t
        for t in trial_views.list_trials(context.db, actor, clock=context.clock)
        if t.status == lifecycle.TrialStatus.UNBLINDED
    ]
    doses = {d.date for d in found.doses}
    dates = sorted({d.date for d in found.days} | doses, reverse=True)
    by_day = {d.date: d for d in found.days}
    with i18n.speaking(page_language(request, actor)):
        charts = history_charts(found)
    return render(
        request,
        "history.html",
        {
            "history": found,
            "charts": charts,
            "empty": EMPTY,
            "rows": [(day, by_day.get(day), day in doses) for day in dates],
            "arm_of": {
                day: p.arm
                for p in found.periods
                for day in dates
                if p.arm and p.start_date <= day <= p.end_date
            },
            "finished": finished,
        },
    )


@router.get("/history/diary.{fmt}")
def export_diary(context: ContextDep, request: Request, user: PageUserDep, fmt: str) -> Response:
    """Download the patient's own diary (every answer, and the capsules) as CSV or PDF."""
    actor = user.require(Action.USE_PATIENT_APP)
    if fmt not in EXPORT_TYPES:
        raise NotFound(f"export: no {fmt!r} format")
    found = diary_history(context.db, actor, export=fmt, clock=context.clock)
    with i18n.speaking(page_language(request, actor)):  # the PDF in the patient's language
        if fmt == "csv":  # data to open elsewhere: the answers' words as recorded, in English
            content: str | bytes = diary_csv(found)
        else:
            worded = found.model_copy(update={"rows": [export_row_text(r) for r in found.rows]})
            content = diary_pdf(worded, generated_at=context.clock())
    return Response(
        content,
        media_type=EXPORT_TYPES[fmt],
        headers={
            "Content-Disposition": (
                f'attachment; filename="my-diary-{found.study_code}-{found.local_date}.{fmt}"'
            ),
            "Cache-Control": "no-store",
        },
    )
