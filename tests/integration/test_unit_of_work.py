"""The one opening of a service call: refuse first, one clock reading, one transaction."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from helpers import Clinic, FixedClock
from microtrial.domain.access import Action, Scope
from microtrial.errors import NotFound, PermissionDenied
from microtrial.services.common import audit
from microtrial.services.unit import UnitOfWork, patient_transaction
from microtrial.store.models import AuditEventRow


class CountingClock(FixedClock):
    """A fixed clock that counts how often it is read."""

    def __init__(self, now: dt.datetime) -> None:
        super().__init__(now)
        self.reads = 0

    def __call__(self) -> dt.datetime:
        self.reads += 1
        return super().__call__()


def _events(clinic: Clinic, action: str) -> int:
    with clinic.db.transaction() as session:
        query = select(func.count()).where(AuditEventRow.action == action)
        return int(session.execute(query).scalar_one())


def test_a_refused_actor_is_refused_before_the_clock_or_the_transaction(clinic: Clinic) -> None:
    clock = CountingClock(dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC))
    researcher = clinic.actors["researcher_sitea"]
    with pytest.raises(PermissionDenied, match="may not stop medications"):
        UnitOfWork(
            clinic.db, researcher, Action.CORRECT_RECORDS, clock=clock, doing="stop medications"
        )
    assert clock.reads == 0


def test_the_clock_is_read_once_and_the_audit_commits_with_the_change(clinic: Clinic) -> None:
    clock = CountingClock(dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC))
    clinician = clinic.actors["clinician_sitea"]
    work = UnitOfWork(clinic.db, clinician, Action.LIST_PATIENTS, clock=clock)
    assert work.scope is Scope.SITE
    assert clock.reads == 0
    early = work.now  # a check before the transaction may use the time
    with work as (session, now):
        assert now == early == clock.now
        audit(session, clinician, "unit_test", "patient", at=now, site_id=clinician.site_id)
    assert clock.reads == 1
    assert _events(clinic, "unit_test") == 1


def test_an_error_rolls_back_the_audit_and_goes_on_to_the_caller(
    clinic: Clinic, clock: FixedClock
) -> None:
    clinician = clinic.actors["clinician_sitea"]
    work = UnitOfWork(clinic.db, clinician, Action.LIST_PATIENTS, clock=clock)

    def fails() -> None:
        with work as (session, now):
            audit(session, clinician, "unit_test", "patient", at=now, site_id=clinician.site_id)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fails()
    assert _events(clinic, "unit_test") == 0


def test_a_patient_read_opens_on_a_reachable_patient_only(clinic: Clinic) -> None:
    clinician = clinic.actors["clinician_sitea"]
    own, other = clinic.patients["A-001"], clinic.patients["B-001"]
    with patient_transaction(clinic.db, clinician, own.id) as (_session, patient):
        assert patient.study_code == "A-001"
    with (
        pytest.raises(NotFound, match=f"no patient {other.id}"),
        patient_transaction(clinic.db, clinician, other.id),
    ):
        pass  # pragma: no cover - refused on entry
