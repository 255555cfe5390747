"""The language a user reads the app in (issue 21): read it, and let users set their own."""

from __future__ import annotations

from sqlalchemy import select

from microtrial.domain.access import Action, authorize
from microtrial.domain.actors import Actor
from microtrial.errors import NotFound
from microtrial.i18n import check_language
from microtrial.services.common import Clock, audit, system_clock
from microtrial.store.db import Database
from microtrial.store.models import UserRow


def user_language(db: Database, actor: Actor | None) -> str | None:
    """The language ``actor`` chose (None: none chosen, or no user), for their own pages."""
    if actor is None or actor.user_id is None:
        return None
    with db.read() as session:
        found = session.scalar(select(UserRow.language).where(UserRow.id == actor.user_id))
    return found


def set_user_language(
    db: Database, actor: Actor, language: str, *, clock: Clock = system_clock
) -> str:
    """Set the signed-in user's own language (one of ``i18n.LANGUAGES``); audited; the code."""
    authorize(actor, Action.SEE_OWN_ACCOUNT)
    code = check_language(language)
    now = clock()
    with db.transaction() as session:
        user = session.get(UserRow, actor.user_id) if actor.user_id is not None else None
        if user is None or not user.is_active:
            raise NotFound("user: no such user")
        before = user.language
        user.language = code
        audit(
            session,
            actor,
            "set_language",
            "user",
            user.id,
            at=now,
            site_id=user.site_id,
            detail={"from": before, "to": code},
        )
    return code
