"""Idempotent creates as a route dependency: the Idempotency-Key header bound to the request."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Response
from pydantic import BaseModel

from microtrial.api.paging import IdempotencyKeyHeader
from microtrial.domain.actors import Actor
from microtrial.http.creates import create_once
from microtrial.http.deps import AppContext, ContextDep

M = TypeVar("M")


def record_id(created: Any) -> str:
    """The record id of a created versioned record (what a replay fetches it by)."""
    return str(created.record_id)


@dataclass(frozen=True)
class CreateOnce:
    """Runs a create once per Idempotency-Key; a replay answers with the first result."""

    context: AppContext
    response: Response
    key: str | None

    def __call__(
        self,
        actor: Actor,
        target: str,
        body: BaseModel,
        *,
        create: Callable[[], M],
        fetch: Callable[[str], M],
        ident: Callable[[M], str] = record_id,
    ) -> M:
        """Create from ``body`` once per key; ``target`` is ``<resource>:<owner>``, e.g.
        ``dose:trial:7`` (a key is scoped to the target and the user)."""
        return create_once(
            self.context,
            self.response,
            key=self.key,
            scope=f"{target}:user:{actor.user_id}",
            resource=target.split(":", 1)[0],
            payload=body.model_dump(mode="json"),
            create=create,
            fetch=fetch,
            ident=ident,
        )

    def record(
        self,
        actor: Actor,
        target: str,
        body: BaseModel,
        services: tuple[Callable[..., M], Callable[..., M]],
        owner: int,
        *args: Any,
        **kwargs: Any,
    ) -> M:
        """Create a versioned record of ``owner`` (a patient or trial id) once per key: ``services``
        is the create, called ``(db, actor, owner, *args, **kwargs)``, and the fetch a replay
        reads the record by, called ``(db, actor, owner, record_id)``."""
        create, fetch = services
        return self(
            actor,
            target,
            body,
            create=self.bind(create, actor, owner, *args, **kwargs),
            fetch=self.bind(fetch, actor, owner),
        )

    def bind(
        self, service: Callable[..., M], actor: Actor, *args: Any, **kwargs: Any
    ) -> Callable[..., M]:
        """``service(db, actor, *args, *more, clock=..., **kwargs)`` as a function of ``*more``:
        a create (no ``more``) or a fetch (the record id)."""
        context = self.context
        return lambda *more: service(context.db, actor, *args, *more, clock=context.clock, **kwargs)


async def _create_once(
    context: ContextDep, response: Response, idempotency_key: IdempotencyKeyHeader = None
) -> CreateOnce:
    # async: FastAPI runs a sync dependency in the thread pool, a hop per request for nothing.
    return CreateOnce(context, response, idempotency_key)


OnceDep = Annotated[CreateOnce, Depends(_create_once)]
