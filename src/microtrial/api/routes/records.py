"""Daily capture: diary entries (any catalog instrument) and adverse events."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query, Response

from microtrial.api.actions import takes
from microtrial.api.once import OnceDep
from microtrial.api.paging import (
    IdempotencyKeyHeader,
    Page,
    PageQuery,
    PatientPagesQuery,
    PreconditionDep,
    tagged,
)
from microtrial.api.schemas import (
    AdverseEventCreate,
    AdverseEventUpdate,
    AttackCreate,
    DiaryEntryCorrect,
    DiaryEntryCreate,
)
from microtrial.domain.access import Action
from microtrial.errors import NotFound
from microtrial.http.deps import ActorDep, ContextDep
from microtrial.services import adverse_events, attacks, diary_corrections, diary_list, records
from microtrial.services.adverse_events import AdverseEventRead
from microtrial.services.records import DiaryEntryRead

router = APIRouter(tags=["records"])
Instrument = Annotated[str, Query(max_length=80, description="Only this instrument.")]


@router.get("/patients/{patient_id}/diary-entries", openapi_extra=takes(Action.READ_PATIENT))
def list_diary_entries(
    pages: PatientPagesQuery, instrument: Instrument = ""
) -> Page[DiaryEntryRead]:
    """A patient's current diary entries, by local date (sort: local_date, instrument)."""
    return pages.of(diary_list.diary_page, instrument=instrument)


@router.post(
    "/patients/{patient_id}/diary-entries",
    openapi_extra=takes(Action.RECORD_DIARY),
    status_code=201,
    response_description="The day's entry as stored now (a later report: its new version).",
)
async def record_diary_entry(
    context: ContextDep,
    actor: ActorDep,
    patient_id: int,
    body: DiaryEntryCreate,
    idempotency_key: IdempotencyKeyHeader = None,
) -> DiaryEntryRead:
    """Record one instrument's answers for a day; a replayed Idempotency-Key lands once.

    A day has one entry per instrument. A later side-effect checklist (`ae_checklist`) or blood
    pressure (`home_bp`, `clinic_bp`) for a day that has one is added to it: the answer is that
    entry's next version (`version` 2, 3 ..., `change_reason` "reported again later the same
    day"), checked by the safety rules like a new entry. A checklist keeps the worse answer of
    each symptom (the higher grade, any "yes"); a blood pressure is the later reading. The same
    report again changes nothing (the entry as it is). A second daily diary or questionnaire for
    the day answers 409: correct it with `PATCH .../diary-entries/{local_date}/{instrument_id}`.
    """
    entry = records.DiaryInput(
        local_date=body.local_date,
        answers=body.answers,
        instrument_id=body.instrument_id,
        idempotency_key=idempotency_key,
        note=body.note,
    )
    # Written by the process's diary writer, in one transaction with whatever else is waiting.
    (stored,) = await context.diary.record(actor, patient_id, [entry])
    return stored


DAY = "/patients/{patient_id}/diary-entries/{local_date}/{instrument_id}"


@router.get(DAY, openapi_extra=takes(Action.READ_PATIENT))
def read_diary_entry(
    context: ContextDep,
    actor: ActorDep,
    patient_id: int,
    local_date: dt.date,
    instrument_id: str,
    response: Response,
) -> DiaryEntryRead:
    """One instrument's saved entry for a day (the latest version), with its ETag."""
    entry = diary_corrections.get_diary_entry(
        context.db, actor, patient_id, instrument_id, local_date, clock=context.clock
    )
    tagged(response, entry.version)
    return entry


@router.get(f"{DAY}/versions", openapi_extra=takes(Action.READ_PATIENT))
def diary_entry_versions(
    context: ContextDep, actor: ActorDep, patient_id: int, local_date: dt.date, instrument_id: str
) -> list[diary_corrections.DiaryVersionRead]:
    """Every version of a day's entry, oldest first: what it said, who changed it, when and why."""
    day = diary_corrections.diary_day(
        context.db, actor, patient_id, local_date, clock=context.clock
    )
    versions = day.get(instrument_id)
    if not versions:
        raise NotFound(f"date: no saved entry for {local_date}")
    return versions


