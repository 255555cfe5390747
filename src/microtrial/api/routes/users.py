"""The users of the administrator's site: list, deactivate, reactivate, change role, set password.

Each change ends every session and API token of the user at once and is audited.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Response

from microtrial.api.actions import takes
from microtrial.api.schemas import UserPasswordSet, UserRoleChange
from microtrial.domain.access import Action
from microtrial.http.deps import ActorDep, ContextDep
from microtrial.services import admin, users
from microtrial.services.admin import UserSummary

router = APIRouter(tags=["users"])
F = TypeVar("F", bound=Callable[..., Any])


@router.get("/users", openapi_extra=takes(Action.LIST_USERS))
def list_users(context: ContextDep, actor: ActorDep) -> list[UserSummary]:
    """The users of the caller's site, by username."""
    return admin.list_users(context.db, actor, clock=context.clock)


def _user_change(method: str, change: str) -> Callable[[F], F]:
    """Register a change to a user at ``/users/{username}/<change>``: administrators only
    (``MANAGE_USERS``), answered with 204 No Content."""
    return router.api_route(
        f"/users/{{username}}/{change}",
        methods=[method],
        openapi_extra=takes(Action.MANAGE_USERS),
        status_code=204,
        response_class=Response,
    )


def _activity_route(verb: str, active: bool, description: str) -> None:
    """``POST /users/{username}/<verb>``: deactivate or reactivate the user."""

    def set_active(context: ContextDep, actor: ActorDep, username: str) -> Response:
        users.set_active(context.db, actor, username, active, clock=context.clock)
        return Response(status_code=204)

    set_active.__name__ = f"{verb}_user"  # the OpenAPI operation id, as before
    set_active.__doc__ = description
    _user_change("POST", verb)(set_active)


_activity_route(
    "deactivate",
    False,
    "The user can no longer sign in; their sessions and tokens stop working at once.",
)
_activity_route("reactivate", True, "A deactivated user may sign in again.")


def _put_route(
    name: str, change: str, body: type[Any], apply: Callable[..., None], description: str
) -> None:
    """``PUT /users/{username}/<change>`` with a body, named ``name`` (the OpenAPI operation):
    ``apply(context, actor, username, body)``."""

    def put(context: ContextDep, actor: ActorDep, username: str, body: Any) -> Response:
        apply(context, actor, username, body)
        return Response(status_code=204)

    put.__annotations__["body"] = body  # FastAPI reads the body model from the annotation
    put.__name__ = name
    put.__doc__ = description
    _user_change("PUT", change)(put)


_put_route(
    "change_role",
    "role",
    UserRoleChange,
    lambda c, a, user, body: users.set_role(c.db, a, user, body.role, clock=c.clock),
    "Give a staff user another role; their sessions and tokens end.",
)
_put_route(
    "set_password",
    "password",
    UserPasswordSet,
    lambda c, a, user, body: users.set_user_password(c.db, a, user, body.password, clock=c.clock),
    "Set the user's new password; their sessions, tokens and reset links end.",
)
