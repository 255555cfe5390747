"""A red flag a patient ticks on Today, or a clinician or the API records, raises its stop rule's
alert; a side effect awaiting review ranks on the worklist (found by a QA walk-through: five stop
rules had no checklist item and could never fire; "Other: chest pain this morning and I fainted"
raised nothing, Today still offered the capsule, and the worklist said "nothing urgent"; patient
reports awaiting review never reached the worklist)."""

from __future__ import annotations

import re

import httpx
import pytest

from helpers import Clinic, FixedClock, form_on
from integration.api.live import LiveServer, Login
from integration.api.test_pages import sign_in
from integration.test_alert_sweep import running_trial
from microtrial.services import adverse_events, alerts, records
from microtrial.services.records import DiaryInput

MORNING = {
    "daily_diary.average_pain": "4",
    "daily_diary.worst_pain": "6",
    "daily_diary.sleep_quality": "5",
}


def _send(patient: httpx.Client, fields: dict[str, str]) -> httpx.Response:
    """Fill the Today form as shown now with ``fields`` and send it."""
    return patient.post("/today", data=form_on(patient.get("/today").text, "/today", fields))


def _codes(clinic: Clinic, pid: int) -> set[str]:
    doc = clinic.actors["clinician_sitea"]
    return {a.code for a in alerts.list_alerts(clinic.db, doc, patient_id=pid, open_only=True)}


def _row(api: httpx.Client, login: Login, code: str, **params: str) -> dict | None:
    found = api.get("/worklist", params=params, headers=login("clinician_sitea"))
    assert found.status_code == 200, found.text
    return next((r for r in found.json()["rows"] if r["study_code"] == code), None)


# (checklist item, alert code, the patient is told to get emergency care, sees crisis lines)
RED_FLAGS = [
    ("chest_pain", "cardiac-red-flag", True, False),
    ("new_dyspnoea", "cardiac-red-flag", True, False),
    ("syncope", "cardiac-red-flag", True, False),
    ("psychotic_symptoms", "psychosis-mania", True, False),
    ("mania", "psychosis-mania", True, False),
    ("self_harm_disclosure", "self-harm-disclosure", False, True),
    ("pregnancy", "pregnancy", False, False),
]


@pytest.mark.parametrize(("item", "code", "urgent_care", "crisis"), RED_FLAGS)
def test_a_red_flag_ticked_on_today_holds_the_capsule_and_tops_the_worklist(
    server: LiveServer,
    api: httpx.Client,
    login: Login,
    clinic: Clinic,
    clock: FixedClock,
    item: str,
    code: str,
    urgent_care: bool,
    crisis: bool,
) -> None:
    pid = running_trial(clinic, clock, "A-001", run_in=0)
    patient = sign_in(server.url, "p_A-001")
    today = patient.get("/today").text
    assert f'name="ae_checklist.{item}"' in today  # the patient can report it at all
    sent = _send(patient, {**MORNING, f"ae_checklist.{item}": "on"})  # a ticked checkbox
    assert sent.status_code == 303, sent.text

    assert code in _codes(clinic, pid)
    today = patient.get("/today").text
    assert 'id="hold-notice"' in today
    assert "Do not take a capsule." in today
    assert ('id="urgent-care"' in today) is urgent_care
    assert ('id="crisis"' in today) is crisis
    row = _row(api, login, "A-001")
    assert row is not None
    assert (row["tier"], row["reason"], row["urgent_alerts"]) == (0, "open urgent alert", 1)


def test_lingering_visual_changes_stop_dosing_only_on_a_day_without_a_capsule(
    server: LiveServer, clinic: Clinic, clock: FixedClock
) -> None:
    pid = running_trial(clinic, clock, "A-001", run_in=0)
    doc = clinic.actors["clinician_sitea"]
    taken = {"average_pain": 4, "dose_check_in": "taken"}
    records.record_diary_entry(clinic.db, doc, pid, DiaryInput(clock().date(), taken), clock=clock)
    patient = sign_in(server.url, "p_A-001")
    # The capsule's own day: visual changes then are not a lingering disturbance.
    assert _send(patient, {"ae_checklist.perceptual_changes": "1"}).status_code == 303
    assert "persistent-perceptual-disturbance" not in _codes(clinic, pid)

    clock.advance(days=1)  # the next day, no capsule: the same answer stops dosing
    patient = sign_in(server.url, "p_A-001")  # a new day's session
    sent = _send(patient, {**MORNING, "ae_checklist.perceptual_changes": "1"})
    assert sent.status_code == 303, sent.text
    assert "persistent-perceptual-disturbance" in _codes(clinic, pid)
    today = patient.get("/today").text
    assert 'id="hold-notice"' in today
    assert "on a day without a capsule" in today


