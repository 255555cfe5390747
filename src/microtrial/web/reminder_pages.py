"""Reminders on the patient's terms: the patient's settings page, the clinic stopping a feed,
and the private calendar feed itself (``/calendar/<token>.ics``: no sign-in, the token is the
key; rate-limited per address by ``http.limits.CostLimit``; every fetch audited)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from microtrial import i18n
from microtrial.domain.access import Action
from microtrial.errors import ValidationError
from microtrial.http.deps import AppContext, ContextDep
from microtrial.http.reminders import feed_addresses
from microtrial.i18n import N_
from microtrial.services import reminder_settings
from microtrial.services.reminder_settings import ReminderChoice, ReminderSettingsRead
from microtrial.web.forms import plain_message
from microtrial.web.rendering import page_language, render
from microtrial.web.session import FormUserDep, FormValuesDep, PageUser, PageUserDep

router = APIRouter(include_in_schema=False)
PAGE = "/account/reminders"
TIME_FORMS = N_("a time like 08:30, or empty for none")
NOT_A_TIME = N_("is not a time")
# The form's labels, naming a refused field in the page's language.
LABELS = {
    "diary_time": N_("Diary reminder"),
    "dose_time": N_("Capsule reminder (on capsule days)"),
    "channel": N_("How to remind me"),
}


def _smtp_on(context: AppContext) -> bool:
    return bool(context.settings.smtp_host)


def _parse_time(field: str, text: str) -> dt.time | None:
    """A form's HH:MM (empty: no reminder of that kind); ValidationError naming the field."""
    text = text.strip()
    if not text:
        return None
    try:
        return dt.time.fromisoformat(text).replace(second=0, microsecond=0)
    except ValueError:
        raise ValidationError(field, NOT_A_TIME, value=text, allowed=TIME_FORMS) from None


def _error_text(error: ValidationError, language: str) -> str:
    """A refusal in the page's language (English: the words every other form uses)."""
    if language == i18n.DEFAULT or error.field not in LABELS:
        return plain_message(str(error))
    detail = str(error).removeprefix(f"{error.field}: ")
    if error.allowed:
        detail = detail.removesuffix(f" (allowed: {error.allowed})")
    text = f"{i18n.gettext(LABELS[error.field], language)}: {i18n.gettext(detail, language)}"
    if error.allowed == TIME_FORMS:
        return f"{text} ({i18n.gettext(TIME_FORMS, language)})"
    if error.allowed:
        allowed = i18n.gettext("allowed: %(values)s", language) % {"values": error.allowed}
        return f"{text} ({allowed})"
    return text


def _page(
    context: AppContext,
    request: Request,
    user: PageUser,
    *,
    done: str | None = None,
    token: str | None = None,
    error: ValidationError | None = None,
    values: dict[str, str] | None = None,
) -> HTMLResponse:
    actor = user.require(Action.SET_REMINDERS)
    assert actor.patient_id is not None  # only patients may set reminders
    settings = reminder_settings.get_settings(
        context.db, actor, actor.patient_id, smtp_on=_smtp_on(context), clock=context.clock
    )
    page: dict[str, Any] = {"settings": settings, "done": done, "values": values or {}}
    if token is not None:
        https, webcal = feed_addresses(context.settings, str(request.base_url), token)
        page["feed"] = {"https": https, "webcal": webcal}
    if error is not None:
        page["error"] = _error_text(error, page_language(request))
        page["error_field"] = error.field
    return render(request, "reminders.html", page, status=422 if error is not None else 200)


@router.get(PAGE)
def reminders_page(context: ContextDep, request: Request, user: PageUserDep) -> HTMLResponse:
    """The patient's reminder times, channel, pause and calendar link."""
    return _page(context, request, user)


def _choice(values: dict[str, str], current: ReminderSettingsRead) -> ReminderChoice:
    return ReminderChoice(
        diary_time=_parse_time("diary_time", values.get("diary_time", "")),
        dose_time=_parse_time("dose_time", values.get("dose_time", "")),
        channel=values.get("channel", "").strip(),
        paused=current.paused,
    )


