"""The signed-in user's password, a forgotten one (e-mailed link or the clinic), and the
clinic setting a patient's new password."""

from __future__ import annotations

import logging
import smtplib
from dataclasses import replace
from email.message import EmailMessage
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from microtrial.domain.access import Action
from microtrial.errors import MicroTrialError, ValidationError
from microtrial.http.config import ServerSettings
from microtrial.http.deps import AppContext, ContextDep, client_address
from microtrial.http.reminders import smtp_session
from microtrial.services import passwords, patients, sessions
from microtrial.services.passwords import RESET_TTL, ResetLink
from microtrial.services.security import MIN_PASSWORD_LENGTH
from microtrial.web.rendering import render
from microtrial.web.session import (
    FormUserDep,
    FormValuesDep,
    PageUserDep,
    anonymous_session,
    check_csrf,
    read_session,
    write_session,
)

router = APIRouter(include_in_schema=False)
log = logging.getLogger("microtrial.passwords")

LABELS = {
    "current_password": "Current password",
    "new_password": "New password",
    "new_password_repeat": "New password again",
    "token": "Reset link",
    "username": "Username or e-mail address",
    "password": "New password",
}
SENT = (
    "If an account with an e-mail address matches, we have sent it a link to set a new "
    "password. The link works once, for one hour. Please also check your spam folder."
)


def field_error(err: MicroTrialError) -> tuple[str, str | None]:
    """The error as words naming the field by its label, and the field."""
    if not isinstance(err, ValidationError):
        return str(err), None
    message = str(err).removeprefix(f"{err.field}: ")
    return f"{LABELS.get(err.field, err.field)}: {message}", err.field


def _page(
    request: Request,
    name: str,
    context: dict[str, Any],
    *,
    error: MicroTrialError | None = None,
    csrf_token: str | None = None,
) -> HTMLResponse:
    message, field = field_error(error) if error is not None else (None, None)
    page = {"min_length": MIN_PASSWORD_LENGTH, "error": message, "error_field": field, **context}
    status = 422 if error is not None else 200
    return render(request, name, page, status=status, csrf_token=csrf_token)


@router.get("/account/password")
def password_form(request: Request, user: PageUserDep) -> HTMLResponse:
    """The form to change one's own password."""
    user.require(Action.CHANGE_OWN_PASSWORD)
    return _page(request, "account_password.html", {})


@router.post("/account/password")
def change_password(
    context: ContextDep, request: Request, user: FormUserDep, values: FormValuesDep
) -> HTMLResponse:
    """Change one's own password (the current one is asked for first)."""
    actor = user.require(Action.CHANGE_OWN_PASSWORD)
    try:
        passwords.change_password(
            context.db,
            actor,
            values.get("current_password", ""),
            values.get("new_password", ""),
            values.get("new_password_repeat", ""),
            clock=context.clock,
        )
    except ValidationError as err:
        return _page(request, "account_password.html", {}, error=err)
    # Every other session and token of the user ended; this one goes on under the new version.
    response = _page(request, "account_password.html", {"flash": "Your password is changed."})
    version = sessions.session_version(context.db, actor)
    write_session(context, request, response, replace(user.session, version=version))
    return response