@router.patch(DAY, openapi_extra=takes(Action.CORRECT_DIARY))
def correct_diary_entry(
    context: ContextDep,
    actor: ActorDep,
    patient_id: int,
    local_date: dt.date,
    instrument_id: str,
    body: DiaryEntryCorrect,
    update: PreconditionDep,
) -> DiaryEntryRead:
    """Correct a saved day (If-Match required): a new version with the reason, the old one kept."""
    correction = diary_corrections.DiaryCorrection(
        local_date=local_date,
        reason=body.reason,
        answers=dict(body.answers),
        instrument_id=instrument_id,
        note=body.note,
        note_given="note" in body.model_fields_set,
    )
    return update.apply(
        lambda expected: diary_corrections.correct_diary_entry(
            context.db,
            actor,
            patient_id,
            correction,
            expected_version=expected,
            clock=context.clock,
        )
    )


@router.get("/patients/{patient_id}/attacks", openapi_extra=takes(Action.READ_PATIENT))
def list_attacks(context: ContextDep, actor: ActorDep, patient_id: int) -> list[attacks.AttackRead]:
    """The patient's latest headache attacks (at most 20), newest first."""
    return attacks.list_attacks(context.db, actor, patient_id, clock=context.clock)


@router.post(
    "/patients/{patient_id}/attacks", openapi_extra=takes(Action.LOG_ATTACK), status_code=201
)
def log_attack(
    actor: ActorDep, patient_id: int, body: AttackCreate, once: OnceDep
) -> attacks.AttackRead:
    """Log a migraine or cluster attack; its day's migraine_diary or cluster_attack_log follows.
    A replayed Idempotency-Key lands once."""
    attack = attacks.AttackInput(
        instrument_id=body.instrument_id,
        started=body.started.replace(tzinfo=None),
        ended=body.ended.replace(tzinfo=None) if body.ended else None,
        severity=body.severity,
        medication_items=frozenset(body.medication_items),
        medication=body.medication,
    )
    services = (attacks.log_attack, attacks.get_attack)
    return once.record(actor, f"attack:patient:{patient_id}", body, services, patient_id, attack)


@router.get("/patients/{patient_id}/adverse-events", openapi_extra=takes(Action.READ_PATIENT))
def list_adverse_events(
    context: ContextDep, actor: ActorDep, patient_id: int, page: PageQuery
) -> Page[AdverseEventRead]:
    """A patient's current adverse events."""
    rows = adverse_events.list_adverse_events(context.db, actor, patient_id, clock=context.clock)
    return page.of(rows, lambda e: (e.id,))


@router.post(
    "/patients/{patient_id}/adverse-events",
    openapi_extra=takes(Action.RECORD_ADVERSE_EVENT),
    status_code=201,
)
def record_adverse_event(
    actor: ActorDep, patient_id: int, body: AdverseEventCreate, once: OnceDep
) -> AdverseEventRead:
    """Record an adverse event (CTCAE grade 1-5)."""
    services = (adverse_events.record_adverse_event, adverse_events.get_adverse_event)
    target = f"adverse_event:patient:{patient_id}"
    return once.record(actor, target, body, services, patient_id, **body.model_dump())


@router.get(
    "/patients/{patient_id}/adverse-events/{record_id}", openapi_extra=takes(Action.READ_PATIENT)
)
def read_adverse_event(
    context: ContextDep, actor: ActorDep, patient_id: int, record_id: str, response: Response
) -> AdverseEventRead:
    """One current adverse event, with its ETag."""
    event = adverse_events.get_adverse_event(
        context.db, actor, patient_id, record_id, clock=context.clock
    )
    tagged(response, event.version)
    return event


@router.patch(
    "/patients/{patient_id}/adverse-events/{record_id}",
    openapi_extra=takes(Action.REVIEW_ADVERSE_EVENT),
)
def review_adverse_event(
    context: ContextDep,
    actor: ActorDep,
    patient_id: int,
    record_id: str,
    body: AdverseEventUpdate,
    update: PreconditionDep,
) -> AdverseEventRead:
    """Confirm, regrade or close an adverse event (If-Match required): a new version."""
    review = adverse_events.AdverseEventReview(**body.model_dump())
    return update.apply(
        lambda expected: adverse_events.review_adverse_event(
            context.db,
            actor,
            patient_id,
            record_id,
            review,
            expected_version=expected,
            clock=context.clock,
        )
    )