def _save(
    context: AppContext, user: PageUser, choice: ReminderChoice, version: int
) -> tuple[ReminderSettingsRead, str | None]:
    actor = user.require(Action.SET_REMINDERS)
    assert actor.patient_id is not None
    return reminder_settings.update_settings(
        context.db,
        actor,
        actor.patient_id,
        choice,
        expected_version=version,
        smtp_on=_smtp_on(context),
        clock=context.clock,
    )


def _current(context: AppContext, user: PageUser) -> ReminderSettingsRead:
    actor = user.require(Action.SET_REMINDERS)
    assert actor.patient_id is not None
    return reminder_settings.get_settings(
        context.db, actor, actor.patient_id, smtp_on=_smtp_on(context), clock=context.clock
    )


@router.post(PAGE)
def save_reminders(
    context: ContextDep, request: Request, user: FormUserDep, values: FormValuesDep
) -> HTMLResponse:
    """Save the times and channel (a calendar channel makes a feed, shown this once)."""
    current = _current(context, user)
    try:
        _, token = _save(context, user, _choice(values, current), current.version)
    except ValidationError as err:
        return _page(context, request, user, error=err, values=values)
    return _page(context, request, user, done="saved", token=token)


@router.post(f"{PAGE}/pause")
def pause_reminders(
    context: ContextDep, request: Request, user: FormUserDep, values: FormValuesDep
) -> HTMLResponse:
    """Pause (``pause=1``) or resume (``pause=0``) every reminder; the times are kept."""
    current = _current(context, user)
    paused = values.get("pause", "") == "1"
    choice = ReminderChoice(
        diary_time=current.diary_time,
        dose_time=current.dose_time,
        channel=current.channel if current.channel in current.channels else "none",
        paused=paused,
    )
    _, token = _save(context, user, choice, current.version)
    return _page(context, request, user, done="pause" if paused else "resume", token=token)


@router.post(f"{PAGE}/feed")
def regenerate_feed(context: ContextDep, request: Request, user: FormUserDep) -> HTMLResponse:
    """A new calendar link; the old one stops working at once."""
    actor = user.require(Action.SET_REMINDERS)
    assert actor.patient_id is not None
    _, token = reminder_settings.new_feed(
        context.db, actor, actor.patient_id, smtp_on=_smtp_on(context), clock=context.clock
    )
    return _page(context, request, user, done="new-link", token=token)


@router.post(f"{PAGE}/feed/stop")
def stop_own_feed(context: ContextDep, request: Request, user: FormUserDep) -> HTMLResponse:
    """The patient stops their own calendar link."""
    actor = user.require(Action.SET_REMINDERS)
    assert actor.patient_id is not None
    reminder_settings.stop_feed(
        context.db, actor, actor.patient_id, smtp_on=_smtp_on(context), clock=context.clock
    )
    return _page(context, request, user, done="stopped")


@router.post("/clinic/patients/{patient_id}/reminders/feed/stop")
def clinic_stop_feed(context: ContextDep, user: FormUserDep, patient_id: int) -> Response:
    """A clinician stops a patient's calendar feed (a lost phone, a link shared by mistake)."""
    user.require(Action.USE_CLINIC_PAGES)
    actor = user.require(Action.STOP_REMINDER_FEED)
    reminder_settings.stop_feed(
        context.db, actor, patient_id, smtp_on=_smtp_on(context), clock=context.clock
    )
    return RedirectResponse(f"/clinic/patients/{patient_id}#reminders", status_code=303)


@router.get("/calendar/{token}.ics")
def calendar_feed(context: ContextDep, token: str) -> Response:
    """The private reminder calendar (no arm, kit, period or study code; 404 once stopped)."""
    text = reminder_settings.feed_text(context.db, token, clock=context.clock)
    headers = {
        "Cache-Control": "private, no-store",
        "Content-Disposition": 'inline; filename="microtrial.ics"',
        "Referrer-Policy": "no-referrer",
    }
    return Response(text, media_type="text/calendar; charset=utf-8", headers=headers)