def test_the_api_records_red_flag_symptoms_and_refuses_unknown_ones(
    api: httpx.Client, login: Login, clinic: Clinic, clock: FixedClock
) -> None:
    pid = running_trial(clinic, clock, "A-001", run_in=0)
    doc = login("clinician_sitea")
    body = {
        "term": "Chest pain",
        "grade": 2,
        "onset_date": clock().date().isoformat(),
        "symptoms": ["chest_pain"],
    }
    made = api.post(f"/patients/{pid}/adverse-events", json=body, headers=doc)
    assert made.status_code == 201, made.text
    assert "cardiac-red-flag" in _codes(clinic, pid)

    refused = api.post(
        f"/patients/{pid}/adverse-events",
        json={**body, "symptoms": ["chest_ache"]},
        headers=doc,
    )
    assert refused.status_code == 422, refused.text
    assert "symptoms" in refused.text
    assert "chest_ache" in refused.text
    for allowed in ("chest_pain", "syncope"):  # the allowed codes
        assert allowed in refused.text
    assert (
        len(adverse_events.list_adverse_events(clinic.db, clinic.actors["clinician_sitea"], pid))
        == 1
    )


def test_the_clinician_form_ticks_red_flag_symptoms(
    server: LiveServer, clinic: Clinic, clock: FixedClock
) -> None:
    pid = running_trial(clinic, clock, "A-001", run_in=0)
    doc = sign_in(server.url, "clinician_sitea")
    page = doc.get(f"/clinic/patients/{pid}").text
    assert 'name="symptom.syncope"' in page
    action = f"/clinic/patients/{pid}/adverse-events"
    fields = {"term": "Fainted", "grade": "2", "onset_date": clock().date().isoformat()}
    refused = doc.post(action, data=form_on(page, action, {**fields, "symptom.fainting": "on"}))
    assert refused.status_code == 422
    assert 'id="ae-new-symptoms-error"' in refused.text
    assert "cardiac-red-flag" not in _codes(clinic, pid)
    sent = doc.post(action, data=form_on(page, action, {**fields, "symptom.syncope": "on"}))
    assert sent.status_code == 303, sent.text
    assert "cardiac-red-flag" in _codes(clinic, pid)


def test_a_side_effect_awaiting_review_ranks_on_the_worklist(
    server: LiveServer, api: httpx.Client, login: Login, clinic: Clinic, clock: FixedClock
) -> None:
    pid = running_trial(clinic, clock, "A-001", run_in=0)
    patient = sign_in(server.url, "p_A-001")
    sent = _send(patient, {**MORNING, "ae_checklist.nausea_gi": "2"})
    assert sent.status_code == 303, sent.text
    assert _codes(clinic, pid) == set()  # no alert: only the record awaiting review

    row = _row(api, login, "A-001")
    assert row is not None
    assert (row["tier"], row["reason"]) == (2, "side effect awaiting review")
    assert (row["awaiting_review"], row["awaiting_oldest_onset"]) == (1, clock().date().isoformat())
    assert _row(api, login, "A-001", alerts="true") is not None  # needs action
    assert _row(api, login, "A-002", alerts="true") is None
    rows = api.get("/worklist", headers=login("clinician_sitea")).json()["rows"]
    assert [r["study_code"] for r in rows][:2] == ["A-001", "A-002"]

    page = sign_in(server.url, "clinician_sitea").get("/clinic/patients").text
    found = re.search(r'<tr data-patient="A-001".*?</tr>', page, re.S)
    assert found is not None
    assert "Side effect awaiting review" in found[0]
    assert f'href="/clinic/patients/{pid}#adverse-events"' in found[0]
    assert "1 side effect awaiting review" in found[0]

    # Reviewed: the patient no longer needs action.
    doc = clinic.actors["clinician_sitea"]
    [event] = adverse_events.list_adverse_events(clinic.db, doc, pid)
    review = adverse_events.AdverseEventReview(action="confirm")
    adverse_events.review_adverse_event(clinic.db, doc, pid, event.record_id, review, clock=clock)
    row = _row(api, login, "A-001")
    assert row is not None
    assert (row["reason"], row["awaiting_review"]) == ("", 0)
    assert _row(api, login, "A-001", alerts="true") is None
