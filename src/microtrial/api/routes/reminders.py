"""A patient's reminders: their settings (If-Match on changes) and their private calendar feed.
Both changes take an Idempotency-Key, like the diary: a replay lands once and answers the same."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from microtrial.api.actions import takes
from microtrial.api.once import OnceDep
from microtrial.api.paging import PreconditionDep, tagged
from microtrial.api.schemas import ReminderFeedRead, ReminderSettingsUpdate
from microtrial.domain.access import Action
from microtrial.domain.actors import Actor
from microtrial.errors import ConflictError
from microtrial.http.deps import ActorDep, AppContext, ContextDep
from microtrial.http.reminders import feed_addresses, feed_token
from microtrial.services import reminder_settings
from microtrial.services.reminder_settings import ReminderChoice, ReminderSettingsRead

router = APIRouter(tags=["reminders"])
SETTINGS = "/patients/{patient_id}/reminders"
FEED = "/patients/{patient_id}/reminders/feed"


class NoBody(BaseModel):
    """The empty body of a request that takes none (what its Idempotency-Key is bound to)."""


NO_BODY = NoBody()


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


def _replayed_feed(
    context: AppContext, request: Request, actor: Actor, patient_id: int, token: str | None
) -> ReminderFeedRead:
    """The feed a replayed request's first answer gave, when its address still works."""
    if token is None or not reminder_settings.opens_feed(context.db, actor, patient_id, token):
        raise ConflictError(
            "Idempotency-Key: the calendar feed the first request with this key made has been "
            "replaced or stopped since; ask for a new one with a new key"
        )
    return _feed(context, request, token)


@router.put(SETTINGS, openapi_extra=takes(Action.SET_REMINDERS))
def set_reminders(
    context: ContextDep,
    actor: ActorDep,
    request: Request,
    patient_id: int,
    body: ReminderSettingsUpdate,
    update: PreconditionDep,
    once: OnceDep,
) -> ReminderSettingsSaved:
    """Set one's own reminders (If-Match: the version read; ``"0"`` before the first choice).
    Choosing the calendar channel makes a feed whose addresses are answered this once (and to
    a replay of this request with the same Idempotency-Key, which changes nothing again)."""
    choice = ReminderChoice.model_validate(body.model_dump())
    token = feed_token(context.tokens, patient_id, actor.user_id, once.key)
    smtp_on = bool(context.settings.smtp_host)

    def change() -> ReminderSettingsSaved:
        saved, made = reminder_settings.update_settings(
            context.db,
            actor,
            patient_id,
            choice,
            expected_version=update.expected(),
            smtp_on=smtp_on,
            token=token,
            clock=context.clock,
        )
        feed = _feed(context, request, made) if made is not None else None
        return ReminderSettingsSaved(settings=saved, feed=feed)

    def replay(made: str) -> ReminderSettingsSaved:
        found = reminder_settings.get_settings(
            context.db, actor, patient_id, smtp_on=smtp_on, clock=context.clock
        )
        feed = _replayed_feed(context, request, actor, patient_id, token) if made else None
        return ReminderSettingsSaved(settings=found, feed=feed)

    saved = once(
        actor,
        f"reminder-settings:patient:{patient_id}",
        body,
        create=change,
        fetch=lambda first: replay(first.partition(":")[2]),
        ident=lambda s: f"{s.settings.version}:{'feed' if s.feed else ''}",
    )
    update.tag(saved.settings.version)
    return saved


@router.post(FEED, openapi_extra=takes(Action.SET_REMINDERS), status_code=201)
def new_feed(
    context: ContextDep, actor: ActorDep, request: Request, patient_id: int, once: OnceDep
) -> ReminderFeedRead:
    """A new calendar feed for oneself; the previous address stops working at once. A replay
    with the same Idempotency-Key makes none again and answers the same address."""
    token = feed_token(context.tokens, patient_id, actor.user_id, once.key)

    def make() -> ReminderFeedRead:
        _, made = reminder_settings.new_feed(
            context.db,
            actor,
            patient_id,
            smtp_on=bool(context.settings.smtp_host),
            token=token,
            clock=context.clock,
        )
        return _feed(context, request, made)

    return once(
        actor,
        f"calendar-feed:patient:{patient_id}",
        NO_BODY,
        create=make,
        fetch=lambda _: _replayed_feed(context, request, actor, patient_id, token),
        ident=lambda _: "feed",
    )


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
