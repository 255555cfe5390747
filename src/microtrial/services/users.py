"""A user's lifecycle: deactivate and reactivate, change the role, set a new password.

An administrator manages the users of their own site; the operator (command line) every site.
Each change is audited and ends every session and API token of the user at once.
"""

from __future__ import annotations

from microtrial.domain.access import Action
from microtrial.domain.actors import Actor, Role, check_role, check_role_change
from microtrial.errors import ValidationError
from microtrial.services.admin import user_by_name
from microtrial.services.common import Clock, audit, system_clock
from microtrial.services.passwords import set_user_password
from microtrial.services.sessions import end_sessions
from microtrial.services.unit import UnitOfWork
from microtrial.store.db import Database
from microtrial.store.models import UserRow

__all__ = ["set_active", "set_role", "set_user_password"]


def _not_self(actor: Actor, user: UserRow, doing: str) -> None:
    if actor.user_id is not None and actor.user_id == user.id:
        raise ValidationError("username", f"you cannot {doing} your own account")


def set_active(
    db: Database, actor: Actor, username: str, active: bool, *, clock: Clock = system_clock
) -> None:
    """Deactivate a user (no more sign-ins) or reactivate one; audited.

    Either way every open session and token of theirs ends at once: a reactivated user signs
    in afresh.
    """
    with UnitOfWork(db, actor, Action.MANAGE_USERS, clock=clock) as (session, now):
        user = user_by_name(session, actor, username, Action.MANAGE_USERS)
        _not_self(actor, user, "deactivate" if not active else "reactivate")
        user.is_active = active
        end_sessions(session, user.id)
        audit(
            session,
            actor,
            "reactivate" if active else "deactivate",
            "user",
            user.id,
            at=now,
            site_id=user.site_id,
        )


def set_role(
    db: Database, actor: Actor, username: str, role: str, *, clock: Clock = system_clock
) -> None:
    """Give a staff user another role; every session and token of theirs ends at once."""
    work = UnitOfWork(db, actor, Action.MANAGE_USERS, clock=clock)
    new_role = check_role(role)
    with work as (session, now):
        user = user_by_name(session, actor, username, Action.MANAGE_USERS)
        _not_self(actor, user, "change the role of")
        check_role_change(Role(user.role), new_role)
        previous = user.role
        user.role = new_role.value
        end_sessions(session, user.id)
        audit(
            session,
            actor,
            "change_role",
            "user",
            user.id,
            at=now,
            site_id=user.site_id,
            detail={"from": previous, "to": new_role.value},
        )
