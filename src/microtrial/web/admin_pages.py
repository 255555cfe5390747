"""Administrator pages: sites and users."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from microtrial.domain.access import Action
from microtrial.domain.actors import USER_ROLES
from microtrial.errors import ConflictError, NotFound, ValidationError
from microtrial.http.deps import ContextDep
from microtrial.services import admin
from microtrial.web.rendering import render
from microtrial.web.session import FormUserDep, FormValuesDep, PageUserDep

router = APIRouter(include_in_schema=False)


def _admin_page(
    context: ContextDep,
    request: Request,
    user: PageUserDep,
    *,
    values: dict[str, str] | None = None,
    error: str | None = None,
    flash: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    actor = user.require(Action.ADMINISTER)
    return render(
        request,
        "admin.html",
        {
            "sites": admin.list_sites(context.db, actor),
            "users": admin.list_users(context.db, actor, clock=context.clock),
            "roles": USER_ROLES,
            "values": values or {},
            "error": error,
            "flash": flash,
        },
        status=status,
    )


@router.get("/admin")
def admin_home(
    context: ContextDep, request: Request, user: PageUserDep, saved: str = ""
) -> HTMLResponse:
    """Sites and users."""
    return _admin_page(context, request, user, flash=f"{saved} saved." if saved else None)


@router.post("/admin/sites")
def add_site(
    context: ContextDep, request: Request, user: FormUserDep, values: FormValuesDep
) -> Response:
    """Add a site."""
    actor = user.require(Action.ADMINISTER)
    try:
        admin.add_site(
            context.db,
            actor,
            values.get("code", "").strip(),
            values.get("name", "").strip() or None,
            clock=context.clock,
        )
    except (ValidationError, ConflictError) as err:
        return _admin_page(context, request, user, values=values, error=str(err), status=422)
    return RedirectResponse("/admin?saved=Site", status_code=303)


@router.post("/admin/users")
def add_user(
    context: ContextDep, request: Request, user: FormUserDep, values: FormValuesDep
) -> Response:
    """Add a user with a role at a site (a patient user is linked to a study code)."""
    actor = user.require(Action.ADMINISTER)
    try:
        admin.add_user(
            context.db,
            actor,
            site_code=values.get("site", ""),
            role=values.get("role", ""),
            username=values.get("username", "").strip(),
            password=values.get("password", ""),
            patient_code=values.get("patient_code", "").strip() or None,
            email=values.get("email", "").strip() or None,
            clock=context.clock,
        )
    except (ValidationError, ConflictError, NotFound) as err:
        values = {k: v for k, v in values.items() if k != "password"}
        return _admin_page(context, request, user, values=values, error=str(err), status=422)
    return RedirectResponse("/admin?saved=User", status_code=303)
