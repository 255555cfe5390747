"""Idempotent creates: a replayed Idempotency-Key returns the first result instead of a copy."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import Response

from microtrial.http.deps import AppContext
from microtrial.services import idempotency

M = TypeVar("M")


def create_once(
    context: AppContext,
    response: Response,
    *,
    key: str | None,
    scope: str,
    resource: str,
    payload: dict[str, Any],
    create: Callable[[], M],
    fetch: Callable[[str], M],
    ident: Callable[[M], str],
) -> M:
    """Run ``create`` once per key; a replay with the same body gets ``fetch`` of the first."""
    if key is None:
        return create()
    db, clock = context.db, context.clock
    earlier = idempotency.claim_create(db, scope, key, payload, resource, clock=clock)
    if earlier is not None:
        response.headers["Idempotent-Replayed"] = "true"
        return fetch(earlier)
    try:
        created = create()
    except BaseException:
        idempotency.release_create(db, scope, key)
        raise
    idempotency.complete_create(db, scope, key, ident(created))
    return created
