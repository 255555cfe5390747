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

from microtrial import i18n
from microtrial.domain.access import Action
from microtrial.errors import MicroTrialError, ValidationError
from microtrial.http.config import ServerSettings
from microtrial.http.deps import AppContext, ContextDep, client_address
from microtrial.http.reminders import smtp_session
from microtrial.i18n import N_
from microtrial.services import languages, passwords, patients, sessions
from microtrial.services.passwords import RESET_TTL, ResetLink
from microtrial.services.security import MIN_PASSWORD_LENGTH
from microtrial.web.rendering import page_language, render, tr
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
    "current_password": N_("Current password"),
    "new_password": N_("New password"),
    "new_password_repeat": N_("New password again"),
    "token": N_("Reset link"),
    "username": N_("Username or e-mail address"),
    "password": N_("New password"),
    "language": N_("Language"),
}
SENT = N_(
    "If an account with an e-mail address matches, we have sent it a link to set a new "
    "password. The link works once, for one hour. Please also check your spam folder."
)


def field_error(err: MicroTrialError, language: str = i18n.DEFAULT) -> tuple[str, str | None]:
    """The error as words naming the field by its label, and the field."""
    if not isinstance(err, ValidationError):
        return i18n.gettext(str(err), language), None
    message = i18n.gettext(str(err).removeprefix(f"{err.field}: "), language)
    label = i18n.gettext(LABELS[err.field], language) if err.field in LABELS else err.field
    return f"{label}: {message}", err.field


def _page(
    request: Request,
    name: str,
    context: dict[str, Any],
    *,
    error: MicroTrialError | None = None,
    csrf_token: str | None = None,
) -> HTMLResponse:
    language = page_language(request)
    message, field = field_error(error, language) if error is not None else (None, None)
    page = {"min_length": MIN_PASSWORD_LENGTH, "error": message, "error_field": field, **context}
    status = 422 if error is not None else 200
    return render(request, name, page, status=status, csrf_token=csrf_token)


def _account_page(
    request: Request, language: str, *, error: MicroTrialError | None = None, flash: str = ""
) -> HTMLResponse:
    page = {
        "language": language,
        "languages": [(code, i18n.LANGUAGE_NAMES[code]) for code in i18n.LANGUAGES],
        "flash": flash,
    }
    return _page(request, "account.html", page, error=error)


@router.get("/account")
def account_form(context: ContextDep, request: Request, user: PageUserDep) -> HTMLResponse:
    """The signed-in user's account: the language the app speaks to them."""
    actor = user.require(Action.SEE_OWN_ACCOUNT)
    chosen = languages.user_language(context.db, actor)
    return _account_page(request, chosen or page_language(request, actor))


@router.post("/account")
def set_account(
    context: ContextDep, request: Request, user: FormUserDep, values: FormValuesDep
) -> HTMLResponse:
    """Set the signed-in user's language (one of English, Spanish, German, Dutch, Portuguese)."""
    actor = user.require(Action.SEE_OWN_ACCOUNT)
    wanted = values.get("language", "")
    try:
        code = languages.set_user_language(context.db, actor, wanted, clock=context.clock)
    except ValidationError as err:
        return _account_page(request, page_language(request, actor), error=err)
    request.state.mt_language = code
    return _account_page(request, code, flash=tr(request, "Your language is saved."))


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
    flash = tr(request, "Your password is changed.")
    response = _page(request, "account_password.html", {"flash": flash})
    version = sessions.session_version(context.db, actor)
    write_session(context, request, response, replace(user.session, version=version))
    return response


def reset_message(settings: ServerSettings, link: ResetLink, base_url: str) -> EmailMessage:
    """The e-mail carrying a reset link (no clinical content)."""
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = link.email
    language = link.language or i18n.DEFAULT
    message["Subject"] = i18n.gettext("MicroTrial: set a new password", language)
    base = (settings.public_url or base_url).rstrip("/")
    minutes = int(RESET_TTL.total_seconds() // 60)
    text = i18n.gettext(
        "Someone asked to set a new password for the MicroTrial account %(username)s.\n\n"
        "To set a new password, open this link within %(minutes)s minutes (it works once):\n"
        "%(link)s\n\n"
        "If you did not ask for this, you can ignore this e-mail; your password stays the same.\n",
        language,
    )
    link_url = f"{base}/password/reset?token={link.token}"
    message.set_content(text % {"username": link.username, "minutes": minutes, "link": link_url})
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
