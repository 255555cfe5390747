"""Record a submission of diary entries, adding a later same-day report to the day's entry.

``record_or_add`` is what the patient's Today form calls: entries for instruments the day has
no entry of yet are recorded as new (``records.write_diary_batch``), while a side-effect
checklist or a blood pressure the day already has is added to that day's entry as its next
version (``domain.later_reports``), scored and checked like a correction
(``diary_corrections.correct_in_session``: alerts, side-effect records, diary rules). All in one
transaction: either every entry of the submission is stored or none is.
"""

from __future__ import annotations

from microtrial.domain.access import Action
from microtrial.domain.later_reports import ADDED_LATER, merged_answers
from microtrial.services.adaptive import DAILY_DIARY
from microtrial.services.adaptive_looks import safe_looks_after_diary
from microtrial.services.common import Clock, of_day, patient_for, system_clock
from microtrial.services.diary_corrections import correct_in_session, site_window
from microtrial.services.records import (
    DiaryEntryRead,
    DiarySubmission,
    check_diary_date,
    resolve_instrument,
    write_diary_batch,
)
from microtrial.services.unit import UnitOfWork
from microtrial.store.db import Database
from microtrial.store.models import DiaryEntryRow

LATER_REASON = "reported again later the same day"


def record_or_add(
    db: Database, submission: DiarySubmission, *, clock: Clock = system_clock
) -> list[DiaryEntryRead]:
    """Record a scored submission; a checklist or measurement the day already has is added to it."""
    actor, patient_id = submission.actor, submission.patient_id
    stored: list[DiaryEntryRead] = []
    with UnitOfWork(db, actor, Action.RECORD_DIARY, clock=clock) as (session, now):
        patient = patient_for(session, actor, patient_id)
        window = site_window(session, patient, now)
        new = []
        for entry, result in submission.scored:
            query = of_day(DiaryEntryRow, patient.id, entry.instrument_id, entry.local_date)
            old: DiaryEntryRow | None = session.execute(query).scalar_one_or_none()
            kind = resolve_instrument(db, entry.instrument_id, entry.answers).kind
            if old is None or kind not in ADDED_LATER:
                new.append((entry, result))
                continue
            check_diary_date(entry.local_date, window.today, window.earliest, window.backfill_days)
            answers = merged_answers(kind, old.answers, entry.answers)
            if answers != old.answers:  # the same report sent twice changes nothing
                note = entry.note if entry.note else old.note
                old = correct_in_session(
                    db, session, actor, patient, old, answers, note, LATER_REASON, now
                )
            stored.append(DiaryEntryRead.model_validate(old))
        rest = DiarySubmission(actor, patient_id, new)
        if new:
            write_diary_batch(session, [rest], now)
            if rest.error is not None:
                raise rest.error  # rolls back the additions too: all or nothing
            stored += rest.result or []
    if any(entry.instrument_id == DAILY_DIARY for entry, _ in new):
        safe_looks_after_diary(db, patient_id, now)  # a pair's last day: the adaptive look
    return stored
