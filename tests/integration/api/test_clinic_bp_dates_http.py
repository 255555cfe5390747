"""A clinic blood pressure taken before enrolment (a referral or GP reading), through the real
server on both engines: the form takes it from screening's blood-pressure look-back before the
enrolment day, the date input says so (min and max), screening averages it, and an older one is
refused naming the allowed days. A patient's own diary keeps its limit (not before enrolment)."""

from __future__ import annotations

import datetime as dt
import re

import httpx

from helpers import Clinic, FixedClock
from integration.api.live import LiveServer, Login
from integration.api.test_form_refusals import post_form, visible
from integration.api.test_pages import sign_in
from integration.test_safety_services import clear_history
from microtrial.domain.catalog import load_catalog


def test_a_clinic_reading_from_before_enrolment_counts_toward_screening(
    api: httpx.Client, login: Login, server: LiveServer, clinic: Clinic, clock: FixedClock
) -> None:
    doc = login("clinician_sitea")
    body = {
        "site_code": "SITEA",
        "study_code": "A-050",
        "birth_year": 1975,
        "sex": "female",
        "time_zone": "Europe/London",
        "conditions": ["G43.909"],
    }
    enrolled = api.post("/patients", json=body, headers=doc)
    assert enrolled.status_code == 201, enrolled.text
    pid = enrolled.json()["id"]
    clear_history(clinic, clinic.actors["clinician_sitea"], pid)
    today = clock().date()  # the enrolment day
    window = load_catalog().blood_pressure_averaging.window_days
    earliest = today - dt.timedelta(days=window - 1)

    web = sign_in(server.url, "clinician_sitea")
    page = f"/clinic/patients/{pid}"
    date_input = re.search(r'<input type="date" id="bp-date"[^>]*>', web.get(page).text)
    assert date_input is not None
    assert f'min="{earliest.isoformat()}"' in date_input.group(0)
    assert f'max="{today.isoformat()}"' in date_input.group(0)

    def record(day: dt.date, systolic: int, diastolic: int) -> httpx.Response:
        form = {
            "local_date": day.isoformat(),
            "systolic": str(systolic),
            "diastolic": str(diastolic),
        }
        return post_form(web, page, f"{page}/blood-pressure", form)

    assert record(today - dt.timedelta(days=3), 166, 96).status_code == 303
    assert record(today, 164, 94).status_code == 303
    screened = api.post(f"/patients/{pid}/screenings", json={"substance": "lsd"}, headers=doc)
    assert screened.status_code == 201, screened.text
    assert screened.json()["decision"] == "do-not-start"
    titles = [f["title"] for f in screened.json()["findings"]]
    assert (
        "Uncontrolled blood pressure: 165/95 mmHg (mean of 2 readings on 2 days), "
        "above 160/90 mmHg" in titles
    )

    refused = record(today - dt.timedelta(days=40), 150, 90)
    assert refused.status_code != 303
    said = " ".join(visible(refused.text).split())
    assert f"allowed: {earliest.isoformat()} to {today.isoformat()}" in said
    assert f"is before {earliest.isoformat()}" in said

    # the patient's own diary is still refused before enrolment
    home = {
        "local_date": (today - dt.timedelta(days=3)).isoformat(),
        "instrument_id": "home_bp",
        "answers": {"systolic": 120, "diastolic": 80},
    }
    diary = api.post(f"/patients/{pid}/diary-entries", json=home, headers=doc)
    assert diary.status_code == 422, diary.text
    assert "before enrolment" in diary.text
