"""Sign in and out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from microtrial.http.deps import ContextDep, client_address
from microtrial.http.security import new_session
from microtrial.i18n import N_
from microtrial.services import auth, sessions
from microtrial.web.rendering import landing_page, render
from microtrial.web.session import (
    PageUserDep,
    anonymous_session,
    check_csrf,
    clear_session,
    read_session,
    safe_next,
    write_session,
)

router = APIRouter(include_in_schema=False)

BAD_LOGIN = N_("Incorrect username or password.")
TOO_MANY = N_("Too many failed attempts. Please wait and try again.")


@router.get("/")
def start(user: PageUserDep) -> RedirectResponse:
    """Send the user to their role's first page."""
    return RedirectResponse(landing_page(user.actor) or "/login", status_code=303)


@router.get("/login")
def login_form(context: ContextDep, request: Request, next: str | None = None) -> HTMLResponse:
    """The sign-in form (sets an anonymous session carrying its CSRF token).

    A signed-in session is never written back here: visiting this page must not renew it.
    """
    session, fresh = anonymous_session(context, request)
    response = render(
        request, "login.html", {"next": safe_next(next)}, actor=None, csrf_token=session.csrf
    )
    if fresh:
        write_session(context, request, response, session)
    return response


MISSING_LOGIN = N_("Please enter your username and your password.")


def _login_again(
    request: Request, csrf: str, error: str, username: str, next: str | None, status: int
) -> HTMLResponse:
    """The sign-in form again with ``error``, the typed username kept (never the password)."""
    page = {"error": error, "username": username, "next": safe_next(next)}
    return render(request, "login.html", page, status=status, actor=None, csrf_token=csrf)


@router.post("/login")
def login(
    context: ContextDep,
    request: Request,
    csrf_token: Annotated[str, Form(max_length=200)],
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    next: Annotated[str | None, Form(max_length=500)] = None,
) -> Response:
    """Check the password; on success start a new session (new id and CSRF token)."""
    session = check_csrf(read_session(context, request), csrf_token)
    if not username.strip() or not password:
        # The form again, saying what is missing (not a bare "Field required" error page).
        return _login_again(request, session.csrf, MISSING_LOGIN, username, next, 422)
    client = client_address(request)
    wait = context.throttle.retry_after(username, client)
    if wait is not None:
        response = _login_again(request, session.csrf, TOO_MANY, username, None, 429)
        response.headers["Retry-After"] = str(wait)
        return response
    actor = auth.authenticate(context.db, username, password, client=client, clock=context.clock)
    if actor is None:
        context.throttle.failed(username, client)
        return _login_again(request, session.csrf, BAD_LOGIN, username, next, 401)
    context.throttle.succeeded(username)
    target = safe_next(next) or landing_page(actor) or "/"
    redirect = RedirectResponse(target, status_code=303)
    version = sessions.session_version(context.db, actor)
    signed_in = new_session(actor, version, context.clock().timestamp())
    write_session(context, request, redirect, signed_in)
    return redirect


@router.post("/logout")
def logout(
    context: ContextDep, user: PageUserDep, csrf_token: Annotated[str, Form(max_length=200)]
) -> Response:
    """End every session and API token of the user (a copied cookie stops working too)."""
    check_csrf(user.session, csrf_token)
    sessions.sign_out(context.db, user.actor, clock=context.clock)
    response = RedirectResponse("/login", status_code=303)
    clear_session(response)
    return response
