"""Bulk inserts: many rows per statement, with ids chosen by the caller, on SQLite and PostgreSQL.

The demo's bulk path (``services.demo_bulk``) computes whole patients in memory and writes each
table in chunks of compiled multi-row ``INSERT ... VALUES (...), (...)`` statements. Values go
through each column type's own bind processor (JSON, UTC timestamps, dates), so the rows read
back exactly like rows the ORM wrote. Ids are given explicitly (``next_ids``); on PostgreSQL the
id sequences are moved past them afterwards (``advance_sequences``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

from sqlalchemy import Connection, Table, func, select, text

from microtrial.store.models import AuditStreamRow, Base

# Bound parameters per statement: below SQLite's 32,766 and PostgreSQL's 65,535.
MAX_PARAMETERS = 30_000
MAX_ROWS = 1_000


def table_of(model: type[Base]) -> Table:
    """The Core table of an ORM class."""
    return cast(Table, model.__table__)


def next_ids(conn: Connection, models: Sequence[type[Base]]) -> dict[str, int]:
    """Each table's next free id (max + 1), by table name."""
    return {
        table_of(m).name: int(conn.execute(select(func.max(table_of(m).c.id))).scalar() or 0) + 1
        for m in models
    }


def insert_rows(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> int:
    """Insert ``rows`` (dicts with the same keys) in multi-row INSERTs; return the count."""
    if not rows:
        return 0
    dialect = conn.dialect
    columns = [table.c[key] for key in rows[0]]
    processors: list[Callable[[Any], Any] | None] = [
        c.type.dialect_impl(dialect).bind_processor(dialect) for c in columns
    ]
    quote = dialect.identifier_preparer.quote
    mark = "?" if dialect.name == "sqlite" else "%s"
    head = f"INSERT INTO {quote(table.name)} ({', '.join(quote(c.name) for c in columns)}) VALUES "
    one = "(" + ", ".join([mark] * len(columns)) + ")"
    size = max(1, min(MAX_ROWS, MAX_PARAMETERS // len(columns)))
    statements: dict[int, str] = {}
    keys = list(rows[0])
    for start in range(0, len(rows), size):
        chunk = rows[start : start + size]
        sql = statements.get(len(chunk))
        if sql is None:
            sql = statements[len(chunk)] = head + ", ".join([one] * len(chunk))
        params: list[Any] = []
        for row in chunk:
            for key, process in zip(keys, processors, strict=True):
                value = row[key]
                params.append(
                    process(value) if process is not None and value is not None else value
                )
        conn.exec_driver_sql(sql, tuple(params))
    return len(rows)


def advance_sequences(conn: Connection, tables: Sequence[Table]) -> None:
    """On PostgreSQL, move each table's id sequence past its largest id (SQLite needs nothing)."""
    if conn.dialect.name != "postgresql":
        return
    for table in tables:
        conn.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                f"(SELECT COALESCE(MAX(id), 1) FROM {table.name}))"
            )
        )


def audit_heads(conn: Connection) -> dict[str, tuple[str, int]]:
    """Every audit stream's newest hash and event count."""
    rows = conn.execute(
        select(AuditStreamRow.stream, AuditStreamRow.last_hash, AuditStreamRow.count)
    )
    return {stream: (last, int(count)) for stream, last, count in rows}


def save_audit_heads(conn: Connection, heads: dict[str, tuple[str, int]], known: set[str]) -> None:
    """Store the streams' new heads: update the ``known`` ones, insert the others."""
    table = table_of(AuditStreamRow)
    fresh = [
        {"stream": s, "last_hash": h, "count": n} for s, (h, n) in heads.items() if s not in known
    ]
    insert_rows(conn, table, fresh)
    for stream, (last, count) in heads.items():
        if stream in known:
            conn.execute(
                table.update().where(table.c.stream == stream).values(last_hash=last, count=count)
            )
