"""The store refuses a NUL byte on every path, on both engines (issue 16, finding 13).

The edges refuse control characters first; a path that skips them (the services called as the
command line does) still gets a ValidationError naming the column, never a driver error.
"""

from __future__ import annotations

import datetime as dt

import pytest

from helpers import Clinic, FixedClock, audit_count
from microtrial.errors import ValidationError
from microtrial.services import adverse_events, patients


def test_a_nul_in_a_medication_or_adverse_event_is_refused_by_the_store(
    clinic: Clinic, clock: FixedClock
) -> None:
    doc = clinic.actors["clinician_sitea"]
    pid = clinic.patients["A-001"].id
    before = audit_count(clinic.db)
    with pytest.raises(ValidationError, match="NUL"):
        patients.add_medication(clinic.db, doc, pid, "Ibu\x00profen 400 mg", clock=clock)
    with pytest.raises(ValidationError, match="NUL"):
        adverse_events.record_adverse_event(
            clinic.db,
            doc,
            pid,
            term="nau\x00sea",
            grade=1,
            serious=False,
            onset_date=dt.date(2026, 3, 1),
            clock=clock,
        )
    assert audit_count(clinic.db) == before  # nothing written, not even the audit events
    assert patients.get_patient(clinic.db, doc, pid, clock=clock).medications == []
