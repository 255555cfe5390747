"""Daily capture: diary entries and adverse events, versioned and audited."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import String, literal, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from microtrial.domain.actors import Actor, Role
from microtrial.domain.alerts import AdverseEventReport, alerts_for_score, check_adverse_event
from microtrial.domain.branching import visible_items
from microtrial.domain.catalog import Instrument, load_catalog, parse_instrument
from microtrial.domain.scoring import ScoreResult, score
from microtrial.errors import ConflictError, ValidationError
from microtrial.services.alerts import active_trial_id, raise_alerts
from microtrial.services.common import (
    Clock,
    audit,
    patient_for,
    patient_today,
    require_role,
    stamp,
    system_clock,
)
from microtrial.services.schemas import ReadModel
from microtrial.store.db import Database
from microtrial.store.models import AdverseEventRow, DiaryEntryRow, IdempotencyKeyRow

RECORDERS = {Role.PATIENT, Role.CLINICIAN}
INSTRUMENT_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,80}$")  # no path tricks


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


class AdverseEventRead(ReadModel):
    """A stored adverse event (current version)."""

    id: int
    record_id: str
    version: int
    patient_id: int
    term: str
    grade: int
    serious: bool
    onset_date: dt.date


@dataclass(frozen=True)
class DiaryInput:
    """One diary entry to record."""

    local_date: dt.date
    answers: dict[str, Any]
    instrument_id: str = "daily_diary"
    idempotency_key: str | None = None


def request_hash(payload: dict[str, Any]) -> str:
    """A stable hash of a request body, to tell a replay from a different request."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def claim_idempotency_key(
    session: Session, scope: str, key: str, payload: dict[str, Any], resource: str, at: dt.datetime
) -> IdempotencyKeyRow | None:
    """Return the earlier claim of ``key`` (same body) or None after claiming it now.

    The same key with a different body is a ValidationError: the client reused a key. Two
    first requests racing with one key (PostgreSQL) meet at the unique constraint: the loser
    rolls back to a savepoint and answers as a replay of the winner.
    """
    digest = request_hash(payload)
    earlier = _claimed(session, scope, key)
    if earlier is None:
        try:
            with session.begin_nested():
                session.add(
                    IdempotencyKeyRow(
                        scope=scope,
                        key=key,
                        request_hash=digest,
                        resource=resource,
                        resource_id="",
                        created_at=at,
                    )
                )
            return None
        except IntegrityError:
            earlier = _claimed(session, scope, key)
            if earlier is None:  # pragma: no cover - the constraint names this row
                raise
    if earlier.request_hash != digest:
        raise ValidationError(
            "Idempotency-Key", "this key was already used with a different request"
        )
    return earlier


def _claimed(session: Session, scope: str, key: str) -> IdempotencyKeyRow | None:
    return session.execute(
        select(IdempotencyKeyRow).where(
            IdempotencyKeyRow.scope == scope, IdempotencyKeyRow.key == key
        )
    ).scalar_one_or_none()


def score_json(result: ScoreResult) -> dict[str, Any]:
    """A scored entry as JSON-ready values."""
    return {
        "instrument_version": result.instrument_version,
        "primary": result.primary_score,
        "scores": {
            s.id: {"value": s.value, "band": s.band, "prorated": s.prorated}
            for s in result.scores.values()
        },
        "flags": [f.id for f in result.flags],
    }


def resolve_instrument(db: Database, instrument_id: str, answers: dict[str, Any]) -> Instrument:
    """The catalog or user-imported instrument, with hidden branching items made optional."""
    catalog = load_catalog()
    if instrument_id in catalog.instruments:
        return catalog.instrument(instrument_id)
    directory = Path(db.settings.instrument_dir)
    path = directory / f"{instrument_id}.yaml"
    if not INSTRUMENT_ID.match(instrument_id) or not path.is_file():
        raise ValidationError(
            "instrument",
            f"unknown instrument {instrument_id!r}",
            allowed="a catalog instrument or one imported into " + str(directory),
        )
    instrument = parse_instrument(path.read_text(encoding="utf-8"))
    sidecar = directory / f"{instrument_id}.interop.json"
    logic = (
        json.loads(sidecar.read_text(encoding="utf-8")).get("branching", {})
        if sidecar.is_file()
        else {}
    )
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
    """Record diary entries in one transaction (one audit event each); replays land once."""
    require_role(actor, RECORDERS, "record diary entries")
    now = clock()
    # Scoring needs no database: done before the transaction, it holds no lock.
    scored = [
        (entry, score(resolve_instrument(db, entry.instrument_id, entry.answers), entry.answers))
        for entry in entries
    ]
    try:
        return _record_diary_entries(db, actor, patient_id, scored, now)
    except IntegrityError:
        # Two first submissions raced (same Idempotency-Key, or the same day) and this one
        # lost at a unique index after waiting for the winner's commit. Run it again: it now
        # sees the winner's entry and answers as a replay, or as the conflict it is.
        return _record_diary_entries(db, actor, patient_id, scored, now)


