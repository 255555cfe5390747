"""Browser sessions: a signed HttpOnly, SameSite=Lax cookie carrying the user and a CSRF token."""

from __future__ import annotations

import hmac
from dataclasses import dataclass, replace
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request, Response

from microtrial.domain.access import Action, user_may
from microtrial.domain.actors import Actor
from microtrial.domain.inputs import check_text
from microtrial.errors import PermissionDenied
from microtrial.http.deps import AppContext, ContextDep
from microtrial.http.errors import LoginRequired
from microtrial.http.security import Session, new_session
from microtrial.services import sessions

COOKIE = "mt_session"
CSRF_FIELD = "csrf_token"


@dataclass(frozen=True)
class PageUser:
    """The signed-in user of a page request and their session."""

    actor: Actor
    session: Session

    def may(self, action: Action) -> bool:
        """Whether the policy lets this user take ``action`` (flags what a page offers)."""
        return user_may(self.actor, action)

    def require(self, action: Action) -> Actor:
        """The actor, if the policy lets them take ``action`` (PermissionDenied otherwise)."""
        if not self.may(action):
            refusal = f"this page is not for role {self.actor.role.value!r}"
            raise PermissionDenied(refusal, actor=self.actor)
        return self.actor


def read_session(context: AppContext, request: Request) -> Session | None:
    """The session in the request's cookie, if it is valid and (when signed in) not ended.

    A signed-in session ends when its user's session version is raised (sign-out, password or
    role change, deactivation) or its absolute lifetime since sign-in passes; such a cookie
    reads as no session at all. The actor comes fresh from the database.
    """
    cached: Session | None | bool = getattr(request.state, "mt_session", False)
    if cached is not False:
        return cached if isinstance(cached, Session) else None
    session = context.sessions.loads(request.cookies.get(COOKIE))
    if session is not None and session.actor is not None:
        actor = None
        lifetime = context.settings.session_max_age_s
        if session.actor.user_id is not None and sessions.within_lifetime(
            session.issued_at, context.clock(), lifetime
        ):
            actor = sessions.current_actor(context.db, session.actor.user_id, session.version)
        session = replace(session, actor=actor) if actor is not None else None
    request.state.mt_session = session
    return session


def write_session(
    context: AppContext, request: Request, response: Response, session: Session
) -> None:
    """Set the session cookie (Secure when configured or when the request came over HTTPS)."""
    secure = context.settings.cookie_secure
    if secure is None:
        secure = request.url.scheme == "https"
    response.set_cookie(
        COOKIE,
        context.sessions.dumps(session),
        max_age=context.settings.session_max_age_s,
        path="/",
        httponly=True,
        samesite="lax",
        secure=secure,
    )


def clear_session(response: Response) -> None:
    """Remove the session cookie."""
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax")


def anonymous_session(context: AppContext, request: Request) -> tuple[Session, bool]:
    """The request's session, or a new anonymous one (True when it must be set)."""
    session = read_session(context, request)
    if session is None:
        return new_session(), True
    return session, False


def _page_user(context: ContextDep, request: Request) -> PageUser:
    session = read_session(context, request)
    if session is None or session.actor is None:
        raise LoginRequired(request.url.path)
    return PageUser(actor=session.actor, session=session)


def check_csrf(session: Session | None, submitted: object) -> Session:
    """The session, if the form's token matches its CSRF token (403 otherwise)."""
    if (
        session is None
        or not isinstance(submitted, str)
        or not hmac.compare_digest(session.csrf.encode(), submitted.encode())
    ):
        raise HTTPException(403, "This form has expired or did not come from this site; reload it.")
    return session


async def _form_user(context: ContextDep, request: Request) -> PageUser:
    user = _page_user(context, request)
    form = await request.form()
    check_csrf(user.session, form.get(CSRF_FIELD))
    return user


PageUserDep = Annotated[PageUser, Depends(_page_user)]
FormUserDep = Annotated[PageUser, Depends(_form_user)]


def login_redirect_target(path: str) -> str:
    """The login page URL that comes back to ``path`` afterwards."""
    return f"/login?next={quote(path)}"


def safe_next(value: str | None) -> str | None:
    """A same-site path to go to after login (nothing else is followed)."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return None


async def _form_values(request: Request) -> dict[str, str]:
    form = await request.form()
    # No control character (NUL) in any field: a 422 naming it, never a database error.
    return {
        key: check_text(key, value) for key, value in form.multi_items() if isinstance(value, str)
    }


FormValuesDep = Annotated[dict[str, str], Depends(_form_values)]
