"""Diary submissions written together: each one's own answer, one audit event per new entry."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest

from helpers import Clinic, FixedClock, audit_count
from microtrial.errors import ConflictError, NotFound, PermissionDenied, ValidationError
from microtrial.services import adverse_events, records
from microtrial.services.audit import verify_audit_log
from microtrial.services.diary_writer import DiaryWriter
from microtrial.services.records import DiaryInput, DiarySubmission, write_diary_batch

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on a thread of its own (another test may leave a loop running here)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def test_a_batch_answers_each_submission_on_its_own(clinic: Clinic, clock: FixedClock) -> None:
    db = clinic.db
    a1, a2, b1 = (clinic.patients[c].id for c in ("A-001", "A-002", "B-001"))
    doc_a = clinic.actors["clinician_sitea"]
    yesterday = clock().date() - dt.timedelta(days=1)
    # stored by the patient, whose key it is (keys are scoped per user: issue 16)
    stored = records.record_diary_entry(
        db,
        clinic.actors["p_A-001"],
        a1,
        DiaryInput(yesterday, {"average_pain": 2}, idempotency_key="stored-key-1"),
    )
    before = audit_count(db)

    def sub(actor_name: str, patient_id: int, *entries: DiaryInput) -> DiarySubmission:
        return DiarySubmission.scored_now(db, clinic.actors[actor_name], patient_id, entries)

    day = yesterday - dt.timedelta(days=1)
    batch = [
        sub("p_A-001", a1, DiaryInput(day, {"average_pain": 5}, idempotency_key="key-new-1")),
        # the same key and body again in the same batch: a replay of the entry above
        sub("p_A-001", a1, DiaryInput(day, {"average_pain": 5}, idempotency_key="key-new-1")),
        # a replay of an entry stored before the batch
        sub(
            "p_A-001",
            a1,
            DiaryInput(yesterday, {"average_pain": 2}, idempotency_key="stored-key-1"),
        ),
        # the stored key with another body
        sub(
            "p_A-001",
            a1,
            DiaryInput(yesterday, {"average_pain": 9}, idempotency_key="stored-key-1"),
        ),
        # a day already recorded (stored before), and a day taken earlier in this batch
        sub(
            "p_A-002",
            a2,
            DiaryInput(day, {"average_pain": 1}),
            DiaryInput(day, {"average_pain": 1}),
        ),
        sub("p_A-001", a1, DiaryInput(yesterday, {"average_pain": 3})),
        # the future; another site's patient; a good one from site B
        sub("p_A-002", a2, DiaryInput(clock().date() + dt.timedelta(days=2), {"average_pain": 1})),
        sub("clinician_sitea", b1, DiaryInput(day, {"average_pain": 4})),
        sub("p_B-001", b1, DiaryInput(day, {"average_pain": 4}, idempotency_key="key-b-0001")),
    ]
    with db.transaction() as session:
        write_diary_batch(session, batch, clock())

    first, replay, old_replay, reused, same_day, taken, future, foreign, good_b = batch
    assert first.result is not None
    assert first.error is None
    assert replay.result is not None
    assert replay.result[0].id == first.result[0].id
    assert old_replay.result is not None
    assert old_replay.result[0].id == stored.id
    assert isinstance(reused.error, ValidationError)
    assert reused.error.field == "Idempotency-Key"
    assert isinstance(same_day.error, ConflictError)
    assert same_day.result is None
    assert isinstance(taken.error, ConflictError)
    assert isinstance(future.error, ValidationError)
    assert future.error.field == "date"
    assert isinstance(foreign.error, NotFound)
    assert good_b.result is not None
    assert good_b.result[0].patient_id == b1
    # two new entries, two audit events, every chain intact
    assert audit_count(db) == before + 2
    assert verify_audit_log(db)[0] == []
    assert [e.local_date for e in records.list_diary_entries(db, doc_a, a2)] == []


def test_a_researcher_cannot_submit(clinic: Clinic) -> None:
    with pytest.raises(PermissionDenied):
        DiarySubmission.scored_now(
            clinic.db,
            clinic.actors["researcher_sitea"],
            clinic.patients["A-001"].id,
            [DiaryInput(dt.date(2026, 3, 1), {"average_pain": 1})],
        )


def test_the_writer_groups_concurrent_submissions(clinic: Clinic, clock: FixedClock) -> None:
    writer = DiaryWriter(clinic.db, clock=clock)
    patients = [("p_A-001", "A-001"), ("p_A-002", "A-002"), ("p_B-001", "B-001")]

    async def submit_all() -> list[object]:
        calls = [
            writer.record(
                clinic.actors[user],
                clinic.patients[code].id,
                [
                    DiaryInput(
                        clock().date() - dt.timedelta(days=day),
                        {"average_pain": day % 11},
                        idempotency_key=f"{code}-day-{day}",
                    )
                ],
            )
            for user, code in patients
            for day in range(1, 21)
        ]
        # the first key again with another body, racing its first submission
        calls.append(
            writer.record(
                clinic.actors["p_A-001"],
                clinic.patients["A-001"].id,
                [
                    DiaryInput(
                        clock().date() - dt.timedelta(days=1),
                        {"average_pain": 7},
                        idempotency_key="A-001-day-1",
                    )
                ],
            )
        )
        return await asyncio.gather(*calls, return_exceptions=True)

    try:
        results = run(submit_all())
    finally:
        writer.stop()
    *entries, reused = results
    assert all(isinstance(r, list) for r in entries)
    assert all(len(r) == 1 for r in entries if isinstance(r, list))
    assert isinstance(reused, ValidationError)  # same key, another body
    for user, code in patients:
        stored = records.list_diary_entries(
            clinic.db, clinic.actors[user], clinic.patients[code].id
        )
        assert len(stored) == 20
    assert verify_audit_log(clinic.db)[0] == []


def test_a_stopped_writer_refuses_new_work(clinic: Clinic) -> None:
    writer = DiaryWriter(clinic.db)
    writer.stop()
    entry = DiaryInput(dt.date(2026, 3, 1), {"average_pain": 1})
    with pytest.raises(RuntimeError, match="stopped"):
        run(writer.record(clinic.actors["p_A-001"], clinic.patients["A-001"].id, [entry]))


def test_two_writers_racing_for_one_key_store_one_entry(clinic: Clinic, clock: FixedClock) -> None:
    """Two processes' writers are modelled by two writers on one database."""
    writers = [DiaryWriter(clinic.db, clock=clock) for _ in range(2)]
    me, pid = clinic.actors["p_A-001"], clinic.patients["A-001"].id
    entry = DiaryInput(
        clock().date() - dt.timedelta(days=1), {"average_pain": 4}, idempotency_key="phone-77-x"
    )

    def submit(i: int) -> int:
        return run(writers[i % 2].record(me, pid, [entry]))[0].id

    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            ids = list(pool.map(submit, range(16)))
    finally:
        for w in writers:
            w.stop()
    assert len(set(ids)) == 1
    assert len(records.list_diary_entries(clinic.db, me, pid)) == 1


