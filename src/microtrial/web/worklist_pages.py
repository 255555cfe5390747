"""The clinician's worklist: the site's patients by urgency, with search, filters and pages."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from microtrial.domain.access import Action
from microtrial.domain.paging import PageInfo
from microtrial.http.deps import ContextDep
from microtrial.services import worklist
from microtrial.services.worklist import WorklistQuery
from microtrial.web.listing import pager, whole_number
from microtrial.web.rendering import render
from microtrial.web.session import PageUserDep

router = APIRouter(include_in_schema=False)


def query_from(request: Request) -> WorklistQuery:
    """The worklist query in a page request's query string."""
    params = request.query_params
    return WorklistQuery(
        search=params.get("q", ""),
        status=params.get("status", ""),
        open_alerts=params.get("alerts") == "1",
        page=whole_number(params.get("page"), "page", 1),
        page_size=whole_number(params.get("size"), "size", worklist.DEFAULT_PAGE_SIZE),
    )


@router.get("/clinic/patients")
def patient_list(context: ContextDep, request: Request, user: PageUserDep) -> HTMLResponse:
    """The site's patients, most urgent first; search by study code, filter, page."""
    actor = user.require(Action.USE_CLINIC_PAGES)
    result = worklist.worklist(context.db, actor, query_from(request), clock=context.clock)
    info = PageInfo(
        offset=(result.page - 1) * result.page_size,
        size=result.page_size,
        total=result.total,
        sort="urgency",
        shown=len(result.rows),
    )
    return render(
        request,
        "clinic_patients.html",
        {
            "result": result,
            "statuses": worklist.STATUS_CHOICES,
            "page_sizes": worklist.PAGE_SIZES,
            "pager": pager(request, info),
            "can_enrol": user.may(Action.ENROL_PATIENT),
        },
    )
