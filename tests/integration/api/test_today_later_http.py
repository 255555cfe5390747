"""A side effect or a blood pressure reported after the day's diary is saved reaches the safety
rules, and a patient with an event that needs emergency care is told to get help now (both found
by a QA walk-through: the afternoon report was refused with "an entry exists" and nothing was
stored; the patient saw only "your clinic will contact you")."""

from __future__ import annotations

import httpx

from e2e.setup import running_trial as trial_running
from helpers import Clinic, FixedClock, form_on
from integration.api.live import LiveServer
from integration.api.test_pages import sign_in
from integration.test_alert_sweep import running_trial
from microtrial.services import adverse_events, alerts, dosing, records, trial_views


def _form(patient: httpx.Client, fields: dict[str, str]) -> dict[str, str]:
    """The Today form as shown now (its hidden fields, "later" once the diary is saved), with
    ``fields`` filled in."""
    return form_on(patient.get("/today").text, "/today", fields)


def _send(patient: httpx.Client, fields: dict[str, str]) -> httpx.Response:
    """Fill the Today form as shown now with ``fields`` and send it."""
    return patient.post("/today", data=_form(patient, fields))


MORNING = {
    "daily_diary.average_pain": "4",
    "daily_diary.worst_pain": "6",
    "daily_diary.sleep_quality": "5",
}


def test_an_afternoon_side_effect_and_blood_pressure_are_added_to_the_day(
    server: LiveServer, clinic: Clinic, clock: FixedClock
) -> None:
    pid = running_trial(clinic, clock, "A-001", run_in=0)
    doc = clinic.actors["clinician_sitea"]
    patient = sign_in(server.url, "p_A-001")
    assert _send(patient, MORNING).status_code == 303
    today = patient.get("/today").text
    assert "Today&#39;s diary is saved" in today or "Today's diary is saved" in today
    assert 'name="later" value="1"' in today  # the page offers to add to the day ...
    assert 'name="daily_diary.average_pain"' not in today  # ... not the diary again

    # Afternoon: palpitations grade 3, something serious, BP 190/125: all stored and acted on.
    afternoon = {
        "ae_checklist.palpitations": "3",
        "ae_checklist.serious": "true",
        "home_bp.systolic": "190",
        "home_bp.diastolic": "125",
    }
    sent = _send(patient, afternoon)
    assert sent.status_code == 303, sent.text
    assert sent.headers["location"] == "/today?saved=added"  # told it was added to the day
    assert "Added to today" in patient.get(sent.headers["location"]).text
    events = adverse_events.list_adverse_events(clinic.db, doc, pid)
    assert [(e.grade, e.serious, e.source) for e in events] == [(3, True, "patient report")]
    codes = {a.code for a in alerts.list_alerts(clinic.db, doc, patient_id=pid)}
    assert {"bp-crisis", "ae-grade-3-or-serious"} <= codes
    entries = records.list_diary_entries(clinic.db, doc, pid)
    assert sorted(e.instrument_id for e in entries) == ["ae_checklist", "daily_diary", "home_bp"]

    # The patient is told to get help now, with the numbers, above the hold.
    today = patient.get("/today").text
    assert 'id="urgent-care"' in today
    assert "get medical help now" in today
    assert 'href="tel:' in today.split('id="urgent-care"')[1].split("</section>")[0]

    # Later still: another side effect, milder, and a lower reading. The day keeps the worse
    # side effects and the later reading; the earlier versions stay in the history.
    sent = _send(
        patient,
        {
            "ae_checklist.palpitations": "1",
            "ae_checklist.nausea_gi": "2",
            "home_bp.systolic": "150",
            "home_bp.diastolic": "95",
        },
    )
    assert sent.status_code == 303, sent.text
    entries = {e.instrument_id: e for e in records.list_diary_entries(clinic.db, doc, pid)}
    checklist = entries["ae_checklist"].answers
    assert (checklist["palpitations"], checklist["nausea_gi"], checklist["serious"]) == (3, 2, True)
    assert entries["ae_checklist"].version == 2
    assert (entries["home_bp"].answers["systolic"], entries["home_bp"].version) == (150, 2)

    # Sent twice (the phone's outbox after a lost answer): nothing changes.
    again = _send(patient, {"ae_checklist.nausea_gi": "2"})
    assert again.status_code == 303
    entries = {e.instrument_id: e for e in records.list_diary_entries(clinic.db, doc, pid)}
    assert entries["ae_checklist"].version == 2


