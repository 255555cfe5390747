"""Administrator pages: sites and users."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from microtrial.domain.access import Action
from microtrial.domain.actors import USER_ROLES, Actor
from microtrial.errors import ConflictError, NotFound, SafetyBlock, ValidationError
from microtrial.http.deps import AppContext, ContextDep
from microtrial.services import admin, users
from microtrial.web.forms import REFUSALS, FormSpec, FormState
from microtrial.web.rendering import render, render_form
from microtrial.web.session import FormUserDep, FormValuesDep, PageUser, PageUserDep

router = APIRouter(include_in_schema=False)

SITE = FormSpec({"code": "Code", "name": "Name"}, {"site": "code"})
USER = FormSpec(
    {
        "site": "Site",
        "role": "Role",
        "username": "Username",
        "password": "Initial password",
        "patient_code": "Patient study code",
        "email": "E-mail",
    },
    {"patient": "patient_code"},
    choices=frozenset({"site", "role"}),
)

# The three lifecycle forms (deactivate, role, password) of a user of the admin's site.
CHANGE_USER = FormSpec(
    {"username": "User", "role": "New role", "password": "New password"},
    choices=frozenset({"username", "role"}),
)


def _admin_page(
    context: ContextDep,
    request: Request,
    user: PageUser,
    *,
    form: FormState | None = None,
    flash: str | None = None,
) -> HTMLResponse:
    actor = user.require(Action.ADMINISTER)
    page = {
        "sites": admin.list_sites(context.db, actor),
        "users": admin.list_users(context.db, actor, clock=context.clock),
        "roles": USER_ROLES,
        "can_add_site": user.may(Action.ADD_SITE),
        "can_manage_users": user.may(Action.MANAGE_USERS),
        "flash": flash,
    }
    if form is not None:
        return render_form(request, "admin.html", page, form)
    return render(request, "admin.html", page)


@router.get("/admin")
def admin_home(
    context: ContextDep, request: Request, user: PageUserDep, saved: str = ""
) -> HTMLResponse:
    """Sites and users."""
    flash = {"Site": "Site saved.", "User": "User saved."}.get(saved)
    return _admin_page(context, request, user, flash=flash)


@router.post("/admin/sites")
def add_site(
    context: ContextDep, request: Request, user: FormUserDep, values: FormValuesDep
) -> Response:
    """Add a site (the installation's operator; a site's admin is refused)."""
    actor = user.require(Action.ADD_SITE)
    try:
        admin.add_site(
            context.db,
            actor,
            values.get("code", "").strip(),
            values.get("name", "").strip() or None,
            clock=context.clock,
        )
    except REFUSALS as err:
        form = FormState.refused("site", values, err, SITE)
        return _admin_page(context, request, user, form=form)
    return RedirectResponse("/admin?saved=Site", status_code=303)


@router.post("/admin/users")
def add_user(
    context: ContextDep, request: Request, user: FormUserDep, values: FormValuesDep
) -> Response:
    """Add a user with a role at a site (a patient user is linked to a study code)."""
    actor = user.require(Action.ADMINISTER)
    patient_code = values.get("patient_code", "").strip() or None
    try:
        if values.get("role") == "patient" and patient_code is None:
            raise ValidationError("patient_code", "a patient user needs the patient's study code")
        admin.add_user(
            context.db,
            actor,
            site_code=values.get("site", ""),
            role=values.get("role", ""),
            username=values.get("username", "").strip(),
            password=values.get("password", ""),
            patient_code=patient_code,
            email=values.get("email", "").strip() or None,
            clock=context.clock,
        )
    except (ValidationError, ConflictError, SafetyBlock, NotFound) as err:
        form = FormState.refused("user", values, err, USER)
        return _admin_page(context, request, user, form=form)
    return RedirectResponse("/admin?saved=User", status_code=303)


@router.post("/admin/users/status")
def set_user_status(
    context: ContextDep, request: Request, user: FormUserDep, values: FormValuesDep
) -> Response:
    """Deactivate or reactivate a user of the admin's site (their sessions end at once)."""
    active = values.get("do") == "reactivate"
    db, clock = context.db, context.clock
    return _change_user(
        context, request, user, values, "user-status",
        lambda actor, name: users.set_active(db, actor, name, active, clock=clock),
    )  # fmt: skip


@router.post("/admin/users/role")
def set_user_role(
    context: ContextDep, request: Request, user: FormUserDep, values: FormValuesDep
) -> Response:
    """Give a staff user of the admin's site another role (their sessions end at once)."""
    db, clock, role = context.db, context.clock, values.get("role", "")
    return _change_user(
        context, request, user, values, "user-role",
        lambda actor, name: users.set_role(db, actor, name, role, clock=clock),
    )  # fmt: skip


@router.post("/admin/users/password")
def set_user_password(
    context: ContextDep, request: Request, user: FormUserDep, values: FormValuesDep
) -> Response:
    """Set a new password for a user of the admin's site (their sessions end at once)."""
    db, clock, password = context.db, context.clock, values.get("password", "")
    return _change_user(
        context, request, user, values, "user-password",
        lambda actor, name: users.set_user_password(db, actor, name, password, clock=clock),
    )  # fmt: skip


UserChange = Callable[[Actor, str], object]  # (the admin, the username) -> the changed user


def _change_user(
    context: AppContext,
    request: Request,
    user: PageUser,
    values: dict[str, str],
    key: str,
    change: UserChange,
) -> Response:
    """Apply one lifecycle change to the named user; a refusal redraws its form beside the field."""
    actor = user.require(Action.MANAGE_USERS)
    try:
        change(actor, values.get("username", ""))
    except (ValidationError, NotFound) as err:
        form = FormState.refused(key, values, err, CHANGE_USER)
        return _admin_page(context, request, user, form=form)
    return RedirectResponse("/admin?saved=User", status_code=303)
