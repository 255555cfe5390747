"""Signing in: check a username and password without revealing which usernames exist."""

from __future__ import annotations

from sqlalchemy import select

from microtrial.domain.actors import Actor
from microtrial.services.admin import actor_for_user
from microtrial.services.common import Clock, audit, system_clock
from microtrial.services.security import dummy_verify, verify_password
from microtrial.store.db import Database
from microtrial.store.models import UserRow

MAX_PASSWORD_LENGTH = 1024


def authenticate(
    db: Database, username: str, password: str, *, clock: Clock = system_clock
) -> Actor | None:
    """The actor for a correct username and password; None otherwise (same cost either way).

    A successful sign-in is audited; a failed one is not (no user to attribute it to).
    """
    if not username or len(username) > 80 or len(password) > MAX_PASSWORD_LENGTH:
        dummy_verify(password[:MAX_PASSWORD_LENGTH])
        return None
    with db.transaction() as session:
        user = session.execute(
            select(UserRow).where(UserRow.username == username)
        ).scalar_one_or_none()
        password_hash = user.password_hash if user is not None else None
        actor = actor_for_user(user) if user is not None and user.is_active else None
    if password_hash is None:
        dummy_verify(password)
        return None
    if not verify_password(password_hash, password) or actor is None:
        return None
    with db.transaction() as session:
        audit(
            session,
            actor,
            "login",
            "user",
            actor.user_id,
            at=clock(),
            site_id=actor.site_id,
            patient_id=actor.patient_id,
        )
    return actor
