"""Reading the audit log back: chain verification."""

from __future__ import annotations

from sqlalchemy import func, select

from microtrial.store.audit import ChainProblem, verify_chain
from microtrial.store.db import Database
from microtrial.store.models import AuditEventRow


def verify_audit_log(db: Database) -> tuple[list[ChainProblem], int]:
    """Check the whole chain; returns the problems found and the number of events."""
    with db.transaction() as session:
        count = session.execute(select(func.count(AuditEventRow.id))).scalar_one()
        return verify_chain(session), count