def reset_message(settings: ServerSettings, link: ResetLink, base_url: str) -> EmailMessage:
    """The e-mail carrying a reset link (no clinical content)."""
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = link.email
    message["Subject"] = "MicroTrial: set a new password"
    base = (settings.public_url or base_url).rstrip("/")
    minutes = int(RESET_TTL.total_seconds() // 60)
    message.set_content(
        f"Someone asked to set a new password for the MicroTrial account {link.username}.\n\n"
        f"To set a new password, open this link within {minutes} minutes (it works once):\n"
        f"{base}/password/reset?token={link.token}\n\n"
        "If you did not ask for this, you can ignore this e-mail; your password stays the same.\n"
    )
    return message


def _anonymous_page(
    context: AppContext, request: Request, name: str, page: dict[str, Any], **kw: Any
) -> HTMLResponse:
    session, fresh = anonymous_session(context, request)
    response = _page(request, name, page, csrf_token=session.csrf, **kw)
    if fresh:
        write_session(context, request, response, session)
    return response


@router.get("/password/forgot")
def forgot_form(context: ContextDep, request: Request) -> HTMLResponse:
    """Ask for a reset link by e-mail, or (without e-mail) to ask the clinic."""
    page = {"email_on": bool(context.settings.smtp_host)}
    return _anonymous_page(context, request, "password_forgot.html", page)


@router.post("/password/forgot")
def forgot(context: ContextDep, request: Request, values: FormValuesDep) -> HTMLResponse:
    """E-mail a reset link; the answer is the same whether or not the account exists."""
    check_csrf(read_session(context, request), values.get("csrf_token"))
    email_on = bool(context.settings.smtp_host)
    page: dict[str, Any] = {"email_on": email_on}
    if not email_on:
        return _anonymous_page(context, request, "password_forgot.html", page)
    # Each request counts against its account name and client, apart from sign-in failures:
    # nobody can make the site send one account an e-mail after another.
    wanted = values.get("username", "").strip().lower()
    client = f"reset:{client_address(request)}"
    wait = context.throttle.retry_after(f"reset:{wanted}", client)
    if wait is not None:
        page["too_many"] = True
        response = _anonymous_page(context, request, "password_forgot.html", page)
        response.status_code = 429
        response.headers["Retry-After"] = str(wait)
        return response
    context.throttle.failed(f"reset:{wanted}", client)
    try:
        link = passwords.request_reset(context.db, values.get("username", ""), clock=context.clock)
    except ValidationError as err:
        return _anonymous_page(context, request, "password_forgot.html", page, error=err)
    if link is not None:
        try:
            with smtp_session(context.settings) as smtp:
                smtp.send_message(reset_message(context.settings, link, str(request.base_url)))
        except (OSError, smtplib.SMTPException):
            log.exception("could not send a password-reset e-mail")
    page["sent"] = SENT
    return _anonymous_page(context, request, "password_forgot.html", page)


@router.get("/password/reset")
def reset_form(context: ContextDep, request: Request, token: str = "") -> HTMLResponse:
    """Choose a new password with the link's token."""
    return _anonymous_page(context, request, "password_reset.html", {"token": token})


@router.post("/password/reset")
def reset(context: ContextDep, request: Request, values: FormValuesDep) -> Response:
    """Set the new password; the link stops working."""
    check_csrf(read_session(context, request), values.get("csrf_token"))
    token = values.get("token", "")
    try:
        passwords.reset_password(
            context.db,
            token,
            values.get("new_password", ""),
            values.get("new_password_repeat", ""),
            clock=context.clock,
        )
    except ValidationError as err:
        page = {"token": token}
        return _anonymous_page(context, request, "password_reset.html", page, error=err)
    return _anonymous_page(context, request, "password_reset.html", {"done": True})


@router.get("/clinic/patients/{patient_id}/password")
def clinic_password_form(
    context: ContextDep, request: Request, user: PageUserDep, patient_id: int
) -> HTMLResponse:
    """A clinician sets a new password for a patient who cannot sign in."""
    actor = user.require(Action.SET_PASSWORD)
    patient = patients.get_patient(context.db, actor, patient_id, clock=context.clock)
    return _page(request, "clinic_password.html", {"patient": patient})


@router.post("/clinic/patients/{patient_id}/password")
def clinic_set_password(
    context: ContextDep,
    request: Request,
    user: FormUserDep,
    values: FormValuesDep,
    patient_id: int,
) -> HTMLResponse:
    """Set the patient's new password (tell it to them in person or by phone)."""
    actor = user.require(Action.SET_PASSWORD)
    patient = patients.get_patient(context.db, actor, patient_id, clock=context.clock)
    page: dict[str, Any] = {"patient": patient}
    try:
        username = passwords.set_patient_password(
            context.db, actor, patient_id, values.get("new_password", ""), clock=context.clock
        )
    except ValidationError as err:
        return _page(request, "clinic_password.html", page, error=err)
    page["flash"] = f"The new password for {username} is set. Tell it to the patient in person."
    return _page(request, "clinic_password.html", page)
