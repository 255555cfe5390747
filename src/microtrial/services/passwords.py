"""Passwords: change one's own, reset by an e-mailed single-use link, or have the clinic set one.

Any new password ends every session and API token of the user (the page that changed one's
own password signs its own session in again).

A reset link carries a random token; only its SHA-256 is stored, it expires after
``RESET_TTL`` and works once. Asking for a link never says whether the account exists. Without
e-mail, a patient's clinician (their site's patients only) or an administrator sets a new one.
Every change is audited; the password itself never is.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from microtrial.domain.access import Action, sees_site
from microtrial.domain.actors import Actor
from microtrial.errors import NotFound, ValidationError
from microtrial.i18n import N_
from microtrial.services.admin import actor_for_user, user_by_name
from microtrial.services.common import Clock, audit, system_clock
from microtrial.services.security import hash_password, verify_password
from microtrial.services.sessions import end_sessions
from microtrial.services.unit import UnitOfWork
from microtrial.store.db import Database
from microtrial.store.models import PasswordResetRow, UserRow

RESET_TTL = dt.timedelta(hours=1)


def _new_hash(password: str, repeat: str | None, field: str) -> str:
    """The hash of a new password (same rules as a new user's), named as ``field``."""
    if repeat is not None and repeat != password:
        raise ValidationError(f"{field}_repeat", "the two new passwords are not the same")
    return hash_password(password, field)


def _end_resets(session: Session, user_id: int, now: dt.datetime) -> None:
    """Any unused reset link, session and API token of the user stops working."""
    end_sessions(session, user_id)
    session.execute(
        update(PasswordResetRow)
        .where(PasswordResetRow.user_id == user_id, PasswordResetRow.used_at.is_(None))
        .values(used_at=now)
    )


def change_password(
    db: Database,
    actor: Actor,
    current: str,
    new: str,
    repeat: str | None = None,
    *,
    clock: Clock = system_clock,
) -> None:
    """Change the signed-in user's own password (the current one is checked first)."""
    with UnitOfWork(db, actor, Action.CHANGE_OWN_PASSWORD, clock=clock) as (session, now):
        user = session.get(UserRow, actor.user_id) if actor.user_id is not None else None
        if user is None or not user.is_active:
            raise NotFound("user: no such user")
        if not verify_password(user.password_hash, current):
            raise ValidationError(
                "current_password", N_("this is not the password you sign in with")
            )
        if new == current:
            raise ValidationError("new_password", N_("is the same as the current one"))
        user.password_hash = _new_hash(new, repeat, "new_password")
        _end_resets(session, user.id, now)
        audit(session, actor, "change_password", "user", user.id, at=now, site_id=user.site_id)


def set_patient_password(
    db: Database, actor: Actor, patient_id: int, new: str, *, clock: Clock = system_clock
) -> str:
    """Set a new password for a patient's login (their clinic, or an administrator); username."""
    with UnitOfWork(db, actor, Action.SET_PASSWORD, clock=clock) as (session, now):
        user = session.execute(
            select(UserRow).where(UserRow.patient_id == patient_id, UserRow.is_active.is_(True))
        ).scalar_one_or_none()
        if user is None or not sees_site(actor, Action.SET_PASSWORD, user.site_id):
            raise NotFound(f"patient: no patient login for patient {patient_id}")
        user.password_hash = _new_hash(new, None, "new_password")
        _end_resets(session, user.id, now)
        audit(
            session,
            actor,
            "set_password",
            "user",
            user.id,
            at=now,
            site_id=user.site_id,
            patient_id=patient_id,
        )
        return user.username


def set_user_password(
    db: Database, actor: Actor, username: str, new: str, *, clock: Clock = system_clock
) -> None:
    """Set a user's new password (administrators of the user's site, and the operator)."""
    with UnitOfWork(db, actor, Action.MANAGE_USERS, clock=clock) as (session, now):
        user = user_by_name(session, actor, username, Action.MANAGE_USERS)
        user.password_hash = _new_hash(new, None, "password")
        _end_resets(session, user.id, now)
        audit(session, actor, "set_password", "user", user.id, at=now, site_id=user.site_id)


@dataclass(frozen=True)
class ResetLink:
    """A new reset link to e-mail: where to, and the token (never stored as such)."""

    email: str
    username: str
    token: str
    language: str | None = None  # the user's language, for the e-mail (0017)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def request_reset(
    db: Database, username_or_email: str, *, clock: Clock = system_clock
) -> ResetLink | None:
    """A reset link for the active user with this username or e-mail; None when there is none."""
    wanted = username_or_email.strip()
    if not wanted:
        raise ValidationError("username", N_("enter your username or e-mail address"))
    now = clock()
    with db.transaction() as session:
        users = session.execute(
            select(UserRow).where(
                UserRow.is_active.is_(True),
                UserRow.email.is_not(None),
                or_(UserRow.username == wanted, func.lower(UserRow.email) == wanted.lower()),
            )
        ).scalars()
        user = next(iter(users), None)
        if user is None or not user.email:
            return None
        token = secrets.token_urlsafe(32)
        session.add(
            PasswordResetRow(
                user_id=user.id,
                token_hash=_token_hash(token),
                created_at=now,
                expires_at=now + RESET_TTL,
            )
        )
        audit(
            session,
            actor_for_user(user),
            "request_password_reset",
            "user",
            user.id,
            at=now,
            site_id=user.site_id,
        )
        return ResetLink(user.email, user.username, token, user.language)


def reset_password(
    db: Database, token: str, new: str, repeat: str | None = None, *, clock: Clock = system_clock
) -> str:
    """Set a new password with a reset link's token (once, before it expires); the username."""
    now = clock()
    with db.transaction() as session:
        row = session.execute(
            select(PasswordResetRow).where(PasswordResetRow.token_hash == _token_hash(token))
        ).scalar_one_or_none()
        if row is None or row.used_at is not None or row.expires_at <= now:
            raise ValidationError(
                "token", "this link has expired or was already used; ask for a new one"
            )
        user = session.get(UserRow, row.user_id)
        if user is None or not user.is_active:
            raise ValidationError("token", N_("this link has expired or was already used"))
        user.password_hash = _new_hash(new, repeat, "new_password")
        _end_resets(session, user.id, now)
        audit(
            session,
            actor_for_user(user),
            "reset_password",
            "user",
            user.id,
            at=now,
            site_id=user.site_id,
        )
        return user.username
