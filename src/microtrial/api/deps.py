"""The application context and the dependencies route handlers declare (``Annotated`` aliases)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import OAuth2PasswordBearer

from microtrial.api.config import ServerSettings
from microtrial.api.security import LoginThrottle, SessionCodec, TokenSigner
from microtrial.domain.actors import Actor
from microtrial.services.common import Clock
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
    research_secret: str


def get_context(request: Request) -> AppContext:
    """The running application's context."""
    context: AppContext = request.app.state.context
    return context


ContextDep = Annotated[AppContext, Depends(get_context)]

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


def current_actor(
    context: ContextDep, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> Actor:
    """The actor behind the request's bearer token (401 without a valid one)."""
    actor = context.tokens.verify(token) if token else None
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
