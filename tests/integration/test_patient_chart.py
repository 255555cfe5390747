"""The patient page's record over time, stopping a medication and a clinic blood pressure."""

from __future__ import annotations

import datetime as dt

import pytest

from e2e.setup import running_trial
from helpers import Clinic, FixedClock, audit_count
from microtrial.errors import NotFound, PermissionDenied, ValidationError
from microtrial.services import (
    adverse_events,
    alerts,
    dosing,
    patient_chart,
    patients,
    records,
    screening,
)
from microtrial.services.records import DiaryInput


def test_a_clinic_blood_pressure_goes_through_the_blood_pressure_rules(
    clinic: Clinic, clock: FixedClock
) -> None:
    doc = clinic.actors["clinician_sitea"]
    pid = clinic.patients["A-001"].id
    today = clock().date()
    patient_chart.record_clinic_bp(clinic.db, doc, pid, today, 150, 85, 70, clock=clock)
    assert alerts.list_alerts(clinic.db, doc, patient_id=pid) == []
    # at the catalog's withhold threshold (160/90): the same alert as a home reading
    yesterday = today - dt.timedelta(days=1)
    patient_chart.record_clinic_bp(clinic.db, doc, pid, yesterday, 120, 90, clock=clock)
    raised = alerts.list_alerts(clinic.db, doc, patient_id=pid)
    assert [(a.code, a.action) for a in raised] == [("bp-withhold", "withhold-dose")]
    home = clinic.patients["A-002"].id
    reading = DiaryInput(today, {"systolic": 120, "diastolic": 90}, "home_bp")
    records.record_diary_entry(clinic.db, doc, home, reading, clock=clock)
    same = alerts.list_alerts(clinic.db, doc, patient_id=home)
    assert [(a.code, a.severity, a.message) for a in same] == [
        (a.code, a.severity, a.message) for a in raised
    ]
    crisis_day = today - dt.timedelta(days=2)
    patient_chart.record_clinic_bp(clinic.db, doc, pid, crisis_day, 185, 100, clock=clock)
    codes = [(a.code, a.severity) for a in alerts.list_alerts(clinic.db, doc, patient_id=pid)]
    assert ("bp-crisis", "urgent") in codes
    # the plausibility rules too: nothing stored
    with pytest.raises(ValidationError, match="diastolic"):
        patient_chart.record_clinic_bp(
            clinic.db, doc, pid, today - dt.timedelta(days=3), 90, 150, clock=clock
        )
    with pytest.raises(ValidationError, match="date"):
        patient_chart.record_clinic_bp(
            clinic.db, doc, pid, today + dt.timedelta(days=1), 120, 80, clock=clock
        )
    chart = patient_chart.patient_chart(clinic.db, doc, pid, clock=clock)
    assert [(r.local_date, r.systolic, r.diastolic, r.where) for r in chart.blood_pressure] == [
        (crisis_day, 185, 100, "clinic"),
        (yesterday, 120, 90, "clinic"),
        (today, 150, 85, "clinic"),
    ]
    assert chart.blood_pressure[-1].pulse == 70
    # screening judges the mean of the recent readings, whoever measured them
    screened = screening.screen_patient(clinic.db, doc, pid, "psilocybin", clock=clock)
    assert [(f["code"], f["matched"]) for f in screened.findings if f["code"].startswith("bp")] == [
        (
            "bp-uncontrolled",
            "151.7/91.7 mmHg (mean of 3 readings on 3 days: "
            f"{crisis_day} 185/100; {yesterday} 120/90; {today} 150/85)",
        )
    ]
    assert screened.decision == "do-not-start"


def test_only_site_clinicians_record_a_clinic_blood_pressure(
    clinic: Clinic, clock: FixedClock
) -> None:
    pid = clinic.patients["A-001"].id
    today = clock().date()
    with pytest.raises(NotFound):
        patient_chart.record_clinic_bp(
            clinic.db, clinic.actors["clinician_siteb"], pid, today, 120, 80, clock=clock
        )
    for who in ("unblinded_staff_sitea", "researcher_sitea", "p_A-001"):
        with pytest.raises(PermissionDenied):
            patient_chart.record_clinic_bp(
                clinic.db, clinic.actors[who], pid, today, 120, 80, clock=clock
            )


