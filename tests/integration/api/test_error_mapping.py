"""Service errors keep their meaning over HTTP: 409 for a state conflict, 423 for a safety block."""

from __future__ import annotations

import datetime as dt

import httpx

from e2e.setup import hand_out, running_trial
from helpers import Clinic, FixedClock
from integration.api.live import Login


def test_a_second_diary_for_the_same_day_is_a_conflict(
    api: httpx.Client, login: Login, clinic: Clinic
) -> None:
    url = f"/patients/{clinic.patients['A-001'].id}/diary-entries"
    body = {"local_date": "2026-03-01", "answers": {"average_pain": 5}}
    assert api.post(url, json=body, headers=login("p_A-001")).status_code == 201
    again = api.post(url, json=body, headers=login("p_A-001"))
    assert again.status_code == 409
    assert "correct it instead" in again.json()["detail"]


def test_a_dose_while_dosing_is_held_is_stored_as_a_deviation(
    api: httpx.Client, login: Login, clinic: Clinic, clock: FixedClock
) -> None:
    trial = running_trial(clinic, clock)
    kit = trial.periods[0].kit_code
    hand_out(clinic, clock, trial.id, str(kit))  # a kit handed out: only the hold is a finding
    patient = login("p_A-001")
    pid = clinic.patients["A-001"].id
    phq9 = {f"q{i}": 0 for i in range(1, 9)} | {"q9": 2}
    entry = {"local_date": "2026-03-02", "instrument_id": "phq9", "answers": phq9}
    assert (
        api.post(f"/patients/{pid}/diary-entries", json=entry, headers=patient).status_code == 201
    )
    taken = dt.datetime(2026, 3, 2, 8, 30, tzinfo=dt.UTC).isoformat()
    dose = api.post(
        f"/trials/{trial.id}/doses", json={"taken_at": taken, "kit_code": kit}, headers=patient
    )
    assert dose.status_code == 201, dose.text
    assert dose.json()["kit_code"] == kit
    assert dose.json()["deviation"] == "dose-during-hold"
    codes = {
        a["code"] for a in api.get("/alerts", headers=login("clinician_sitea")).json()["items"]
    }
    assert codes == {"phq9-item9", "dose-during-hold"}
