"""A missed day filled in on the web asks for that day's side effects and blood pressure too, and
saves them through the same records path and safety checks as Today (the form had no such
fields, so a patient filling in a missed day could not report a side effect for it)."""

from __future__ import annotations

import datetime as dt

import httpx

from helpers import Clinic, FixedClock, form_on
from integration.api.live import LiveServer
from integration.api.test_pages import sign_in
from microtrial.services import adverse_events, alerts, records
from microtrial.services.records import DiaryInput

DIARY = {
    "daily_diary.average_pain": "4",
    "daily_diary.worst_pain": "6",
    "daily_diary.sleep_quality": "5",
}


def _fill(patient: httpx.Client, day: dt.date, fields: dict[str, str]) -> httpx.Response:
    """The missed day's form as shown, with ``fields`` filled in, sent."""
    action = f"/diary/{day.isoformat()}/fill"
    return patient.post(action, data=form_on(patient.get(action).text, action, fields))


def _stored(clinic: Clinic, day: dt.date) -> dict[str, records.DiaryEntryRead]:
    doc, pid = clinic.actors["clinician_sitea"], clinic.patients["A-001"].id
    entries = records.list_diary_entries(clinic.db, doc, pid)
    return {e.instrument_id: e for e in entries if e.local_date == day}


def _codes(clinic: Clinic) -> set[str]:
    doc, pid = clinic.actors["clinician_sitea"], clinic.patients["A-001"].id
    return {a.code for a in alerts.list_alerts(clinic.db, doc, patient_id=pid)}


def test_a_severe_side_effect_of_a_missed_day_raises_the_alert_and_today_says_get_help(
    server: LiveServer, clinic: Clinic, clock: FixedClock
) -> None:
    yesterday = clock().date() - dt.timedelta(days=1)
    patient = sign_in(server.url, "p_A-001")
    page = patient.get(f"/diary/{yesterday.isoformat()}/fill").text
    assert "Side effects that day" in page
    assert 'name="ae_checklist.palpitations"' in page
    assert 'name="home_bp.systolic"' in page

    fields = {**DIARY, "ae_checklist.palpitations": "3", "ae_checklist.headache": "1"}
    sent = _fill(patient, yesterday, fields)
    assert sent.status_code == 303, sent.text
    assert sent.headers["location"] == "/today?saved=day"
    stored = _stored(clinic, yesterday)
    assert sorted(stored) == ["ae_checklist", "daily_diary"]
    assert stored["ae_checklist"].answers == {"palpitations": 3, "headache": 1}
    assert "ae-grade-3-or-serious" in _codes(clinic)
    doc, pid = clinic.actors["clinician_sitea"], clinic.patients["A-001"].id
    events = adverse_events.list_adverse_events(clinic.db, doc, pid)
    assert [(e.grade, e.onset_date) for e in events if e.grade >= 3] == [(3, yesterday)]

    today = patient.get(sent.headers["location"]).text
    assert "The day&#39;s diary is saved." in today or "The day's diary is saved." in today
    assert 'id="urgent-care"' in today
    assert "get medical help now" in today


def test_a_missed_day_adds_to_a_side_effect_and_a_reading_the_day_has(
    server: LiveServer, clinic: Clinic, clock: FixedClock
) -> None:
    """The day had a side effect and a reading (sent from the phone) but no diary: the filled-in
    form adds to them as their next versions, keeping the worse grade and the later reading."""
    day = clock().date() - dt.timedelta(days=2)
    me, pid = clinic.actors["p_A-001"], clinic.patients["A-001"].id
    records.record_diary_entries(
        clinic.db,
        me,
        pid,
        [
            DiaryInput(day, {"nausea_gi": 2}, "ae_checklist"),
            DiaryInput(day, {"systolic": 130, "diastolic": 85}, "home_bp"),
        ],
        clock=clock,
    )
    patient = sign_in(server.url, "p_A-001")
    fields = {
        **DIARY,
        "ae_checklist.nausea_gi": "1",
        "ae_checklist.dizziness": "1",
        "home_bp.systolic": "190",
        "home_bp.diastolic": "125",
    }
    sent = _fill(patient, day, fields)
    assert sent.status_code == 303, sent.text
    stored = _stored(clinic, day)
    assert stored["ae_checklist"].answers == {"nausea_gi": 2, "dizziness": 1}
    assert stored["ae_checklist"].version == 2
    assert (stored["home_bp"].answers["systolic"], stored["home_bp"].version) == (190, 2)
    assert stored["daily_diary"].version == 1
    assert "bp-crisis" in _codes(clinic)
    # Today names the day of the reading, not the day it was sent
    today = patient.get("/today").text
    assert (
        f"Your blood pressure reading on {day.day} {day.strftime('%B %Y')} was very high." in today
    )
    now = clock().date()
    assert f"reading on {now.day} {now.strftime('%B %Y')}" not in today


def test_a_refused_reading_keeps_what_was_typed_and_stores_nothing(
    server: LiveServer, clinic: Clinic, clock: FixedClock
) -> None:
    day = clock().date() - dt.timedelta(days=1)
    patient = sign_in(server.url, "p_A-001")
    fields = {**DIARY, "ae_checklist.headache": "2", "home_bp.systolic": "400"}
    refused = _fill(patient, day, fields)
    assert refused.status_code == 422
    assert 'aria-invalid="true"' in refused.text.split('name="home_bp.systolic"')[1][:200]
    assert '<p class="field-error" id="home-bp-systolic-error">Systolic' in refused.text
    assert 'value="400"' in refused.text  # what was typed is kept ...
    assert '<details class="section" open>' in refused.text  # ... in the sections shown open
    assert _stored(clinic, day) == {}  # all or nothing: not even the diary
    # Sent again corrected (the same submission), it is stored once.
    action = f"/diary/{day.isoformat()}/fill"
    fixed = form_on(refused.text, action, {**fields, "home_bp.systolic": "140"})
    fixed["home_bp.diastolic"] = "90"
    for _ in range(2):  # the second time as a phone resends after a lost answer
        sent = patient.post(action, data=fixed)
        assert sent.status_code == 303, sent.text
    stored = _stored(clinic, day)
    assert sorted(stored) == ["ae_checklist", "daily_diary", "home_bp"]
    assert all(e.version == 1 for e in stored.values())