def test_stopping_a_medication_keeps_the_old_version_and_is_audited(
    clinic: Clinic, clock: FixedClock
) -> None:
    doc = clinic.actors["clinician_sitea"]
    pid = clinic.patients["A-001"].id
    med = patients.add_medication(clinic.db, doc, pid, "sertraline 50 mg", clock=clock)
    end = clock().date() - dt.timedelta(days=2)
    with pytest.raises(ValidationError, match="reason"):
        patient_chart.stop_medication(clinic.db, doc, pid, med.record_id, end, " ", clock=clock)
    with pytest.raises(ValidationError, match="end_date"):
        patient_chart.stop_medication(
            clinic.db, doc, pid, med.record_id, end + dt.timedelta(days=5), "x", clock=clock
        )
    with pytest.raises(NotFound):
        patient_chart.stop_medication(
            clinic.db, doc, clinic.patients["A-002"].id, med.record_id, end, "x", clock=clock
        )
    with pytest.raises(NotFound):
        patient_chart.stop_medication(
            clinic.db, clinic.actors["clinician_siteb"], pid, med.record_id, end, "x", clock=clock
        )
    before = audit_count(clinic.db)
    stopped = patient_chart.stop_medication(
        clinic.db, doc, pid, med.record_id, end, "tapered off by GP", clock=clock
    )
    assert audit_count(clinic.db) > before
    assert (stopped.status, stopped.end_date, stopped.version) == ("stopped", end, 2)
    versions = patients.record_history(clinic.db, doc, "medication", med.record_id, clock=clock)
    assert [(v.version, v.is_current, v.change_reason) for v in versions] == [
        (1, False, None),
        (2, True, "tapered off by GP"),
    ]
    current = patients.get_patient(clinic.db, doc, pid, clock=clock).medications
    assert [(m.status, m.end_date) for m in current] == [("stopped", end)]
    with pytest.raises(ValidationError, match="already stopped"):
        patient_chart.stop_medication(clinic.db, doc, pid, med.record_id, end, "x", clock=clock)


def test_the_chart_merges_doses_events_side_effects_and_mood_on_one_timeline(
    clinic: Clinic, clock: FixedClock
) -> None:
    doc = clinic.actors["clinician_sitea"]
    patient = clinic.actors["p_A-001"]
    pid = clinic.patients["A-001"].id
    trial = running_trial(clinic, clock)
    today = clock().date()
    dosing.record_dose(
        clinic.db,
        patient,
        trial.id,
        taken_at=clock(),
        kit_code=trial.periods[0].kit_code,
        clock=clock,
    )
    phq = {f"q{i}": 1 for i in range(1, 9)} | {"q9": 0}
    records.record_diary_entry(
        clinic.db, patient, pid, DiaryInput(today - dt.timedelta(days=7), phq, "phq9"), clock=clock
    )
    lower = {f"q{i}": 0 for i in range(1, 10)} | {"q1": 1}
    records.record_diary_entry(
        clinic.db, patient, pid, DiaryInput(today, lower, "phq9"), clock=clock
    )
    gad = {f"q{i}": 2 for i in range(1, 8)}
    records.record_diary_entry(clinic.db, patient, pid, DiaryInput(today, gad, "gad7"), clock=clock)
    checklist = {"headache": 1, "nausea_gi": 0}
    day = today - dt.timedelta(days=1)
    records.record_diary_entry(
        clinic.db, patient, pid, DiaryInput(day, checklist, "ae_checklist"), clock=clock
    )
    adverse_events.record_adverse_event(
        clinic.db,
        doc,
        pid,
        term="Dizziness",
        grade=1,
        serious=False,
        onset_date=today - dt.timedelta(days=3),
        clock=clock,
    )
    before = audit_count(clinic.db)
    chart = patient_chart.patient_chart(clinic.db, doc, pid, clock=clock)
    assert audit_count(clinic.db) == before + 1
    assert [(s.total, s.change) for s in chart.mood["phq9"]] == [(8.0, None), (1.0, -7.0)]
    assert [s.total for s in chart.mood["gad7"]] == [14.0]
    kinds = [(t.local_date, t.kind) for t in chart.timeline]
    assert kinds == sorted(kinds, key=lambda k: k[0], reverse=True)
    assert {k for _, k in kinds} == {"dose", "mood", "side effect", "adverse event"}
    dose = next(t for t in chart.timeline if t.kind == "dose")
    assert dose.text == f"capsule taken, kit {trial.periods[0].kit_code}"
    assert "active" not in dose.text
    assert "placebo" not in dose.text
    effect = next(t for t in chart.timeline if t.kind == "side effect")
    assert effect.text.startswith("Headache (new or unusual): Grade 1")
    event = next(t for t in chart.timeline if t.kind == "adverse event")
    assert event.text == "Dizziness, grade 1 (confirmed)"
    with pytest.raises(PermissionDenied):
        patient_chart.patient_chart(clinic.db, clinic.actors["researcher_sitea"], pid)
    with pytest.raises(NotFound):
        patient_chart.patient_chart(clinic.db, clinic.actors["clinician_siteb"], pid)


def test_a_patient_cannot_file_a_clinic_reading(clinic: Clinic, clock: FixedClock) -> None:
    pid = clinic.patients["A-001"].id
    reading = DiaryInput(clock().date(), {"systolic": 120, "diastolic": 80}, "clinic_bp")
    with pytest.raises(PermissionDenied, match="clinic blood pressure"):
        records.record_diary_entry(clinic.db, clinic.actors["p_A-001"], pid, reading, clock=clock)
    home = DiaryInput(clock().date(), {"systolic": 120, "diastolic": 80}, "home_bp")
    records.record_diary_entry(clinic.db, clinic.actors["p_A-001"], pid, home, clock=clock)
