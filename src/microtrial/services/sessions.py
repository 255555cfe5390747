"""Sessions that end: every session cookie and API token carries its user's session version.

Raising a user's version (sign-out, a password set or changed, a role change, deactivation)
ends every session and token of that user at once, on every worker: each request reloads the
user by id (one primary-key read) and refuses a token whose version is behind or whose user is
no longer active. The user's role, site and patient come from the database, never the token.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import update
from sqlalchemy.orm import Session

from microtrial.domain.actors import Actor
from microtrial.services.admin import actor_for_user
from microtrial.services.common import Clock, audit, row_by_id, system_clock
from microtrial.store.db import Database
from microtrial.store.models import UserRow


def end_sessions(session: Session, user_id: int) -> None:
    """Raise the user's session version in the caller's transaction (their tokens stop working)."""
    session.execute(
        update(UserRow)
        .where(UserRow.id == user_id)
        .values(session_version=UserRow.session_version + 1)
    )


def session_version(db: Database, actor: Actor) -> int:
    """The version a new session or token of this signed-in user is issued under."""
    with db.transaction() as session:
        user = row_by_id(session, UserRow, actor.user_id) if actor.user_id is not None else None
        return user.session_version if user is not None else -1


def current_actor(db: Database, user_id: int, version: int) -> Actor | None:
    """The active user behind a session or token issued under ``version``; None once it ended."""
    with db.transaction() as session:
        user = row_by_id(session, UserRow, user_id)
        if user is None or not user.is_active or user.session_version != version:
            return None
        return actor_for_user(user)


def sign_out(db: Database, actor: Actor, *, clock: Clock = system_clock) -> None:
    """End every session and token of the signed-in user (audited)."""
    if actor.user_id is None:
        return
    with db.transaction() as session:
        end_sessions(session, actor.user_id)
        audit(
            session,
            actor,
            "logout",
            "user",
            actor.user_id,
            at=clock(),
            site_id=actor.site_id,
            patient_id=actor.patient_id,
        )


def within_lifetime(issued_at: float, now: dt.datetime, max_age_s: int) -> bool:
    """Whether a session signed in at ``issued_at`` (POSIX seconds) is still within its lifetime."""
    return now.timestamp() - issued_at <= max_age_s