def test_the_diary_itself_is_still_one_a_day(
    server: LiveServer, clinic: Clinic, clock: FixedClock
) -> None:
    running_trial(clinic, clock, "A-001", run_in=0)
    patient = sign_in(server.url, "p_A-001")
    assert _send(patient, MORNING).status_code == 303
    form = _form(patient, {"submission_id": "second-diary", **MORNING})
    del form["later"]  # the full diary again, as a form kept from before the save would send it
    refused = patient.post("/today", data=form)
    assert refused.status_code == 409
    assert "correct it instead" in refused.text


def test_a_high_reading_that_only_withholds_a_dose_is_no_emergency(
    server: LiveServer, clinic: Clinic, clock: FixedClock
) -> None:
    running_trial(clinic, clock, "A-001", run_in=0)
    patient = sign_in(server.url, "p_A-001")
    sent = _send(patient, {**MORNING, "home_bp.systolic": "165", "home_bp.diastolic": "95"})
    assert sent.status_code == 303, sent.text
    today = patient.get("/today").text
    assert 'id="hold-notice"' in today
    assert 'id="urgent-care"' not in today


def test_a_capsule_on_a_day_without_one_is_recorded_and_the_patient_is_told(
    server: LiveServer, clinic: Clinic, clock: FixedClock
) -> None:
    trial = trial_running(clinic, clock)
    doc = clinic.actors["clinician_sitea"]
    calendar = trial_views.trial_calendar(clinic.db, doc, trial.id)
    off = next(
        d for d in calendar.days if d.date >= clock().date() and not d.is_dose_day and d.kit_code
    )
    clock.now = clock.now.replace(year=off.date.year, month=off.date.month, day=off.date.day)
    patient = sign_in(server.url, "p_A-001")
    form = _form(
        patient,
        {
            **MORNING,
            "daily_diary.dose_check_in": "taken",
            "kit_code": off.kit_code,
        },
    )
    sent = patient.post("/today", data=form)
    assert sent.status_code == 303, sent.text
    assert sent.headers["location"] == "/today?saved=dose-off-calendar"
    told = patient.get(sent.headers["location"]).text
    assert "today is not a capsule day in your plan" in told
    assert [d.deviation for d in dosing.list_doses(clinic.db, doc, trial.id)] == [
        "dose-off-calendar"
    ]


def test_a_refused_check_in_is_not_shown_as_a_capsule_taken(
    server: LiveServer, clinic: Clinic, clock: FixedClock
) -> None:
    trial = trial_running(clinic, clock)
    doc = clinic.actors["clinician_sitea"]
    day = trial_views.trial_calendar(clinic.db, doc, trial.id).on(clock().date())
    assert day is not None
    patient = sign_in(server.url, "p_A-001")
    form = _form(
        patient,
        {
            **MORNING,
            "daily_diary.dose_check_in": "taken",
            "kit_code": "ZZZZ1234",  # not this patient's kit: the diary is saved, the capsule not
        },
    )
    assert patient.post("/today", data=form).status_code == 422
    shown = patient.get(f"/diary/{clock().date().isoformat()}").text
    assert "no capsule is recorded for this day" in shown
    assert "tell your clinic which kit" in shown
    clinician = sign_in(server.url, "clinician_sitea")
    pid = clinic.patients["A-001"].id
    seen = clinician.get(f"/clinic/patients/{pid}/diary/{clock().date().isoformat()}").text
    assert "no capsule is recorded for this day" in seen
    # Checked in with the right kit afterwards ("Add to today"): the kit is listed, no notice.
    later = _form(
        patient,
        {
            "daily_diary.dose_check_in": "taken",
            "kit_code": day.kit_code or "",
        },
    )
    assert patient.post("/today", data=later).status_code == 303
    shown = patient.get(f"/diary/{clock().date().isoformat()}").text
    assert "no capsule is recorded" not in shown
    assert f"Kit {day.kit_code}" in shown
