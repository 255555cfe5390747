"""A later side effect or blood pressure sent through the API is added to the day's entry and
reaches the safety rules (it used to answer 409 "an entry exists" and the report was dropped);
the daily diary stays one a day."""

from __future__ import annotations

from typing import Any

import httpx

from helpers import Clinic, FixedClock
from integration.api.live import Login
from integration.test_alert_sweep import running_trial
from microtrial.services import adverse_events, alerts, records


def _post(
    api: httpx.Client, headers: dict[str, str], pid: int, body: dict[str, Any], key: str = ""
) -> httpx.Response:
    sent = {**headers, **({"Idempotency-Key": key} if key else {})}
    return api.post(f"/patients/{pid}/diary-entries", json=body, headers=sent)


def _codes(clinic: Clinic, pid: int) -> set[str]:
    doc = clinic.actors["clinician_sitea"]
    return {a.code for a in alerts.list_alerts(clinic.db, doc, patient_id=pid)}


def test_a_later_side_effect_is_added_and_raises_the_alert_and_the_event(
    api: httpx.Client, login: Login, clinic: Clinic, clock: FixedClock
) -> None:
    pid = running_trial(clinic, clock, "A-001", run_in=0)
    me, day = login("p_A-001"), clock().date().isoformat()
    doc = clinic.actors["clinician_sitea"]
    morning = {"local_date": day, "instrument_id": "ae_checklist", "answers": {"headache": 1}}
    first = _post(api, me, pid, morning, "phone-ae-1")
    assert first.status_code == 201, first.text
    assert first.json()["version"] == 1
    assert "ae-grade-3-or-serious" not in _codes(clinic, pid)

    afternoon = {**morning, "answers": {"palpitations": 3}}
    added = _post(api, me, pid, afternoon, "phone-ae-2")
    assert added.status_code == 201, added.text
    entry = added.json()
    assert (entry["record_id"], entry["version"]) == (first.json()["record_id"], 2)
    assert entry["answers"] == {"headache": 1, "palpitations": 3}
    assert entry["change_reason"] == "reported again later the same day"
    assert "ae-grade-3-or-serious" in _codes(clinic, pid)
    events = adverse_events.list_adverse_events(clinic.db, doc, pid)
    assert [(e.grade, e.source) for e in events if e.grade >= 3] == [(3, "patient report")]

    # Milder in the evening: the day keeps the worse answers, and the new symptom.
    evening = {**morning, "answers": {"palpitations": 1, "headache": 2, "nausea_gi": 1}}
    kept = _post(api, me, pid, evening, "phone-ae-3")
    assert kept.status_code == 201, kept.text
    assert kept.json()["answers"] == {"headache": 2, "palpitations": 3, "nausea_gi": 1}
    assert kept.json()["version"] == 3

    # The phone's outbox sends the afternoon again (same key): nothing changes, same answer.
    again = _post(api, me, pid, afternoon, "phone-ae-2")
    assert again.status_code == 201
    assert again.json() == entry
    stored = {e.instrument_id: e for e in records.list_diary_entries(clinic.db, doc, pid)}
    assert stored["ae_checklist"].version == 3
    # The same report under a new key adds nothing either: no new version.
    same = _post(api, me, pid, evening, "phone-ae-4")
    assert (same.status_code, same.json()["version"]) == (201, 3)
    # The whole day, every version kept.
    versions = api.get(f"/patients/{pid}/diary-entries/{day}/ae_checklist/versions", headers=me)
    assert [v["version"] for v in versions.json()] == [1, 2, 3]


def test_a_later_crisis_reading_is_added_and_raises_bp_crisis(
    api: httpx.Client, login: Login, clinic: Clinic, clock: FixedClock
) -> None:
    pid = running_trial(clinic, clock, "A-001", run_in=0)
    me, day = login("p_A-001"), clock().date().isoformat()
    reading = {"local_date": day, "instrument_id": "home_bp"}
    calm = _post(api, me, pid, {**reading, "answers": {"systolic": 128, "diastolic": 82}}, "bp-1")
    assert calm.status_code == 201, calm.text
    crisis = {**reading, "answers": {"systolic": 190, "diastolic": 125}}
    added = _post(api, me, pid, crisis, "bp-2")
    assert added.status_code == 201, added.text
    assert (added.json()["version"], added.json()["answers"]["systolic"]) == (2, 190)
    assert "bp-crisis" in _codes(clinic, pid)

    # A measurement is the later reading ...
    lower = _post(api, me, pid, {**reading, "answers": {"systolic": 150, "diastolic": 95}}, "bp-3")
    assert lower.json()["answers"] == {"systolic": 150, "diastolic": 95}
    # ... and a replay of the crisis reading (same key) answers as before without undoing it.
    replay = _post(api, me, pid, crisis, "bp-2")
    assert replay.json() == added.json()
    doc = clinic.actors["clinician_sitea"]
    stored = {e.instrument_id: e for e in records.list_diary_entries(clinic.db, doc, pid)}
    assert (stored["home_bp"].answers["systolic"], stored["home_bp"].version) == (150, 3)


def test_a_second_daily_diary_is_still_refused(
    api: httpx.Client, login: Login, clinic: Clinic, clock: FixedClock
) -> None:
    pid = clinic.patients["A-001"].id
    me, day = login("p_A-001"), clock().date().isoformat()
    body = {"local_date": day, "answers": {"average_pain": 5}}
    assert _post(api, me, pid, body, "diary-1").status_code == 201
    refused = _post(api, me, pid, {**body, "answers": {"average_pain": 2}}, "diary-2")
    assert refused.status_code == 409
    assert "correct it instead" in refused.json()["detail"]
    doc = clinic.actors["clinician_sitea"]
    [stored] = records.list_diary_entries(clinic.db, doc, pid)
    assert (stored.answers, stored.version) == ({"average_pain": 5}, 1)


def test_the_addition_is_documented(api: httpx.Client) -> None:
    spec = api.get("/openapi.json").json()
    post = spec["paths"]["/api/v1/patients/{patient_id}/diary-entries"]["post"]
    assert "is added to it" in post["description"]
    assert "409" in post["description"]
