"""Log migraine and cluster-headache attacks; each updates its day's diary entry.

An attack is a versioned record (``headache_attacks``). In the same transaction the day's entry
of its instrument (``migraine_diary`` or ``cluster_attack_log``) becomes the summary of that
day's attacks: written as a new entry through the diary batch writer, or as a correction of the
saved one, so that scoring, alerts and the diary-history rules run as for any entry.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from microtrial.domain.access import Action
from microtrial.domain.actors import Actor
from microtrial.domain.attacks import Attack, attack_instruments, check_attack, day_answers
from microtrial.errors import ValidationError
from microtrial.i18n import N_
from microtrial.services.alerts import active_trial_ids
from microtrial.services.common import (
    Clock,
    add_audited,
    of_day,
    patient_for,
    patient_today,
    stamp,
    system_clock,
)
from microtrial.services.diary_corrections import correct_in_session, site_window
from microtrial.services.records import (
    DiaryInput,
    DiarySubmission,
    check_diary_date,
    write_diary_batch,
)
from microtrial.services.schemas import ReadModel
from microtrial.services.unit import UnitOfWork, patient_transaction, read_record, read_records
from microtrial.store.db import Database
from microtrial.store.models import ConditionRow, DiaryEntryRow, HeadacheAttackRow, PatientRow

MAX_MEDICATION_TEXT = 200


class AttackRead(ReadModel):
    """A logged attack, with its times in the patient's local time."""

    record_id: str
    instrument_id: str
    local_date: dt.date
    started_at: dt.datetime
    ended_at: dt.datetime | None
    severity: int
    medication_items: list[str]
    medication: str | None = None


@dataclass(frozen=True)
class AttackInput:
    """An attack as the patient reports it (local times, naive)."""

    instrument_id: str
    started: dt.datetime
    ended: dt.datetime | None
    severity: int
    medication_items: frozenset[str] = frozenset()
    medication: str | None = None


def _instruments(session: Session, patient: PatientRow) -> list[str]:
    codes = session.execute(
        select(ConditionRow.icd10_code).where(
            ConditionRow.patient_id == patient.id,
            ConditionRow.is_current.is_(True),
            ConditionRow.status == "active",
        )
    ).scalars()
    return attack_instruments(codes)


def patient_attack_instruments(db: Database, actor: Actor, patient_id: int) -> list[str]:
    """The attack logs the patient's conditions call for (empty for most patients)."""
    with patient_transaction(db, actor, patient_id) as (session, patient):
        return _instruments(session, patient)


def _local(patient: PatientRow, value: dt.datetime) -> dt.datetime:
    return value.astimezone(ZoneInfo(patient.time_zone)).replace(tzinfo=None)


def _utc(patient: PatientRow, local: dt.datetime) -> dt.datetime:
    return local.replace(tzinfo=ZoneInfo(patient.time_zone)).astimezone(dt.UTC)


def _read(patient: PatientRow, row: HeadacheAttackRow) -> AttackRead:
    return AttackRead(
        record_id=row.record_id,
        instrument_id=row.instrument_id,
        local_date=row.local_date,
        started_at=_local(patient, row.started_at),
        ended_at=_local(patient, row.ended_at) if row.ended_at else None,
        severity=row.severity,
        medication_items=list(row.medication_items),
        medication=row.medication,
    )


def log_attack(
    db: Database,
    actor: Actor,
    patient_id: int,
    attack: AttackInput,
    *,
    clock: Clock = system_clock,
) -> AttackRead:
    """Record an attack and bring its day's diary entry up to date (one transaction)."""
    work = UnitOfWork(db, actor, Action.LOG_ATTACK, clock=clock)
    medication = (attack.medication or "").strip() or None
    if medication and len(medication) > MAX_MEDICATION_TEXT:
        raise ValidationError(
            "medication", "is too long", allowed=f"at most {MAX_MEDICATION_TEXT} characters"
        )
    with work as (session, now):
        patient = patient_for(session, actor, patient_id)
        if attack.instrument_id not in _instruments(session, patient):
            raise ValidationError("instrument", N_("this attack log is not part of this diary"))
        facts = Attack(attack.started, attack.ended, attack.severity, attack.medication_items)
        check_attack(attack.instrument_id, facts, _local(patient, now))
        day = attack.started.date()
        window = site_window(session, patient, now)
        check_diary_date(
            day, window.today, patient_today(patient, patient.created_at), window.backfill_days
        )
        row = stamp(
            HeadacheAttackRow(
                patient_id=patient.id,
                trial_id=active_trial_ids(session, [patient.id]).get(patient.id),
                instrument_id=attack.instrument_id,
                local_date=day,
                started_at=_utc(patient, attack.started),
                ended_at=_utc(patient, attack.ended) if attack.ended else None,
                severity=attack.severity,
                medication_items=sorted(attack.medication_items),
                medication=medication,
            ),
            actor,
            now,
        )
        add_audited(session, actor, row, patient, "headache_attack", at=now, date=day.isoformat())
        _update_day(db, session, actor, patient, attack.instrument_id, day, now)
        return _read(patient, row)


def _update_day(
    db: Database,
    session: Session,
    actor: Actor,
    patient: PatientRow,
    instrument_id: str,
    day: dt.date,
    now: dt.datetime,
) -> None:
    """Write the day's entry of ``instrument_id`` as the summary of the day's attacks."""
    rows = session.execute(of_day(HeadacheAttackRow, patient.id, instrument_id, day)).scalars()
    attacks = [
        Attack(
            _local(patient, r.started_at),
            _local(patient, r.ended_at) if r.ended_at else None,
            r.severity,
            frozenset(r.medication_items),
        )
        for r in rows
    ]
    saved = session.execute(
        of_day(DiaryEntryRow, patient.id, instrument_id, day)
    ).scalar_one_or_none()
    if saved is not None:
        answers = day_answers(instrument_id, attacks, saved.answers)
        if answers != saved.answers:
            reason = f"attack logged ({len(attacks)} that day)"
            correct_in_session(db, session, actor, patient, saved, answers, saved.note, reason, now)
        return
    entry = DiaryInput(day, day_answers(instrument_id, attacks), instrument_id=instrument_id)
    submission = DiarySubmission.scored_now(db, actor, patient.id, [entry])
    write_diary_batch(session, [submission], now)
    if submission.error is not None:
        raise submission.error


def list_attacks(
    db: Database, actor: Actor, patient_id: int, *, limit: int = 20, clock: Clock = system_clock
) -> list[AttackRead]:
    """The patient's latest attacks, newest first."""
    newest_first = (HeadacheAttackRow.started_at.desc(), HeadacheAttackRow.id.desc())
    rows, patient = read_records(
        db,
        actor,
        patient_id,
        HeadacheAttackRow,
        "headache_attack",
        *newest_first,
        limit=limit,
        clock=clock,
    )
    return [_read(patient, r) for r in rows]


def get_attack(
    db: Database, actor: Actor, patient_id: int, record_id: str, *, clock: Clock = system_clock
) -> AttackRead:
    """One current attack of a patient (NotFound for another patient's)."""
    row, patient = read_record(
        db, actor, patient_id, HeadacheAttackRow, "headache_attack", record_id, clock=clock
    )
    return _read(patient, row)
