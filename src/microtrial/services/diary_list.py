"""A patient's diary entries a page at a time (records.py writes them)."""

from __future__ import annotations

from sqlalchemy import select

from microtrial.domain.actors import Actor
from microtrial.domain.paging import ListRequest
from microtrial.services.common import Clock, audit_patient, system_clock
from microtrial.services.paging import Listing, Paged, fetch_page
from microtrial.services.records import DiaryEntryRead
from microtrial.services.unit import patient_transaction
from microtrial.store.db import Database
from microtrial.store.models import DiaryEntryRow

DIARY_LISTING = Listing(
    {"local_date": DiaryEntryRow.local_date, "instrument": DiaryEntryRow.instrument_id},
    default="local_date",
    tie=DiaryEntryRow.id,
)


def diary_page(
    db: Database,
    actor: Actor,
    patient_id: int,
    request: ListRequest,
    *,
    clock: Clock = system_clock,
    instrument: str = "",
) -> Paged[DiaryEntryRead]:
    """One page of a patient's current diary entries (oldest first unless sorted otherwise)."""
    with patient_transaction(db, actor, patient_id) as (session, patient):
        query = select(DiaryEntryRow).where(
            DiaryEntryRow.patient_id == patient.id, DiaryEntryRow.is_current.is_(True)
        )
        if instrument:
            query = query.where(DiaryEntryRow.instrument_id == instrument)
        rows, info = fetch_page(session, query, request, DIARY_LISTING)
        found = [DiaryEntryRead.model_validate(row) for (row,) in rows]
        audit_patient(
            session,
            actor,
            "list",
            "diary_entry",
            None,
            patient,
            at=clock(),
            count=len(found),
            total=info.total,
            offset=info.offset,
        )
        return Paged(found, info)
