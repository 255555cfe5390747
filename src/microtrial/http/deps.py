"""The application context and the dependencies route handlers declare (``Annotated`` aliases)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import OAuth2PasswordBearer

from microtrial.domain.actors import Actor
from microtrial.http.config import ServerSettings
from microtrial.http.security import LoginThrottle, SessionCodec, TokenSigner
from microtrial.services import sessions
from microtrial.services.common import Clock
from microtrial.services.diary_writer import DiaryWriter
from microtrial.store.db import Database


@dataclass(frozen=True)
class AppContext:
    """Everything a request needs, built once by ``create_app``."""

    settings: ServerSettings
    db: Database
    clock: Clock
    tokens: TokenSigner
    sessions: SessionCodec
    throttle: LoginThrottle
    research_secret: str | None  # MICROTRIAL_EXPORT_SECRET(_FILE); None: exports refused
    diary: DiaryWriter


def get_context(request: Request) -> AppContext:
    """The running application's context."""
    context: AppContext = request.app.state.context
    return context


async def _context_dependency(request: Request) -> AppContext:
    # async: FastAPI runs a sync dependency in the thread pool, a hop per request for nothing.
    return get_context(request)


ContextDep = Annotated[AppContext, Depends(_context_dependency)]

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


def current_actor(
    context: ContextDep, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> Actor:
    """The active user behind the request's bearer token (401 without a valid, unended one)."""
    # Sync: after the signature, one primary-key read checks the user is active and the token's
    # session version is current (sign-out, password or role change, deactivation end it).
    grant = context.tokens.verify(token) if token else None
    actor = None
    if grant is not None and grant[0].user_id is not None:
        actor = sessions.current_actor(context.db, grant[0].user_id, grant[1])
    if actor is None:
        raise HTTPException(
            status_code=401,
            detail="not signed in or the token has expired",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return actor


ActorDep = Annotated[Actor, Depends(current_actor)]


def client_address(request: Request) -> str:
    """The client's address as Uvicorn reports it (proxy headers only when configured)."""
    return request.client.host if request.client else "unknown"
