"""Signing in: check a username and password without revealing which usernames exist."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import delete, func, select

from microtrial.domain.actors import Actor
from microtrial.services.admin import actor_for_user
from microtrial.services.common import Clock, audit, system_clock
from microtrial.services.refusals import record_failed_login
from microtrial.services.security import dummy_verify, verify_password
from microtrial.store.db import Database
from microtrial.store.models import LoginFailureRow, UserRow

MAX_PASSWORD_LENGTH = 1024


def authenticate(
    db: Database,
    username: str,
    password: str,
    *,
    client: str | None = None,
    clock: Clock = system_clock,
) -> Actor | None:
    """The actor for a correct username and password; None otherwise (same cost either way).

    A successful sign-in is audited, and so is a failed one (by ``client``, under the account's
    site when the account exists; a name matching no account is not stored).
    """
    if not username or len(username) > 80 or len(password) > MAX_PASSWORD_LENGTH:
        dummy_verify(password[:MAX_PASSWORD_LENGTH])
        _failed(db, None, "unknown user", client, clock)
        return None
    with db.transaction() as session:
        user = session.execute(
            select(UserRow).where(UserRow.username == username)
        ).scalar_one_or_none()
        password_hash = user.password_hash if user is not None else None
        actor = actor_for_user(user) if user is not None and user.is_active else None
        account = None if user is None else (user.id, user.username, user.site_id)
    if password_hash is None:
        dummy_verify(password)
        _failed(db, None, "unknown user", client, clock)
        return None
    if not verify_password(password_hash, password):
        _failed(db, account, "wrong password", client, clock)
        return None
    if actor is None:
        _failed(db, account, "inactive user", client, clock)
        return None
    with db.transaction() as session:
        audit(
            session,
            actor,
            "login",
            "user",
            entity_id=actor.user_id,
            at=clock(),
            site_id=actor.site_id,
            patient_id=actor.patient_id,
        )
    return actor


def _failed(
    db: Database,
    account: tuple[int, str, int | None] | None,
    why: str,
    client: str | None,
    clock: Clock,
) -> None:
    """Audit a failed sign-in against ``account`` (id, username, site) if it exists."""
    user_id, name, site_id = account if account is not None else (None, None, None)
    record_failed_login(
        db, user_id=user_id, username=name, site_id=site_id, why=why, client=client, at=clock()
    )


def user_throttle_key(username: str) -> str:
    """The failure counter of a username (case does not matter)."""
    return f"user:{username.lower()[:80]}"


def client_throttle_key(client: str) -> str:
    """The failure counter of a client address."""
    return f"client:{client[:100]}"


def login_failures_since(
    db: Database, keys: Sequence[str], since: dt.datetime
) -> dict[str, tuple[int, dt.datetime]]:
    """For each key with failures after ``since``: how many, and the latest of them."""
    with db.transaction() as session:
        rows = session.execute(
            select(LoginFailureRow.key, func.count(), func.max(LoginFailureRow.at))
            .where(LoginFailureRow.key.in_(keys), LoginFailureRow.at > since)
            .group_by(LoginFailureRow.key)
        )
        return {key: (count, latest) for key, count, latest in rows}


def record_login_failure(
    db: Database, keys: Sequence[str], at: dt.datetime, *, forget_before: dt.datetime
) -> None:
    """Count a failed sign-in against ``keys``; failures older than the window are dropped."""
    with db.transaction() as session:
        session.execute(delete(LoginFailureRow).where(LoginFailureRow.at <= forget_before))
        session.add_all(LoginFailureRow(key=key, at=at) for key in keys)


def clear_login_failures(db: Database, key: str) -> None:
    """Forget a key's failures (after a successful sign-in)."""
    with db.transaction() as session:
        session.execute(delete(LoginFailureRow).where(LoginFailureRow.key == key))
