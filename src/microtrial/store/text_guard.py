"""The store's last line against NUL bytes: PostgreSQL cannot store one in text or JSON.

The edges refuse control characters first, naming the request's field (``domain/inputs.py``);
this guard catches any other path (a command-line import, a future edge) before the database
does, so that a NUL is a ``ValidationError`` naming the column on both engines, never a driver
error (a 500) on PostgreSQL only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from microtrial.errors import ValidationError
from microtrial.store.audit import AuditedSession

NUL = "\x00"


def holds_nul(value: Any) -> bool:
    """Whether ``value`` (text, or JSON-like lists and mappings of it) contains a NUL."""
    if isinstance(value, str):
        return NUL in value
    if isinstance(value, Mapping):
        return any(holds_nul(k) or holds_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(holds_nul(v) for v in value)
    return False


def check_row(row: Any) -> None:
    """ValidationError naming the first column of ``row`` whose value holds a NUL."""
    for attr in inspect(row).mapper.column_attrs:
        if holds_nul(row.__dict__.get(attr.key)):
            raise ValidationError(
                attr.key, "must not contain a NUL character", allowed="printable text"
            )


@event.listens_for(AuditedSession, "before_flush", insert=True)
def _refuse_nul(session: Session, _context: object, _instances: object) -> None:
    """Check the rows about to be written (and pending audit events) for NUL characters."""
    for row in (*session.new, *session.dirty):
        check_row(row)
    for pending in session.info.get("audit_pending", ()):
        for column, value in pending.items():
            if holds_nul(value):
                raise ValidationError(column, "must not contain a NUL character")
