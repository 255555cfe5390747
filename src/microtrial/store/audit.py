"""The append-only, hash-chained audit log."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, event, insert, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from microtrial.store.models import AuditEventRow, AuditStreamRow, PatientRow, SiteRow

GENESIS = "0" * 64


class AuditedSession(Session):
    """MicroTrial's session class: the only one whose flushes write pending audit events.

    The flush hook is registered on this class, not on SQLAlchemy's ``Session``, so other code
    in the same process using SQLAlchemy keeps its sessions untouched.
    """


def _utc_text(at: dt.datetime) -> str:
    # The column type reads back UTC; an aware time in another zone is hashed as its UTC instant.
    return at.astimezone(dt.UTC).isoformat()


def event_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    """The SHA-256 of the previous hash and the event's canonical JSON."""
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256((prev_hash + canonical).encode()).hexdigest()


_HASHED = (
    "actor",
    "actor_user_id",
    "actor_role",
    "site_id",
    "patient_id",
    "action",
    "entity",
    "entity_id",
    "detail",
)


def _fields(row: AuditEventRow) -> dict[str, Any]:
    return {"at": _utc_text(row.at), **{name: getattr(row, name) for name in _HASHED}}


def _stream(patient_id: int | None, site_id: int | None) -> str:
    if patient_id is not None:
        return f"patient:{patient_id}"
    if site_id is not None:
        return f"site:{site_id}"
    return "global"


def stream_of(row: AuditEventRow) -> str:
    """The chain an event joins: its patient's, else its site's, else the global one."""
    return _stream(row.patient_id, row.site_id)


def chain_values(values: list[dict[str, Any]], heads: dict[str, tuple[str, int]]) -> None:
    """Fill ``stream``, ``prev_hash`` and ``hash`` of new audit events given as column values.

    The bulk loader's counterpart of :func:`append_event`: events chain in list order onto
    ``heads`` (stream -> newest hash and count, updated in place; a missing stream starts at
    the genesis hash), with the same fields and hash, so ``verify_chain`` accepts them.
    """
    for value in values:
        stream = value["stream"] = _stream(value["patient_id"], value["site_id"])
        prev, count = heads.get(stream, (GENESIS, 0))
        fields = {"at": _utc_text(value["at"]), **{name: value[name] for name in _HASHED}}
        value["prev_hash"] = prev
        value["hash"] = event_hash(prev, fields)
        heads[stream] = (value["hash"], count + 1)


def lock_streams(session: Session, streams: Iterable[str]) -> None:
    """Lock the heads of several streams at once (in name order, so batches cannot deadlock)."""
    heads: dict[str, AuditStreamRow] = session.info.setdefault("audit_heads", {})
    wanted = sorted(set(streams) - set(heads))
    if not wanted:
        return
    query = (
        select(AuditStreamRow)
        .where(AuditStreamRow.stream.in_(wanted))
        .order_by(AuditStreamRow.stream)
        .with_for_update()
    )
    found = {head.stream: head for head in session.execute(query).scalars()}
    missing = [stream for stream in wanted if stream not in found]
    if missing:
        # Streams' first events. ON CONFLICT lets two first writers meet without an error;
        # the loser then waits on the winner's row lock like any later writer.
        dialect = session.get_bind().dialect.name
        insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
        session.execute(
            insert(AuditStreamRow)
            .values([{"stream": s, "last_hash": GENESIS, "count": 0} for s in missing])
            .on_conflict_do_nothing(index_elements=["stream"])
        )
        again = query.where(AuditStreamRow.stream.in_(missing))
        found.update({head.stream: head for head in session.execute(again).scalars()})
    heads.update(found)


def _locked_head(session: Session, stream: str) -> AuditStreamRow:
    # One lock per stream per transaction: later events of the same transaction reuse it.
    heads: dict[str, AuditStreamRow] = session.info.setdefault("audit_heads", {})
    if stream not in heads:
        lock_streams(session, [stream])
    return heads[stream]