def test_a_later_side_effect_in_the_same_batch_is_added_to_the_new_entry(
    clinic: Clinic, clock: FixedClock
) -> None:
    """Two phones' reports of one day written together: the first makes the entry, the second
    is added to it (the worse grade kept); the daily diary twice is still a conflict."""
    db, pid = clinic.db, clinic.patients["A-001"].id
    me = clinic.actors["p_A-001"]
    day = clock().date()

    def checklist(key: str, **grades: int) -> DiarySubmission:
        entry = DiaryInput(day, dict(grades), "ae_checklist", idempotency_key=key)
        return DiarySubmission.scored_now(db, me, pid, [entry])

    diary = [DiaryInput(day, {"average_pain": 3}), DiaryInput(day, {"average_pain": 4})]
    batch = [
        checklist("ae-a", headache=2),
        checklist("ae-b", headache=1, dizziness=3),
        checklist("ae-a", headache=2),  # the first again: a replay of its own new entry
        DiarySubmission.scored_now(db, me, pid, diary),
    ]
    with db.transaction() as session:
        write_diary_batch(session, batch, clock())
    first, second, replay, two_diaries = batch
    assert first.result is not None
    assert second.result is not None
    assert replay.result is not None
    assert (first.result[0].version, second.result[0].version) == (1, 2)
    assert second.result[0].record_id == first.result[0].record_id
    assert second.result[0].answers == {"headache": 2, "dizziness": 3}
    assert replay.result[0].version == 1
    assert isinstance(two_diaries.error, ConflictError)
    [stored] = records.list_diary_entries(db, clinic.actors["clinician_sitea"], pid)
    assert (stored.instrument_id, stored.version) == ("ae_checklist", 2)
    events = adverse_events.list_adverse_events(db, clinic.actors["clinician_sitea"], pid)
    assert max(e.grade for e in events) == 3
    assert verify_audit_log(db)[0] == []
