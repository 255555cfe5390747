"""The clinician's worklist: the site's patients by urgency, with search, filters and pages."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from microtrial.domain.access import Action
from microtrial.errors import ValidationError
from microtrial.http.deps import ContextDep
from microtrial.services import worklist
from microtrial.services.worklist import WorklistQuery
from microtrial.web.rendering import render
from microtrial.web.session import PageUserDep

router = APIRouter(include_in_schema=False)


def _int(raw: str | None, field: str, default: int) -> int:
    """A whole number from the query string (ValidationError naming the field otherwise)."""
    if raw is None or not raw.strip():
        return default
    if not raw.strip().isdigit():
        raise ValidationError(field, "enter a whole number", value=raw, allowed=">= 1")
    return int(raw)


def query_from(request: Request) -> WorklistQuery:
    """The worklist query in a page request's query string."""
    params = request.query_params
    return WorklistQuery(
        search=params.get("q", ""),
        status=params.get("status", ""),
        open_alerts=params.get("alerts") == "1",
        page=_int(params.get("page"), "page", 1),
        page_size=_int(params.get("size"), "size", worklist.DEFAULT_PAGE_SIZE),
    )


def page_link(query: WorklistQuery, page: int) -> str:
    """The worklist address of another page of the same search and filters."""
    params: dict[str, str | int] = {}
    if query.search:
        params["q"] = query.search
    if query.status:
        params["status"] = query.status
    if query.open_alerts:
        params["alerts"] = "1"
    if query.page_size != worklist.DEFAULT_PAGE_SIZE:
        params["size"] = query.page_size
    params["page"] = page
    return "/clinic/patients?" + urlencode(params)


@router.get("/clinic/patients")
def patient_list(context: ContextDep, request: Request, user: PageUserDep) -> HTMLResponse:
    """The site's patients, most urgent first; search by study code, filter, page."""
    actor = user.require(Action.USE_CLINIC_PAGES)
    result = worklist.worklist(context.db, actor, query_from(request), clock=context.clock)
    previous = page_link(result.query, result.page - 1) if result.page > 1 else None
    following = page_link(result.query, result.page + 1) if result.page < result.pages else None
    return render(
        request,
        "clinic_patients.html",
        {
            "result": result,
            "statuses": worklist.STATUS_CHOICES,
            "page_sizes": worklist.PAGE_SIZES,
            "previous": previous,
            "following": following,
            "can_enrol": user.may(Action.ENROL_PATIENT),
        },
    )
