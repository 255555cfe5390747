"""The patient's plan for today, the kit check and the diary history (services, SQLite and
PostgreSQL): no arm before unblinding, each read audited once, staff refused."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest

from e2e.setup import plan_for, running_trial
from helpers import Clinic, FixedClock, after_last_period, audit_count
from microtrial.errors import PermissionDenied, ValidationError
from microtrial.reports.diary_export import EMPTY, diary_csv, history_charts
from microtrial.services import patient_history, patient_plan, records, trial_lifecycle, trial_views


def _calendar(clinic: Clinic, trial_id: int):  # type: ignore[no-untyped-def]
    return trial_views.trial_calendar(clinic.db, clinic.actors["clinician_sitea"], trial_id)


def test_no_trial_gives_an_empty_plan(clinic: Clinic, clock: FixedClock) -> None:
    before = audit_count(clinic.db)
    plan = patient_plan.today_plan(clinic.db, clinic.actors["p_A-001"], clock=clock)
    assert plan == patient_plan.TodayPlan()
    assert audit_count(clinic.db) == before + 1


def test_the_plan_follows_the_calendar(clinic: Clinic, clock: FixedClock) -> None:
    trial = running_trial(clinic, clock)
    calendar = _calendar(clinic, trial.id)
    patient = clinic.actors["p_A-001"]
    plan = patient_plan.today_plan(clinic.db, patient, clock=clock)
    assert (plan.phase, plan.period, plan.periods, plan.period_day, plan.period_days) == (
        "period",
        1,
        6,
        1,
        14,
    )
    assert plan.dose_today
    assert plan.kit_code == calendar.on(clock.now.date()).kit_code
    assert plan.start_date == clock.now.date() - dt.timedelta(days=7)
    assert "arm" not in plan.model_dump()
    clock.advance(days=-3)
    run_in = patient_plan.today_plan(clinic.db, patient, clock=clock)
    assert (run_in.phase, run_in.run_in_day, run_in.run_in_days, run_in.dose_today) == (
        "run-in",
        5,
        7,
        False,
    )
    assert run_in.next_dose == clock.now.date() + dt.timedelta(days=3)


def test_a_scheduled_trial_is_before_its_start(clinic: Clinic, clock: FixedClock) -> None:
    today = clock.now
    clock.now = today + dt.timedelta(days=10)
    trial = plan_for(clinic, clock)
    trial_lifecycle.transition(
        clinic.db, clinic.actors["clinician_sitea"], trial.id, "schedule", clock=clock
    )
    clock.now = today
    plan = patient_plan.today_plan(clinic.db, clinic.actors["p_A-001"], clock=clock)
    assert plan.phase == "before"
    assert plan.start_date == (today + dt.timedelta(days=10)).date()
    assert not plan.dose_today


def test_check_kit_names_the_kit_due_and_refuses_a_non_code(
    clinic: Clinic, clock: FixedClock
) -> None:
    trial = running_trial(clinic, clock)
    calendar = _calendar(clinic, trial.id)
    due = calendar.on(clock.now.date()).kit_code
    other = next(d.kit_code for d in calendar.days if d.period == 4)
    patient = clinic.actors["p_A-001"]
    ok = patient_plan.check_kit(clinic.db, patient, trial.id, due.lower(), clock=clock)
    assert ok.is_due
    wrong = patient_plan.check_kit(clinic.db, patient, trial.id, other, clock=clock)
    assert (wrong.is_due, wrong.due, wrong.due_period, wrong.period_of_code) == (
        False,
        due,
        1,
        4,
    )
    with pytest.raises(ValidationError, match="is not a kit code"):
        patient_plan.check_kit(clinic.db, patient, trial.id, "HELLO", clock=clock)


def test_staff_have_no_patient_plan_or_diary_history(clinic: Clinic, clock: FixedClock) -> None:
    doc = clinic.actors["clinician_sitea"]
    with pytest.raises(PermissionDenied):
        patient_plan.today_plan(clinic.db, doc, clock=clock)
    with pytest.raises(PermissionDenied):
        patient_history.diary_history(clinic.db, doc, clock=clock)


def test_history_and_export_rows(clinic: Clinic, clock: FixedClock) -> None:
    patient = clinic.actors["p_A-001"]
    empty = patient_history.diary_history(clinic.db, patient, clock=clock)
    assert empty.empty
    assert all(c.svg is None for c in history_charts(empty))
    day = clock.now.date()
    records.record_diary_entries(
        clinic.db,
        patient,
        clinic.patients["A-001"].id,
        [
            records.DiaryInput(day, {"average_pain": 4, "dose_check_in": "not-scheduled"}),
            records.DiaryInput(day, {f"q{i}": 1 for i in range(1, 10)}, instrument_id="phq9"),
        ],
        clock=clock,
    )
    before = audit_count(clinic.db)
    found = patient_history.diary_history(clinic.db, patient, export="csv", clock=clock)
    assert audit_count(clinic.db) == before + 1
    assert [(d.date, d.average_pain, d.worst_pain) for d in found.days] == [(day, 4.0, None)]
    assert [p.value for p in found.mood[0].points] == [9.0]
    assert found.mood[1].points == []
    table = list(csv.reader(io.StringIO(diary_csv(found))))
    assert table[0] == ["date", "questionnaire", "question", "answer"]
    assert [day.isoformat(), "Daily pain diary", "Today's capsule", "not due today"] in table
    charts = history_charts(found)
    assert [c.ident for c in charts] == ["pain", "sleep", "mood", "doses"]
    assert all(c.svg is not None and 'role="img"' in c.svg for c in charts)
    assert EMPTY not in "".join(str(c.svg) for c in charts)


def test_the_history_holds_only_the_patients_own_entries(clinic: Clinic, clock: FixedClock) -> None:
    day = clock.now.date()
    for code, pain in (("A-001", 2), ("A-002", 9)):
        records.record_diary_entries(
            clinic.db,
            clinic.actors[f"p_{code}"],
            clinic.patients[code].id,
            [records.DiaryInput(day, {"average_pain": pain})],
            clock=clock,
        )
    mine = patient_history.diary_history(clinic.db, clinic.actors["p_A-001"], clock=clock)
    assert mine.study_code == "A-001"
    assert [d.average_pain for d in mine.days] == [2.0]
    assert [r.answer for r in mine.rows] == ["2"]


def test_a_completed_trial_is_after_its_periods(clinic: Clinic, clock: FixedClock) -> None:
    trial = running_trial(clinic, clock)
    doc = clinic.actors["clinician_sitea"]
    after_last_period(clinic, clock, trial.id)
    trial_lifecycle.transition(clinic.db, doc, trial.id, "complete", reason="done", clock=clock)
    plan = patient_plan.today_plan(clinic.db, clinic.actors["p_A-001"], clock=clock)
    assert (plan.phase, plan.dose_today, plan.next_dose, plan.kit_code) == (
        "after",
        False,
        None,
        None,
    )
    trial_lifecycle.unblind_trial(clinic.db, doc, trial.id, clock=clock)
    assert patient_plan.today_plan(clinic.db, clinic.actors["p_A-001"], clock=clock).phase is None
