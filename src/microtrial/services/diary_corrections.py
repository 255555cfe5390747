"""See and correct a saved diary day: every version kept, reads use the latest.

A correction is the next version of the day's entry (``services.common.supersede``) with who,
when and why; the earlier answers stay in the table. The corrected answers are scored again and
go through the same safety path as a new entry: instrument alerts (e.g. PHQ-9 item 9) that the
earlier version did not raise, side-effect records for the checklist, and the diary-history
rules (pain flare, worsening). A patient corrects days inside their site's backfill window; a
clinician (site-scoped) any day of their site's patients.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from microtrial.domain.access import Action, allows
from microtrial.domain.actors import Actor
from microtrial.errors import NotFound, ValidationError
from microtrial.i18n import N_
from microtrial.services.common import (
    Clock,
    audit_patient,
    check_version,
    of_day,
    patient_for,
    patient_today,
    system_clock,
)
from microtrial.services.diary_versions import write_next_version
from microtrial.services.records import (
    DEFAULT_BACKFILL_DAYS,
    DiaryEntryRead,
    check_diary_date,
    clean_note,
    resolve_instrument,
)
from microtrial.services.schemas import ReadModel
from microtrial.services.unit import UnitOfWork, patient_transaction
from microtrial.store.db import Database
from microtrial.store.models import DiaryEntryRow, PatientRow, SiteRow

MAX_REASON_LENGTH = 500


class DiaryVersionRead(ReadModel):
    """One version of a diary day's entry: what it said, who saved it, when and why."""

    version: int
    answers: dict[str, Any]
    note: str | None = None
    recorded_at: dt.datetime
    recorded_by: str
    change_reason: str | None = None
    recorded_local: dt.datetime | None = None  # recorded_at in the patient's time zone


@dataclass(frozen=True)
class DiaryCorrection:
    """A correction of one instrument's entry for one day.

    ``answers`` are merged into the saved ones (an answer of None removes it) unless
    ``replace`` is set, when they are the day's whole answers. ``note`` changes the day's note
    only when ``note_given`` is set (None or "" then clears it).
    """

    local_date: dt.date
    reason: str
    answers: dict[str, Any]
    instrument_id: str = "daily_diary"
    replace: bool = False
    note: str | None = None
    note_given: bool = False


@dataclass(frozen=True)
class DiaryWindow:
    """The patient's today and the earliest day they may still fill in or correct."""

    today: dt.date
    earliest: dt.date
    backfill_days: int

    def open_days(self, before: dt.date | None = None, limit: int = 31) -> list[dt.date]:
        """Up to ``limit`` days a patient may still fill in, latest first (before ``before``)."""
        start = self.today if before is None else min(self.today, before - dt.timedelta(days=1))
        span = min((start - self.earliest).days + 1, limit)
        return [start - dt.timedelta(days=i) for i in range(max(span, 0))]

    def may_correct(self, actor: Actor, day: dt.date) -> bool:
        """Whether ``actor`` may correct ``day``: clinicians any day, patients inside the window."""
        if not allows(actor, Action.CORRECT_DIARY):
            return False
        return allows(actor, Action.CORRECT_RECORDS) or self.earliest <= day <= self.today


def site_window(session: Session, patient: PatientRow, now: dt.datetime) -> DiaryWindow:
    """The patient's diary window at ``now`` (in the caller's transaction)."""
    days = session.execute(
        select(SiteRow.backfill_days).where(SiteRow.id == patient.site_id)
    ).scalar_one_or_none()
    window = DEFAULT_BACKFILL_DAYS if days is None else days
    today = patient_today(patient, now)
    enrolled = patient_today(patient, patient.created_at)
    return DiaryWindow(today, max(enrolled, today - dt.timedelta(days=window)), window)


def diary_window(
    db: Database, actor: Actor, patient_id: int, *, clock: Clock = system_clock
) -> DiaryWindow:
    """The days a patient may still fill in or correct (their site's backfill window)."""
    with patient_transaction(db, actor, patient_id) as (session, patient):
        return site_window(session, patient, clock())


def _current(
    session: Session, patient: PatientRow, instrument_id: str, day: dt.date
) -> DiaryEntryRow:
    query = of_day(DiaryEntryRow, patient.id, instrument_id, day)
    row: DiaryEntryRow | None = session.execute(query).scalar_one_or_none()
    if row is None:
        raise NotFound(f"date: no saved entry for {day}")
    return row


