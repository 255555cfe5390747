"""Idempotency keys: a repeated create (same key, same body) answers with what the first made."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from microtrial.errors import ConflictError, ValidationError
from microtrial.services.common import Clock, system_clock
from microtrial.store.db import Database
from microtrial.store.models import IdempotencyKeyRow


def request_hash(payload: dict[str, Any]) -> str:
    """A stable hash of a request body, to tell a replay from a different request."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def claim_idempotency_key(
    session: Session, scope: str, key: str, payload: dict[str, Any], resource: str, at: dt.datetime
) -> IdempotencyKeyRow | None:
    """Return the earlier claim of ``key`` (same body) or None after claiming it now.

    The same key with a different body is a ValidationError: the client reused a key. Two
    first requests racing with one key (PostgreSQL) meet at the unique constraint: the loser
    rolls back to a savepoint and answers as a replay of the winner.
    """
    digest = request_hash(payload)
    earlier = _claimed(session, scope, key)
    if earlier is None:
        try:
            with session.begin_nested():
                session.add(
                    IdempotencyKeyRow(
                        scope=scope,
                        key=key,
                        request_hash=digest,
                        resource=resource,
                        resource_id="",
                        created_at=at,
                    )
                )
            return None
        except IntegrityError:
            earlier = _claimed(session, scope, key)
            if earlier is None:  # pragma: no cover - the constraint names this row
                raise
    if earlier.request_hash != digest:
        raise ValidationError(
            "Idempotency-Key", "this key was already used with a different request"
        )
    return earlier


def _claimed(session: Session, scope: str, key: str) -> IdempotencyKeyRow | None:
    return session.execute(
        select(IdempotencyKeyRow).where(
            IdempotencyKeyRow.scope == scope, IdempotencyKeyRow.key == key
        )
    ).scalar_one_or_none()


def claim_create(
    db: Database,
    scope: str,
    key: str,
    payload: dict[str, Any],
    resource: str,
    *,
    clock: Clock = system_clock,
) -> str | None:
    """Claim an Idempotency-Key for a create; the earlier resource id when it is a replay.

    None means the key is now claimed and the caller must create, then ``complete_create`` (or
    ``release_create`` when creating failed). The same key with another body is a
    ValidationError; a key whose first request is still running is a ConflictError.
    """
    _check_key(key)
    try:
        with db.transaction() as session:
            earlier = claim_idempotency_key(session, scope, key, payload, resource, clock())
            if earlier is None:
                return None
            if earlier.resource != resource or not earlier.resource_id:
                raise ConflictError(
                    "Idempotency-Key: the first request with this key is still being processed"
                )
            return earlier.resource_id
    except IntegrityError as err:  # a concurrent first request won the race for the key
        raise ConflictError(
            "Idempotency-Key: the first request with this key is still being processed"
        ) from err


def complete_create(db: Database, scope: str, key: str, resource_id: str) -> None:
    """Record which resource a claimed key created."""
    with db.transaction() as session:
        session.execute(
            update(IdempotencyKeyRow)
            .where(IdempotencyKeyRow.scope == scope, IdempotencyKeyRow.key == key)
            .values(resource_id=resource_id)
        )


def release_create(db: Database, scope: str, key: str) -> None:
    """Give a claimed key back after the create failed, so that a corrected retry can use it."""
    with db.transaction() as session:
        session.execute(
            delete(IdempotencyKeyRow).where(
                IdempotencyKeyRow.scope == scope,
                IdempotencyKeyRow.key == key,
                IdempotencyKeyRow.resource_id == "",
            )
        )


def _check_key(key: str) -> None:
    if not 8 <= len(key) <= 120 or not key.isprintable():
        raise ValidationError(
            "Idempotency-Key", "malformed key", value=key, allowed="8-120 printable characters"
        )
