"""Research pseudonyms are keyed with a random per-installation key kept in the database."""

from __future__ import annotations

from sqlalchemy import select

from helpers import Clinic, FixedClock
from microtrial.services import exports
from microtrial.store.models import ExportKeyRow


def pseudonyms(clinic: Clinic, clock: FixedClock, secret: str | None) -> list[str]:
    researcher = clinic.actors["researcher_sitea"]
    tables = exports.research_export(clinic.db, researcher, secret=secret, k=2, clock=clock)
    return sorted(str(p) for p in tables.tables["patients"].iloc[:, 0])


def test_a_stored_key_is_created_once_and_reused(clinic: Clinic, clock: FixedClock) -> None:
    first = pseudonyms(clinic, clock, None)
    with clinic.db.transaction() as session:
        keys = session.execute(select(ExportKeyRow.key_hex)).scalars().all()
    assert len(keys) == 1
    assert len(keys[0]) == 64
    assert pseudonyms(clinic, clock, None) == first
    assert pseudonyms(clinic, clock, "another-long-enough-secret-value") != first
    for code in ("A-001", "A-002"):
        assert all(code not in p for p in first)
