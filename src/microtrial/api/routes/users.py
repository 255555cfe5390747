"""The users of the administrator's site: list, deactivate, reactivate, change role, set password.

Each change ends every session and API token of the user at once and is audited.
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from microtrial.api.actions import takes
from microtrial.api.schemas import UserPasswordSet, UserRoleChange
from microtrial.domain.access import Action
from microtrial.http.deps import ActorDep, ContextDep
from microtrial.services import admin, users
from microtrial.services.admin import UserSummary

router = APIRouter(tags=["users"])


@router.get("/users", openapi_extra=takes(Action.LIST_USERS))
def list_users(context: ContextDep, actor: ActorDep) -> list[UserSummary]:
    """The users of the caller's site, by username."""
    return admin.list_users(context.db, actor, clock=context.clock)


@router.post(
    "/users/{username}/deactivate",
    openapi_extra=takes(Action.MANAGE_USERS),
    status_code=204,
    response_class=Response,
)
def deactivate_user(context: ContextDep, actor: ActorDep, username: str) -> Response:
    """The user can no longer sign in; their sessions and tokens stop working at once."""
    users.deactivate_user(context.db, actor, username, clock=context.clock)
    return Response(status_code=204)


@router.post(
    "/users/{username}/reactivate",
    openapi_extra=takes(Action.MANAGE_USERS),
    status_code=204,
    response_class=Response,
)
def reactivate_user(context: ContextDep, actor: ActorDep, username: str) -> Response:
    """A deactivated user may sign in again."""
    users.reactivate_user(context.db, actor, username, clock=context.clock)
    return Response(status_code=204)


@router.put(
    "/users/{username}/role",
    openapi_extra=takes(Action.MANAGE_USERS),
    status_code=204,
    response_class=Response,
)
def change_role(
    context: ContextDep, actor: ActorDep, username: str, body: UserRoleChange
) -> Response:
    """Give a staff user another role; their sessions and tokens end."""
    users.set_role(context.db, actor, username, body.role, clock=context.clock)
    return Response(status_code=204)


@router.put(
    "/users/{username}/password",
    openapi_extra=takes(Action.MANAGE_USERS),
    status_code=204,
    response_class=Response,
)
def set_password(
    context: ContextDep, actor: ActorDep, username: str, body: UserPasswordSet
) -> Response:
    """Set the user's new password; their sessions, tokens and reset links end."""
    users.set_user_password(context.db, actor, username, body.password, clock=context.clock)
    return Response(status_code=204)
