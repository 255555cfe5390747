"""Audit refused requests: an object outside the caller's scope, or an action their role lacks."""

from __future__ import annotations

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from microtrial.domain.actors import Actor
from microtrial.errors import MicroTrialError, OutOfScope, PermissionDenied
from microtrial.http.deps import get_context
from microtrial.services.refusals import record_refusal


async def audit_refusal(request: Request, error: MicroTrialError, status: int) -> None:
    """Write the audit event of a refused request (its own transaction); others pass."""
    if not isinstance(error, OutOfScope | PermissionDenied):
        return
    actor = error.actor
    if not isinstance(actor, Actor):
        return  # nobody to attribute it to (the services name the actor of every refusal)
    context = get_context(request)
    refusal = str(error) if isinstance(error, PermissionDenied) else None
    await run_in_threadpool(
        record_refusal,
        context.db,
        actor,
        status=status,
        method=request.method,
        path=request.url.path,
        at=context.clock(),
        refusal=refusal,
    )
