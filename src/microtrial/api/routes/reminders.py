"""A patient's reminders: their settings (If-Match on changes) and their private calendar feed."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from microtrial.api.actions import takes
from microtrial.api.paging import PreconditionDep, tagged
from microtrial.api.schemas import ReminderFeedRead, ReminderSettingsUpdate
from microtrial.domain.access import Action
from microtrial.http.deps import ActorDep, AppContext, ContextDep
from microtrial.http.reminders import feed_addresses
from microtrial.services import reminder_settings
from microtrial.services.reminder_settings import ReminderChoice, ReminderSettingsRead

router = APIRouter(tags=["reminders"])
SETTINGS = "/patients/{patient_id}/reminders"
FEED = "/patients/{patient_id}/reminders/feed"


class ReminderSettingsSaved(BaseModel):
    """The settings as saved, and a new calendar feed when this change made one."""

    settings: ReminderSettingsRead
    feed: ReminderFeedRead | None = None


def _feed(context: AppContext, request: Request, token: str) -> ReminderFeedRead:
    https, webcal = feed_addresses(context.settings, str(request.base_url), token)
    return ReminderFeedRead(https_url=https, webcal_url=webcal)


@router.get(SETTINGS, openapi_extra=takes(Action.READ_REMINDERS))
def get_reminders(
    context: ContextDep, actor: ActorDep, patient_id: int, response: Response
) -> ReminderSettingsRead:
    """The patient's reminder settings (the patient, their site's clinicians); ETag: version."""
    found = reminder_settings.get_settings(
        context.db,
        actor,
        patient_id,
        smtp_on=bool(context.settings.smtp_host),
        clock=context.clock,
    )
    tagged(response, found.version)
    return found


@router.put(SETTINGS, openapi_extra=takes(Action.SET_REMINDERS))
def set_reminders(
    context: ContextDep,
    actor: ActorDep,
    request: Request,
    patient_id: int,
    body: ReminderSettingsUpdate,
    update: PreconditionDep,
) -> ReminderSettingsSaved:
    """Set one's own reminders (If-Match: the version read; ``"0"`` before the first choice).
    Choosing the calendar channel makes a feed whose addresses are answered this once."""
    choice = ReminderChoice.model_validate(body.model_dump())
    saved, token = reminder_settings.update_settings(
        context.db,
        actor,
        patient_id,
        choice,
        expected_version=update.expected(),
        smtp_on=bool(context.settings.smtp_host),
        clock=context.clock,
    )
    update.tag(saved.version)
    feed = _feed(context, request, token) if token is not None else None
    return ReminderSettingsSaved(settings=saved, feed=feed)


@router.post(FEED, openapi_extra=takes(Action.SET_REMINDERS), status_code=201)
def new_feed(
    context: ContextDep, actor: ActorDep, request: Request, patient_id: int
) -> ReminderFeedRead:
    """A new calendar feed for oneself; the previous address stops working at once."""
    _, token = reminder_settings.new_feed(
        context.db,
        actor,
        patient_id,
        smtp_on=bool(context.settings.smtp_host),
        clock=context.clock,
    )
    return _feed(context, request, token)


@router.delete(
    FEED,
    openapi_extra=takes(Action.STOP_REMINDER_FEED),
    status_code=204,
    response_class=Response,
)
def stop_feed(context: ContextDep, actor: ActorDep, patient_id: int) -> Response:
    """Stop the patient's calendar feed (the patient, their clinician): its address answers 404."""
    reminder_settings.stop_feed(
        context.db,
        actor,
        patient_id,
        smtp_on=bool(context.settings.smtp_host),
        clock=context.clock,
    )
    return Response(status_code=204)
