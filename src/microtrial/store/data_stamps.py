"""Each trial's *data stamp*: a counter raised in the same flush as any change to its inputs.

What a trial's analysis reads (``services.trial_fits.data_versions``): the trial row, its
periods, doses, adverse events and blinding guesses, and its patient's diary entries and
conditions. Every ORM flush that inserts or changes such a row raises ``trials.data_stamp`` of
the trials it belongs to, in the same transaction. A reader that kept the stamps it saw can
then find the trials whose inputs changed since with one query of small columns, instead of
recomputing every trial's data version (``services.cohort_results``). Rows written outside the
ORM (the bulk demo's multi-row INSERTs) raise no stamp: they are written before any result is
computed, and the refresh recomputes the versions themselves in any case.
"""

from __future__ import annotations

from sqlalchemy import event, or_, update
from sqlalchemy.orm import Session

from microtrial.store.audit import AuditedSession
from microtrial.store.models import (
    AdverseEventRow,
    BlindingGuessRow,
    ConditionRow,
    DiaryEntryRow,
    DoseEventRow,
    PeriodRow,
    TrialRow,
)

BY_PATIENT = (DiaryEntryRow, ConditionRow)
BY_TRIAL = (DoseEventRow, AdverseEventRow, BlindingGuessRow, PeriodRow)


@event.listens_for(AuditedSession, "before_flush")
def _raise_stamps(session: Session, _context: object, _instances: object) -> None:
    """Raise the data stamp of every trial whose inputs this flush inserts or changes."""
    changed = [*session.new, *session.dirty]
    patients = {o.patient_id for o in changed if isinstance(o, BY_PATIENT)} - {None}
    trials = {o.trial_id for o in changed if isinstance(o, BY_TRIAL)} - {None}
    for row in session.dirty:
        if isinstance(row, TrialRow) and session.is_modified(row):
            trials.add(row.id)
    if not patients and not trials:
        return
    # on the connection: a plain UPDATE, no ORM bookkeeping inside the flush
    session.connection().execute(
        update(TrialRow)
        .where(or_(TrialRow.patient_id.in_(sorted(patients)), TrialRow.id.in_(sorted(trials))))
        .values(data_stamp=TrialRow.data_stamp + 1)
    )
