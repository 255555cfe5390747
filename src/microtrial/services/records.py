"""Daily capture: diary entries and adverse events, versioned and audited.

A diary entry is one a day per instrument. A later report of a day that already has a
side-effect checklist or a blood pressure is added to that day's entry as its next version
(``domain.later_reports``), on every path that records diary entries; the daily diary and the
questionnaires sent again are refused ("correct it instead").
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from microtrial.domain.access import Action, authorize
from microtrial.domain.actors import Actor
from microtrial.domain.alerts import alerts_for_score
from microtrial.domain.branching import visible_items
from microtrial.domain.catalog import Instrument, load_catalog
from microtrial.domain.later_reports import LATER_REASON, added_later, merged_answers
from microtrial.domain.scoring import ScoreResult, score
from microtrial.errors import ConflictError, MicroTrialError, ValidationError, refuse_all
from microtrial.interop.questionnaire_export import check_typed_answers
from microtrial.services.adaptive import DAILY_DIARY
from microtrial.services.adaptive_looks import safe_looks_after_diary
from microtrial.services.adverse_events import (
    record_checklist_events,
)
from microtrial.services.alerts import active_trial_ids, raise_alerts
from microtrial.services.common import (
    Clock,
    audit_patient,
    check_patient_scope,
    patient_today,
    patients_by_id,
    stamp,
    system_clock,
)
from microtrial.services.diary_rules import NewEntries, run_diary_rules
from microtrial.services.diary_versions import score_json, write_next_version
from microtrial.services.idempotency import request_hash
from microtrial.services.schemas import ReadModel
from microtrial.services.unit import read_records
from microtrial.store.audit import lock_streams
from microtrial.store.db import Database
from microtrial.store.models import (
    DiaryEntryRow,
    IdempotencyKeyRow,
    PatientRow,
    SiteRow,
)

# Days back a diary entry may be dated, unless the patient's site sets its own window.
DEFAULT_BACKFILL_DAYS = 7


class DiaryEntryRead(ReadModel):
    """A stored diary entry (current version)."""

    id: int
    record_id: str
    version: int
    patient_id: int
    instrument_id: str
    local_date: dt.date
    answers: dict[str, Any]
    scores: dict[str, Any]
    note: str | None = None
    change_reason: str | None = None


# The longest daily note a patient may keep with a day's diary.
MAX_NOTE_LENGTH = 500


def clean_note(note: str | None) -> str | None:
    """A daily note stripped of surrounding blanks (None when empty); refuses one too long."""
    text = (note or "").strip()
    if len(text) > MAX_NOTE_LENGTH:
        raise ValidationError(
            "note",
            f"is {len(text)} characters long",
            allowed=f"at most {MAX_NOTE_LENGTH} characters",
        )
    return text or None


@dataclass(frozen=True)
class DiaryInput:
    """One diary entry to record (with the day's optional note)."""

    local_date: dt.date
    answers: dict[str, Any]
    instrument_id: str = "daily_diary"
    idempotency_key: str | None = None
    note: str | None = None


def resolve_instrument(db: Database, instrument_id: str, answers: dict[str, Any]) -> Instrument:
    """The catalog or user-imported instrument, with hidden branching items made optional."""
    catalog = load_catalog()
    if instrument_id in catalog.instruments:
        return catalog.instrument(instrument_id)
    found = db.instruments.find(instrument_id)
    if found is None:
        raise ValidationError(
            "instrument",
            f"unknown instrument {instrument_id!r}",
            allowed="a catalog instrument or one imported into " + db.instruments.where,
        )
    instrument, logic = found.instrument, found.branching
    # a FHIR date/time/decimal item is text in the catalog; its answer must still fit the type
    check_typed_answers(found.fhir_types, answers, instrument_id)
    if not logic:
        return instrument
    order = {item.id: logic.get(item.id) for item in instrument.items}
    shown = visible_items(order, answers)
    hidden = [i for i in instrument.items if i.id not in shown]
    for item in hidden:
        if item.id in answers:
            raise ValidationError(
                f"{instrument_id}.{item.id}",
                "this item is hidden by its branching logic for these answers",
                value=answers[item.id],
            )
    # An item the branching logic hides is not asked, so it cannot be required.
    items = tuple(
        i.model_copy(update={"required": False}) if i in hidden else i for i in instrument.items
    )
    return instrument.model_copy(update={"items": items})


def record_diary_entries(
    db: Database,
    actor: Actor,
    patient_id: int,
    entries: Sequence[DiaryInput],
    *,
    clock: Clock = system_clock,
) -> list[DiaryEntryRead]:
    """Record diary entries in one transaction (one audit event each); replays land once; a
    later side effect or blood pressure of a day is added to the day's entry."""
    submission = DiarySubmission.scored_now(db, actor, patient_id, entries)
    now = clock()
    written = write_submission(db, submission, now)
    if any(entry.instrument_id == DAILY_DIARY for entry in entries):
        safe_looks_after_diary(db, patient_id, now)  # a pair's last day: the adaptive look
    return written


def write_submission(
    db: Database, submission: DiarySubmission, now: dt.datetime
) -> list[DiaryEntryRead]:
    """Write one scored submission in a transaction of its own; raise its error if it fails."""
    try:
        return _write_one(db, submission, now)
    except IntegrityError:
        # Two first submissions raced (same Idempotency-Key, or the same day) and this one
        # lost at a unique index after waiting for the winner's commit. Run it again: it now
        # sees the winner's entry and answers as a replay, or as the conflict it is.
        return _write_one(db, submission, now)


def _write_one(db: Database, submission: DiarySubmission, now: dt.datetime) -> list[DiaryEntryRead]:
    submission.result, submission.error = None, None
    with db.transaction() as session:
        write_diary_batch(session, [submission], now)
    if submission.error is not None:
        raise submission.error
    assert submission.result is not None
    return submission.result


# A blood pressure the clinic measured: staff record it (a patient records ``home_bp``).
CLINIC_BP = "clinic_bp"


@dataclass
class DiarySubmission:
    """One request's diary entries, scored, to be written alone or in a batch with others."""

    actor: Actor
    patient_id: int
    scored: Sequence[tuple[DiaryInput, ScoreResult]]
    result: list[DiaryEntryRead] | None = None
    error: MicroTrialError | None = None

    @classmethod
    def scored_now(
        cls, db: Database, actor: Actor, patient_id: int, entries: Sequence[DiaryInput]
    ) -> DiarySubmission:
        """Check the role and score every entry (no database: done outside any transaction)."""
        authorize(actor, Action.RECORD_DIARY)
        if any(entry.instrument_id == CLINIC_BP for entry in entries):
            authorize(actor, Action.ADD_RECORDS, "record a clinic blood pressure")
        scored, errors = [], []
        for entry in entries:  # every entry checked: a form marks all its mistakes at once
            try:
                instrument = resolve_instrument(db, entry.instrument_id, entry.answers)
                result = score(instrument, entry.answers)
            except ValidationError as error:
                errors.append(error)
                continue
            scored.append((replace(entry, note=clean_note(entry.note)), result))
        refuse_all(errors)
        return cls(actor, patient_id, scored)


@dataclass
class _Planned:
    """An entry that passed its checks: a new row to write, a later report to add to the day's
    entry (``adds``), or the earlier row of a replay."""

    entry: DiaryInput
    result: ScoreResult
    digest: str
    row: DiaryEntryRow | None = None
    replay_of: int | _Planned | None = None
    adds: bool = False


Day = tuple[int, str, dt.date]


def write_diary_batch(session: Session, batch: Sequence[DiarySubmission], now: dt.datetime) -> None:
    """Write submissions in the caller's transaction; each gets its ``result`` or ``error``.

    A submission that fails a check (access, future date, reused key, a daily diary or
    questionnaire the day already has) writes nothing and leaves the others alone. A side
    effect or blood pressure the day already has (stored, or earlier in this batch) is added
    to the day's entry as its next version, checked like a correction. The new entries of the
    batch cost a fixed number of statements: one query each for patients, trials, keys and
    days, one lock per patient's audit stream, and one multi-row insert per table; each
    addition costs its own few. A database error escapes and rolls back the transaction.
    """
    patients = patients_by_id(session, {s.patient_id for s in batch})
    trials = active_trial_ids(session, patients)
    windows = _backfill_windows(session, patients)
    # Days before keys: a concurrent first submission that commits between the two queries is
    # then seen as a claimed key (a replay), never as a taken day without its key (a conflict).
    current = _current_rows(session, batch)
    # Each taken day's answers as the batch so far leaves them (a later report merged in).
    taken = {day: row.answers for day, row in current.items()}
    claims = _earlier_claims(session, batch)
    accepted: list[tuple[DiarySubmission, PatientRow, list[_Planned]]] = []
    for submission in batch:
        try:
            patient, planned = _plan(submission, patients, windows, claims, taken, now)
        except MicroTrialError as err:
            submission.error = err
            continue
        accepted.append((submission, patient, planned))
    earlier_ids = {
        p.replay_of for _, _, plan in accepted for p in plan if isinstance(p.replay_of, int)
    }
    earlier = _rows_by_id(session, earlier_ids)
    lock_streams(session, {f"patient:{patient.id}" for _, patient, _ in accepted})
    for submission, patient, plan in accepted:
        for p in plan:
            if p.replay_of is None and not p.adds:
                p.row = stamp(
                    DiaryEntryRow(
                        patient_id=patient.id,
                        trial_id=trials.get(patient.id),
                        instrument_id=p.entry.instrument_id,
                        local_date=p.entry.local_date,
                        answers=p.entry.answers,
                        scores=score_json(p.result),
                        submitted_at=now,
                        note=p.entry.note,
                    ),
                    submission.actor,
                    now,
                )
                session.add(p.row)
                current[_day_of(patient, p.entry)] = p.row  # a later report in the batch adds to it
    session.flush()  # one multi-row INSERT; the keys below need the new ids
    for submission, patient, plan in accepted:
        stored: list[DiaryEntryRead] = []
        for p in plan:
            if p.replay_of is not None:
                if isinstance(p.replay_of, int):
                    stored.append(DiaryEntryRead.model_validate(earlier[p.replay_of]))
                else:  # the same key twice in this batch: the first one's row
                    assert p.replay_of.row is not None
                    stored.append(DiaryEntryRead.model_validate(p.replay_of.row))
                continue
            if p.adds:
                p.row = _add_to_day(session, submission.actor, patient, p, current, now)
            else:
                _write_follow_ups(session, submission.actor, patient, p, now)
            _claim_key(session, submission.actor, patient, p, now)
            stored.append(DiaryEntryRead.model_validate(p.row))
        submission.result = stored
    # Rules over the diary so far (pain flare, worsening, grade-2 persistence): one query. An
    # addition ran them on its new version already.
    run_diary_rules(
        session,
        [
            NewEntries(s.actor, pt, [p.row for p in plan if p.row and not p.adds])
            for s, pt, plan in accepted
        ],
        now,
    )


def _backfill_windows(session: Session, patients: dict[int, PatientRow]) -> dict[int, int]:
    """Each of these patients' sites' backfill window in days (one query for the batch)."""
    site_ids = {p.site_id for p in patients.values()}
    rows = session.execute(
        select(SiteRow.id, SiteRow.backfill_days).where(SiteRow.id.in_(site_ids))
    ).tuples()
    return {site_id: DEFAULT_BACKFILL_DAYS if days is None else days for site_id, days in rows}


def check_diary_date(day: dt.date, today: dt.date, enrolled: dt.date, backfill_days: int) -> None:
    """Refuse a diary date in the future, before enrolment or older than the backfill window."""
    earliest = max(enrolled, today - dt.timedelta(days=backfill_days))
    allowed = f"{earliest} to {today}"
    if day > today:
        raise ValidationError("date", f"{day} is in the future", value=str(day), allowed=allowed)
    if day < enrolled:
        raise ValidationError(
            "date", f"{day} is before enrolment on {enrolled}", value=str(day), allowed=allowed
        )
    if day < earliest:
        raise ValidationError(
            "date",
            f"{day} is more than {backfill_days} days ago (the site's backfill window)",
            value=str(day),
            allowed=allowed,
        )


def clinic_bp_dates(enrolled: dt.date, today: dt.date) -> tuple[dt.date, dt.date]:
    """The first and last day a clinic blood pressure may be dated: from the start of screening's
    blood-pressure look-back ending on the enrolment day (a referral or GP reading counts toward
    the screening average at enrolment) to today."""
    return load_catalog().blood_pressure_averaging.first_day(enrolled), today


def check_clinic_bp_date(day: dt.date, today: dt.date, enrolled: dt.date) -> None:
    """Refuse a clinic blood pressure in the future or older than ``clinic_bp_dates`` allows
    (staff record it: the patient diary's enrolment and backfill limits do not apply)."""
    earliest, latest = clinic_bp_dates(enrolled, today)
    allowed = f"{earliest} to {latest}"
    if day > latest:
        raise ValidationError("date", f"{day} is in the future", value=str(day), allowed=allowed)
    if day < earliest:
        raise ValidationError(
            "date",
            f"{day} is before {earliest}: a clinic blood pressure may be dated from screening's "
            f"blood-pressure look-back before enrolment on {enrolled}",
            value=str(day),
            allowed=allowed,
        )


def diary_key_scope(patient_id: int, actor: Actor) -> str:
    """Where a diary Idempotency-Key counts: one patient's diary, as sent by one user.

    Scoped per user, so a patient and their clinician (who may both write the diary) never
    replay each other's submissions by sending the same key.
    """
    who = actor.user_id if actor.user_id is not None else actor.username
    return f"diary:{patient_id}:user:{who}"


def _plan(
    submission: DiarySubmission,
    patients: dict[int, PatientRow],
    windows: dict[int, int],
    claims: dict[tuple[str, str], tuple[str, int | _Planned]],
    taken: dict[Day, dict[str, Any]],
    now: dt.datetime,
) -> tuple[PatientRow, list[_Planned]]:
    """Check one submission against the stored state and this batch; raise what fails."""
    actor = submission.actor
    authorize(actor, Action.READ_PATIENT)
    patient = check_patient_scope(actor, submission.patient_id, patients.get(submission.patient_id))
    today = patient_today(patient, now)
    enrolled = patient_today(patient, patient.created_at)
    window = windows.get(patient.site_id, DEFAULT_BACKFILL_DAYS)
    scope = diary_key_scope(patient.id, actor)
    planned: list[_Planned] = []
    new_claims: dict[tuple[str, str], tuple[str, int | _Planned]] = {}
    new_days: dict[Day, dict[str, Any]] = {}
    for entry, result in submission.scored:
        payload = {
            "date": entry.local_date.isoformat(),
            "instrument": entry.instrument_id,
            "answers": entry.answers,
        }
        if entry.note:  # only then: keys stored before notes existed still match
            payload["note"] = entry.note
        p = _Planned(entry, result, request_hash(payload))
        key = (scope, entry.idempotency_key) if entry.idempotency_key else None
        claim = (new_claims.get(key) or claims.get(key)) if key else None
        if claim is not None:
            if claim[0] != p.digest:
                raise ValidationError(
                    "Idempotency-Key", "this key was already used with a different request"
                )
            p.replay_of = claim[1]
            planned.append(p)
            continue
        # after the replay check: a queued entry stored in time still lands once, later
        if entry.instrument_id == CLINIC_BP:
            check_clinic_bp_date(entry.local_date, today, enrolled)
        else:
            check_diary_date(entry.local_date, today, enrolled, window)
        day = _day_of(patient, entry)
        earlier = new_days.get(day, taken.get(day))
        if earlier is None:
            new_days[day] = entry.answers
        elif added_later(entry.instrument_id):
            # A later side effect or blood pressure: added to the day's entry. Its merged answers
            # are checked here, so that a refusal fails this submission only, never the batch.
            instrument = load_catalog().instrument(entry.instrument_id)
            new_days[day] = merged_answers(instrument.kind, earlier, entry.answers)
            score(instrument, new_days[day])
            p.adds = True
        else:
            raise ConflictError(f"date: an entry for {entry.local_date} exists; correct it instead")
        if key:
            new_claims[key] = (p.digest, p)
        planned.append(p)
    # Only a submission that passed every check claims its keys and days for the batch.
    claims.update(new_claims)
    taken.update(new_days)
    return patient, planned


def _day_of(patient: PatientRow, entry: DiaryInput) -> Day:
    return (patient.id, entry.instrument_id, entry.local_date)


def _claim_key(
    session: Session, actor: Actor, patient: PatientRow, p: _Planned, now: dt.datetime
) -> None:
    """The entry's idempotency key, naming the row its request stored (a replay answers it)."""
    assert p.row is not None
    if p.entry.idempotency_key:
        session.add(
            IdempotencyKeyRow(
                scope=diary_key_scope(patient.id, actor),
                key=p.entry.idempotency_key,
                request_hash=p.digest,
                resource="diary",
                resource_id=str(p.row.id),
                created_at=now,
            )
        )


def _add_to_day(
    session: Session,
    actor: Actor,
    patient: PatientRow,
    p: _Planned,
    current: dict[Day, DiaryEntryRow],
    now: dt.datetime,
) -> DiaryEntryRow:
    """A later report added to the day's entry as its next version (alerts, side-effect records,
    diary rules as for a correction); one that adds nothing (sent twice) changes nothing."""
    day = _day_of(patient, p.entry)
    old = current[day]
    # ``added_later``: a catalog instrument, without branching logic to resolve
    instrument = load_catalog().instrument(p.entry.instrument_id)
    answers = merged_answers(instrument.kind, old.answers, p.entry.answers)
    if answers == old.answers:
        return old
    note = p.entry.note or old.note
    new = write_next_version(
        session, actor, patient, old, instrument, answers, note, LATER_REASON, now
    )
    current[day] = new
    return new


def _write_follow_ups(
    session: Session, actor: Actor, patient: PatientRow, p: _Planned, now: dt.datetime
) -> None:
    """The new entry's audit event and alerts."""
    assert p.row is not None
    audit_patient(
        session,
        actor,
        "create",
        "diary_entry",
        p.row.record_id,
        patient,
        at=now,
        date=p.entry.local_date.isoformat(),
        instrument=p.entry.instrument_id,
    )
    # Reported harm becomes a record in this transaction, before the alerts that name it.
    events = record_checklist_events(session, actor, patient, p.row, now)
    alerts = alerts_for_score(p.result)
    if alerts:
        # the day reported on, which the patient's notice names (it may be an earlier day)
        trigger: dict[str, Any] = {
            "diary_entry": p.row.record_id,
            "date": p.entry.local_date.isoformat(),
        }
        if events:
            trigger["adverse_events"] = [e.record_id for e in events]
        raise_alerts(session, actor, patient, alerts, trigger=trigger, now=now)


def _earlier_claims(
    session: Session, batch: Sequence[DiarySubmission]
) -> dict[tuple[str, str], tuple[str, int | _Planned]]:
    """Stored diary keys named by the batch: (scope, key) -> (request hash, entry id)."""
    keys = {
        (diary_key_scope(s.patient_id, s.actor), e.idempotency_key)
        for s in batch
        for e, _ in s.scored
        if e.idempotency_key
    }
    if not keys:
        return {}
    k = IdempotencyKeyRow
    rows = session.execute(
        select(k.scope, k.key, k.request_hash, k.resource_id).where(
            tuple_(k.scope, k.key).in_(sorted(keys))
        )
    )
    return {(scope, key): (digest, int(rid)) for scope, key, digest, rid in rows}


def _current_rows(session: Session, batch: Sequence[DiarySubmission]) -> dict[Day, DiaryEntryRow]:
    """The current entry of each (patient, instrument, day) of the batch that has one."""
    days = {(s.patient_id, e.instrument_id, e.local_date) for s in batch for e, _ in s.scored}
    if not days:
        return {}
    d = DiaryEntryRow
    rows = session.execute(
        select(d).where(
            d.is_current.is_(True),
            tuple_(d.patient_id, d.instrument_id, d.local_date).in_(sorted(days)),
        )
    ).scalars()
    return {(row.patient_id, row.instrument_id, row.local_date): row for row in rows}


def _rows_by_id(session: Session, ids: set[int]) -> dict[int, DiaryEntryRow]:
    if not ids:
        return {}
    rows = session.execute(select(DiaryEntryRow).where(DiaryEntryRow.id.in_(ids))).scalars()
    return {row.id: row for row in rows}


def record_diary_entry(
    db: Database,
    actor: Actor,
    patient_id: int,
    entry: DiaryInput,
    *,
    clock: Clock = system_clock,
) -> DiaryEntryRead:
    """Record one diary entry (see ``record_diary_entries``)."""
    return record_diary_entries(db, actor, patient_id, [entry], clock=clock)[0]


def list_diary_entries(
    db: Database, actor: Actor, patient_id: int, *, clock: Clock = system_clock
) -> list[DiaryEntryRead]:
    """A patient's current diary entries, oldest first."""
    rows, _ = read_records(
        db,
        actor,
        patient_id,
        DiaryEntryRow,
        "diary_entry",
        DiaryEntryRow.local_date,
        DiaryEntryRow.id,
        clock=clock,
    )
    return [DiaryEntryRead.model_validate(r) for r in rows]