def get_diary_entry(
    db: Database,
    actor: Actor,
    patient_id: int,
    instrument_id: str,
    day: dt.date,
    *,
    clock: Clock = system_clock,
) -> DiaryEntryRead:
    """The current entry of one instrument for one day (NotFound when none is saved)."""
    with patient_transaction(db, actor, patient_id) as (session, patient):
        row = _current(session, patient, instrument_id, day)
        audit_patient(session, actor, "read", "diary_entry", row.record_id, patient, at=clock())
        return DiaryEntryRead.model_validate(row)


def diary_day(
    db: Database, actor: Actor, patient_id: int, day: dt.date, *, clock: Clock = system_clock
) -> dict[str, list[DiaryVersionRead]]:
    """Every instrument's entry for a day, each as its versions oldest first (latest last)."""
    with patient_transaction(db, actor, patient_id) as (session, patient):
        current = session.execute(
            select(DiaryEntryRow.record_id, DiaryEntryRow.instrument_id).where(
                DiaryEntryRow.patient_id == patient.id,
                DiaryEntryRow.local_date == day,
                DiaryEntryRow.is_current.is_(True),
            )
        )
        by_record: dict[str, str] = dict(current.tuples().all())
        rows = session.execute(
            select(DiaryEntryRow)
            .where(DiaryEntryRow.record_id.in_(set(by_record)))
            .order_by(DiaryEntryRow.version)
        ).scalars()
        found: dict[str, list[DiaryVersionRead]] = {}
        for row in rows:
            local = row.recorded_at.astimezone(ZoneInfo(patient.time_zone)).replace(tzinfo=None)
            version = DiaryVersionRead.model_validate(row).model_copy(
                update={"recorded_local": local}
            )
            found.setdefault(by_record[row.record_id], []).append(version)
        audit_patient(
            session,
            actor,
            "read",
            "diary_day",
            day.isoformat(),
            patient,
            at=clock(),
            entries=sorted(by_record),
        )
        return found


def _answers(old: dict[str, Any], correction: DiaryCorrection) -> dict[str, Any]:
    merged = {} if correction.replace else dict(old)
    for key, value in correction.answers.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def _reason(reason: str) -> str:
    text = (reason or "").strip()
    if not text:
        raise ValidationError("reason", N_("please say why the day is corrected"))
    if len(text) > MAX_REASON_LENGTH:
        raise ValidationError(
            "reason", "is too long", allowed=f"at most {MAX_REASON_LENGTH} characters"
        )
    return text


def correct_diary_entry(
    db: Database,
    actor: Actor,
    patient_id: int,
    correction: DiaryCorrection,
    *,
    expected_version: int | None = None,
    clock: Clock = system_clock,
) -> DiaryEntryRead:
    """Correct a saved day: a new version with the reason, scored and checked like a new entry."""
    work = UnitOfWork(db, actor, Action.CORRECT_DIARY, clock=clock)
    reason = _reason(correction.reason)
    note = clean_note(correction.note) if correction.note_given else None
    with work as (session, now):
        patient = patient_for(session, actor, patient_id)
        old = _current(session, patient, correction.instrument_id, correction.local_date)
        check_version(expected_version, old.version)
        if not allows(actor, Action.CORRECT_RECORDS):
            window = site_window(session, patient, now)
            check_diary_date(
                correction.local_date,
                window.today,
                patient_today(patient, patient.created_at),
                window.backfill_days,
            )
        new = correct_in_session(
            db,
            session,
            actor,
            patient,
            old,
            _answers(old.answers, correction),
            note if correction.note_given else old.note,
            reason,
            now,
        )
        return DiaryEntryRead.model_validate(new)


def correct_in_session(
    db: Database,
    session: Session,
    actor: Actor,
    patient: PatientRow,
    old: DiaryEntryRow,
    answers: dict[str, Any],
    note: str | None,
    reason: str,
    now: dt.datetime,
) -> DiaryEntryRow:
    """Write the next version of ``old`` in the caller's transaction, with its safety checks."""
    instrument = resolve_instrument(db, old.instrument_id, answers)
    return write_next_version(session, actor, patient, old, instrument, answers, note, reason, now)
