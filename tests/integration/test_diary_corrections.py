"""Seeing and correcting a saved diary day, with the daily note, on both databases."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from helpers import Clinic, FixedClock, audit_count
from microtrial.domain.actors import system_actor
from microtrial.errors import NotFound, PermissionDenied, StaleVersion, ValidationError
from microtrial.services import admin, alerts, records
from microtrial.services.diary_corrections import (
    DiaryCorrection,
    correct_diary_entry,
    diary_day,
    diary_window,
    get_diary_entry,
)
from microtrial.services.records import DiaryInput
from microtrial.store.models import AuditEventRow, DiaryEntryRow


def saved_day(clinic: Clinic, clock: FixedClock, pain: int = 3, note: str | None = None) -> int:
    pid = clinic.patients["A-001"].id
    records.record_diary_entry(
        clinic.db,
        clinic.actors["p_A-001"],
        pid,
        DiaryInput(clock().date(), {"average_pain": pain}, note=note),
        clock=clock,
    )
    return pid


def test_a_patient_corrects_a_day_and_the_first_answers_stay(
    clinic: Clinic, clock: FixedClock
) -> None:
    pid = saved_day(clinic, clock, pain=3, note="slept badly")
    me = clinic.actors["p_A-001"]
    day = clock().date()
    before = audit_count(clinic.db)
    fixed = correct_diary_entry(
        clinic.db,
        me,
        pid,
        DiaryCorrection(day, "I pressed the wrong number", {"average_pain": 5, "worst_pain": 7}),
        expected_version=1,
        clock=clock,
    )
    assert (fixed.version, fixed.answers, fixed.note) == (
        2,
        {"average_pain": 5, "worst_pain": 7},
        "slept badly",
    )
    assert fixed.scores["scores"]["average_pain"]["value"] == 5
    assert fixed.change_reason == "I pressed the wrong number"
    assert audit_count(clinic.db) == before + 1
    # Reads use the latest; the first version is still there with who and when.
    assert get_diary_entry(clinic.db, me, pid, "daily_diary", day).answers["average_pain"] == 5
    assert [e.answers["average_pain"] for e in records.list_diary_entries(clinic.db, me, pid)] == [
        5
    ]
    versions = diary_day(clinic.db, me, pid, day)["daily_diary"]
    assert [(v.version, v.answers["average_pain"], v.change_reason) for v in versions] == [
        (1, 3, None),
        (2, 5, "I pressed the wrong number"),
    ]
    with clinic.db.transaction() as session:
        event = session.execute(
            select(AuditEventRow).where(AuditEventRow.action == "correct")
        ).scalar_one()
        assert event.detail["items"] == ["average_pain", "worst_pain"]
        assert event.actor_user_id == me.user_id
        rows = session.execute(select(DiaryEntryRow.version, DiaryEntryRow.is_current)).all()
        assert sorted(rows) == [(1, False), (2, True)]


def test_a_correction_needs_a_reason_the_current_version_and_valid_answers(
    clinic: Clinic, clock: FixedClock
) -> None:
    pid = saved_day(clinic, clock)
    me = clinic.actors["p_A-001"]
    day = clock().date()
    with pytest.raises(ValidationError) as blank:
        correct_diary_entry(clinic.db, me, pid, DiaryCorrection(day, "  ", {"average_pain": 4}))
    assert blank.value.field == "reason"
    with pytest.raises(ValidationError) as bad:
        correct_diary_entry(clinic.db, me, pid, DiaryCorrection(day, "typo", {"average_pain": 11}))
    assert "average_pain" in bad.value.field
    with pytest.raises(ValidationError) as long_note:
        correct_diary_entry(
            clinic.db,
            me,
            pid,
            DiaryCorrection(day, "note", {}, note="x" * 501, note_given=True),
        )
    assert long_note.value.field == "note"
    correct_diary_entry(
        clinic.db, me, pid, DiaryCorrection(day, "typo", {"average_pain": 4}), expected_version=1
    )
    with pytest.raises(StaleVersion):
        correct_diary_entry(
            clinic.db,
            me,
            pid,
            DiaryCorrection(day, "again", {"average_pain": 6}),
            expected_version=1,
        )
    with pytest.raises(NotFound):
        correct_diary_entry(
            clinic.db, me, pid, DiaryCorrection(day - dt.timedelta(days=1), "x", {})
        )


def test_who_may_correct(clinic: Clinic, clock: FixedClock) -> None:
    pid = saved_day(clinic, clock)
    day = clock().date()
    fix = DiaryCorrection(day, "patient phoned: pain was 2", {"average_pain": 2})
    for other in ("p_A-002", "clinician_siteb"):
        with pytest.raises(NotFound):
            correct_diary_entry(clinic.db, clinic.actors[other], pid, fix)
    for refused in ("unblinded_staff_sitea", "researcher_sitea"):
        with pytest.raises(PermissionDenied):
            correct_diary_entry(clinic.db, clinic.actors[refused], pid, fix)
    done = correct_diary_entry(clinic.db, clinic.actors["clinician_sitea"], pid, fix)
    assert (done.version, done.answers["average_pain"]) == (2, 2)
    assert diary_day(clinic.db, clinic.actors["p_A-001"], pid, day)["daily_diary"][-1].recorded_by
    assert (
        "clinician_sitea"
        in diary_day(clinic.db, clinic.actors["p_A-001"], pid, day)["daily_diary"][-1].recorded_by
    )


def test_a_patient_corrects_only_inside_the_window_a_clinician_any_day(
    clinic: Clinic, clock: FixedClock
) -> None:
    pid = clinic.patients["A-001"].id
    me = clinic.actors["p_A-001"]
    old_day = clock().date() - dt.timedelta(days=10)
    records.record_diary_entry(
        clinic.db, me, pid, DiaryInput(old_day, {"average_pain": 3}), clock=clock
    )
    admin.set_backfill_days(clinic.db, system_actor("test"), "SITEA", 7, clock=clock)
    window = diary_window(clinic.db, me, pid, clock=clock)
    assert (window.today - window.earliest).days == 7
    with pytest.raises(ValidationError) as late:
        correct_diary_entry(
            clinic.db, me, pid, DiaryCorrection(old_day, "typo", {"average_pain": 4}), clock=clock
        )
    assert late.value.field == "date"
    done = correct_diary_entry(
        clinic.db,
        clinic.actors["clinician_sitea"],
        pid,
        DiaryCorrection(old_day, "checked with the patient", {"average_pain": 4}),
        clock=clock,
    )
    assert done.version == 2
    # Backfill inside the window still works: a missed day three days ago.
    missed = clock().date() - dt.timedelta(days=3)
    entry = records.record_diary_entry(
        clinic.db, me, pid, DiaryInput(missed, {"average_pain": 2}, note="forgot"), clock=clock
    )
    assert (entry.local_date, entry.note) == (missed, "forgot")


def test_a_correction_crossing_phq9_item9_raises_the_urgent_alert_once(
    clinic: Clinic, clock: FixedClock
) -> None:
    pid = clinic.patients["A-001"].id
    me = clinic.actors["p_A-001"]
    day = clock().date()
    answers = {f"q{i}": 0 for i in range(1, 10)}
    records.record_diary_entry(
        clinic.db, me, pid, DiaryInput(day, answers, instrument_id="phq9"), clock=clock
    )
    doc = clinic.actors["clinician_sitea"]
    assert alerts.list_alerts(clinic.db, doc) == []
    fix = DiaryCorrection(day, "I meant to tick this", {"q9": 1}, instrument_id="phq9")
    correct_diary_entry(clinic.db, me, pid, fix, clock=clock)
    assert [(a.code, a.severity) for a in alerts.list_alerts(clinic.db, doc)] == [
        ("phq9-item9", "urgent")
    ]
    # Correcting another item keeps item 9 positive: the alert is not raised twice.
    again = DiaryCorrection(day, "q1 too", {"q1": 1}, instrument_id="phq9")
    correct_diary_entry(clinic.db, me, pid, again, clock=clock)
    assert len(alerts.list_alerts(clinic.db, doc)) == 1


def test_the_daily_note_is_saved_with_the_day_and_can_be_cleared(
    clinic: Clinic, clock: FixedClock
) -> None:
    pid = saved_day(clinic, clock, note="  headache in the evening  ")
    me = clinic.actors["p_A-001"]
    day = clock().date()
    doc = clinic.actors["clinician_sitea"]
    assert get_diary_entry(clinic.db, doc, pid, "daily_diary", day).note == (
        "headache in the evening"
    )
    cleared = correct_diary_entry(
        clinic.db, me, pid, DiaryCorrection(day, "private", {}, note="", note_given=True)
    )
    assert cleared.note is None
    assert diary_day(clinic.db, me, pid, day)["daily_diary"][0].note == "headache in the evening"
    with pytest.raises(ValidationError) as long_note:
        records.record_diary_entry(
            clinic.db,
            me,
            pid,
            DiaryInput(day - dt.timedelta(days=1), {"average_pain": 1}, note="y" * 501),
        )
    assert long_note.value.field == "note"
