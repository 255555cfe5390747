"""The append-only, hash-chained audit log."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from microtrial.store.models import AuditEventRow, AuditHeadRow

GENESIS = "0" * 64


def _utc_text(at: dt.datetime) -> str:
    # SQLite hands timestamps back naive; they were written in UTC.
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    return at.astimezone(dt.UTC).isoformat()


def event_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    """The SHA-256 of the previous hash and the event's canonical JSON."""
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256((prev_hash + canonical).encode()).hexdigest()


def _fields(row: AuditEventRow) -> dict[str, Any]:
    return {
        "at": _utc_text(row.at),
        "actor": row.actor,
        "actor_user_id": row.actor_user_id,
        "actor_role": row.actor_role,
        "site_id": row.site_id,
        "patient_id": row.patient_id,
        "action": row.action,
        "entity": row.entity,
        "entity_id": row.entity_id,
        "detail": row.detail,
    }


def append_event(session: Session, row: AuditEventRow) -> AuditEventRow:
    """Chain ``row`` onto the log inside the caller's transaction and add it to the session."""
    # The head row is locked (FOR UPDATE on PostgreSQL; SQLite's BEGIN IMMEDIATE already
    # serialises writers) so that two transactions cannot chain onto the same predecessor.
    head = session.execute(
        select(AuditHeadRow).where(AuditHeadRow.id == 1).with_for_update()
    ).scalar_one()
    row.prev_hash = head.last_hash
    row.hash = event_hash(head.last_hash, _fields(row))
    head.last_hash = row.hash
    head.count += 1
    session.add(row)
    return row


@dataclass(frozen=True)
class ChainProblem:
    """One break in the audit chain."""

    event_id: int | None
    problem: str


def verify_chain(session: Session) -> list[ChainProblem]:
    """Recompute the chain; report edited, reordered or deleted events (empty when intact)."""
    problems: list[ChainProblem] = []
    prev = GENESIS
    count = 0
    for row in session.execute(select(AuditEventRow).order_by(AuditEventRow.id)).scalars():
        count += 1
        if row.prev_hash != prev:
            problems.append(ChainProblem(row.id, "previous hash does not match: event(s) deleted"))
        if event_hash(row.prev_hash, _fields(row)) != row.hash:
            problems.append(ChainProblem(row.id, "content does not match its hash: event edited"))
        prev = row.hash
    head = session.get(AuditHeadRow, 1)
    if head is None:
        problems.append(ChainProblem(None, "audit head row is missing"))
    else:
        if head.last_hash != prev:
            problems.append(ChainProblem(None, "newest event(s) deleted: head hash differs"))
        if head.count != count:
            problems.append(ChainProblem(None, f"head counts {head.count} events, found {count}"))
    return problems