def append_event(session: Session, row: AuditEventRow) -> AuditEventRow:
    """Chain ``row`` onto its stream inside the caller's transaction and add it to the session."""
    # The stream's head row is locked (FOR UPDATE on PostgreSQL; SQLite's BEGIN IMMEDIATE
    # already serialises writers) so that two transactions cannot chain onto one predecessor,
    # while writes for other patients go on in parallel.
    if not isinstance(session, AuditedSession):
        raise TypeError("audit events need a MicroTrial session (Database.transaction)")
    row.stream = stream_of(row)
    head = _locked_head(session, row.stream)
    row.prev_hash = head.last_hash
    row.hash = event_hash(head.last_hash, _fields(row))
    head.last_hash = row.hash
    head.count += 1
    session.info.setdefault("audit_pending", []).append(
        {column: getattr(row, column) for column in _COLUMNS}
    )
    return row


_TABLE = cast(Table, AuditEventRow.__table__)
_COLUMNS = [c.key for c in _TABLE.columns if c.key != "id"]


@event.listens_for(AuditedSession, "before_flush")
def _insert_pending_events(session: Session, _context: object, _instances: object) -> None:
    """Insert the events appended since the last flush, in order, as one executemany.

    Appending changes the stream's head row, so a flush always follows before the commit. One
    constant INSERT executed many times is cheaper than ORM rows: it needs no identity map and,
    on PostgreSQL, psycopg converts the query once and pipelines the executions.
    """
    pending = session.info.pop("audit_pending", None)
    if pending:
        session.connection().execute(insert(_TABLE), pending)


@dataclass(frozen=True)
class ChainProblem:
    """One break in the audit chain."""

    event_id: int | None
    problem: str


def verify_chain(session: Session) -> list[ChainProblem]:
    """Recompute every stream's chain; report edited, moved or deleted events (empty if intact)."""
    problems: list[ChainProblem] = []
    newest: dict[str, str] = {}
    counts: dict[str, int] = {}
    patients_seen: set[int] = set()
    sites_seen: set[int] = set()
    for row in session.execute(select(AuditEventRow).order_by(AuditEventRow.id)).scalars():
        stream = row.stream
        if row.patient_id is not None:
            patients_seen.add(row.patient_id)
        if row.site_id is not None:
            sites_seen.add(row.site_id)
        if row.prev_hash != newest.get(stream, GENESIS):
            problems.append(ChainProblem(row.id, "previous hash does not match: event(s) deleted"))
        if event_hash(row.prev_hash, _fields(row)) != row.hash:
            problems.append(ChainProblem(row.id, "content does not match its hash: event edited"))
        if stream != "global" and stream != stream_of(row):
            problems.append(ChainProblem(row.id, f"event moved: filed under {stream}"))
        newest[stream] = row.hash
        counts[stream] = counts.get(stream, 0) + 1
    heads = {h.stream: h for h in session.execute(select(AuditStreamRow)).scalars()}
    for stream in sorted(set(heads) | set(newest)):
        head = heads.get(stream)
        if head is None:
            problems.append(ChainProblem(None, f"{stream}: its head row is missing"))
            continue
        if head.last_hash != newest.get(stream, GENESIS):
            problems.append(
                ChainProblem(None, f"{stream}: newest event(s) deleted: head hash differs")
            )
        found = counts.get(stream, 0)
        if head.count != found:
            problems.append(
                ChainProblem(None, f"{stream}: head counts {head.count} events, found {found}")
            )
    # Every patient and site was created with an audit event, so each anchors its events: a
    # chain deleted together with its head row still leaves its patient (or site) without any.
    for patient_id in session.execute(select(PatientRow.id)).scalars():
        if patient_id not in patients_seen:
            problems.append(ChainProblem(None, f"patient:{patient_id}: no audit events at all"))
    for site_id in session.execute(select(SiteRow.id)).scalars():
        if site_id not in sites_seen:
            problems.append(ChainProblem(None, f"site:{site_id}: no audit events at all"))
    return problems