def _record_diary_entries(
    db: Database,
    actor: Actor,
    patient_id: int,
    scored: Sequence[tuple[DiaryInput, ScoreResult]],
    now: dt.datetime,
) -> list[DiaryEntryRead]:
    stored: list[DiaryEntryRead] = []
    with db.transaction() as session:
        patient = patient_for(session, actor, patient_id)
        today = patient_today(patient, now)
        trial_id = session.execute(active_trial_id(patient.id)).scalar_one_or_none()
        scope = f"diary:{patient.id}"
        for entry, result in scored:
            if entry.local_date > today:
                raise ValidationError(
                    "date",
                    f"{entry.local_date} is in the future",
                    value=str(entry.local_date),
                    allowed=f"on or before {today}",
                )
            payload = {
                "date": entry.local_date.isoformat(),
                "instrument": entry.instrument_id,
                "answers": entry.answers,
            }
            digest = request_hash(payload)
            # One round trip for both questions: was this key used, is the day taken?
            claimed, duplicate = session.execute(
                select(
                    _key_claim(scope, entry.idempotency_key),
                    select(DiaryEntryRow.id)
                    .where(
                        DiaryEntryRow.patient_id == patient.id,
                        DiaryEntryRow.instrument_id == entry.instrument_id,
                        DiaryEntryRow.local_date == entry.local_date,
                        DiaryEntryRow.is_current.is_(True),
                    )
                    .limit(1)
                    .scalar_subquery(),
                )
            ).one()
            if claimed is not None:
                earlier_hash, _, resource_id = claimed.partition(" ")
                if earlier_hash != digest:
                    raise ValidationError(
                        "Idempotency-Key", "this key was already used with a different request"
                    )
                row = session.get(DiaryEntryRow, int(resource_id))
                assert row is not None  # written in the same transaction as the key
                stored.append(DiaryEntryRead.model_validate(row))
                continue
            if duplicate is not None:
                raise ConflictError(
                    f"date: an entry for {entry.local_date} exists; correct it instead"
                )
            row = stamp(
                DiaryEntryRow(
                    patient_id=patient.id,
                    trial_id=trial_id,
                    instrument_id=entry.instrument_id,
                    local_date=entry.local_date,
                    answers=entry.answers,
                    scores=score_json(result),
                    submitted_at=now,
                ),
                actor,
                now,
            )
            session.add(row)
            session.flush()
            if entry.idempotency_key:
                session.add(
                    IdempotencyKeyRow(
                        scope=scope,
                        key=entry.idempotency_key,
                        request_hash=digest,
                        resource="diary",
                        resource_id=str(row.id),
                        created_at=now,
                    )
                )
            audit(
                session,
                actor,
                "create",
                "diary_entry",
                row.record_id,
                at=now,
                site_id=patient.site_id,
                patient_id=patient.id,
                detail={"date": entry.local_date.isoformat(), "instrument": entry.instrument_id},
            )
            alerts = alerts_for_score(result)
            if alerts:
                raise_alerts(
                    session,
                    actor,
                    patient,
                    alerts,
                    trigger={"diary_entry": row.record_id},
                    now=now,
                )
            stored.append(DiaryEntryRead.model_validate(row))
    return stored


def _key_claim(scope: str, key: str | None) -> Any:
    """A scalar subquery: "<request hash> <resource id>" of an earlier use of ``key``, or NULL."""
    if not key:
        return literal(None, String)
    return (
        select(IdempotencyKeyRow.request_hash + " " + IdempotencyKeyRow.resource_id)
        .where(IdempotencyKeyRow.scope == scope, IdempotencyKeyRow.key == key)
        .scalar_subquery()
    )


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
    with db.transaction() as session:
        patient = patient_for(session, actor, patient_id)
        rows = session.execute(
            select(DiaryEntryRow)
            .where(DiaryEntryRow.patient_id == patient.id, DiaryEntryRow.is_current.is_(True))
            .order_by(DiaryEntryRow.local_date, DiaryEntryRow.id)
        ).scalars()
        result = [DiaryEntryRead.model_validate(r) for r in rows]
        audit(
            session,
            actor,
            "list",
            "diary_entry",
            None,
            at=clock(),
            site_id=patient.site_id,
            patient_id=patient.id,
            detail={"count": len(result)},
        )
        return result


def record_adverse_event(
    db: Database,
    actor: Actor,
    patient_id: int,
    *,
    term: str,
    grade: int,
    serious: bool,
    onset_date: dt.date,
    symptoms: Sequence[str] = (),
    clock: Clock = system_clock,
) -> AdverseEventRead:
    """Record an adverse event with its CTCAE grade (1-5) and seriousness."""
    require_role(actor, RECORDERS, "record adverse events")
    if not 1 <= grade <= 5:
        raise ValidationError("grade", f"{grade} is out of range", value=grade, allowed="1..5")
    term = term.strip()
    if not term:
        raise ValidationError("term", "empty adverse-event term")
    now = clock()
    with db.transaction() as session:
        patient = patient_for(session, actor, patient_id)
        if onset_date > patient_today(patient, now):
            raise ValidationError("onset_date", f"{onset_date} is in the future")
        row = stamp(
            AdverseEventRow(
                patient_id=patient.id,
                trial_id=_trial_id(session, patient.id),
                term=term,
                grade=grade,
                serious=serious,
                onset_date=onset_date,
            ),
            actor,
            now,
        )
        session.add(row)
        session.flush()
        audit(
            session,
            actor,
            "create",
            "adverse_event",
            row.record_id,
            at=now,
            site_id=patient.site_id,
            patient_id=patient.id,
            detail={"grade": grade, "serious": serious},
        )
        report = AdverseEventReport(
            term=term, grade=grade, serious=serious, symptoms=frozenset(symptoms)
        )
        raise_alerts(
            session,
            actor,
            patient,
            check_adverse_event(report),
            trigger={"adverse_event": row.record_id},
            now=now,
        )
        return AdverseEventRead.model_validate(row)


def _trial_id(session: Session, patient_id: int) -> int | None:
    return session.execute(active_trial_id(patient_id)).scalar_one_or_none()
