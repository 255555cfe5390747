"""Issue 14, deliverable 1 over HTTP: a dose outside the sourced range is a 422 naming the field
(API) or an error on the plan page (web), and no trial is stored; the form shows allowed doses."""

from __future__ import annotations

import re

import httpx
import pytest

from helpers import Clinic
from integration.api.live import PASSWORD, LiveServer, Login
from microtrial.services import trial_views

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
REFUSED = [
    ({"substance": "psilocybin", "amount": 1e9, "unit": "mg"}, "unit", "mg dried material"),
    ({"substance": "psilocybin", "amount": 5000, "unit": "mg dried material"}, "amount", "50–500"),
    ({"substance": "lsd", "amount": 100, "unit": "µg"}, "amount", "5–20 µg"),
    ({"substance": "lsd", "amount": 10, "unit": "mg dried material"}, "unit", "µg"),
]


@pytest.mark.parametrize(("dose", "field", "allowed"), REFUSED)
def test_api_refuses_a_dose_outside_the_range_with_422(
    api: httpx.Client,
    login: Login,
    clinic: Clinic,
    dose: dict[str, object],
    field: str,
    allowed: str,
) -> None:
    pid = clinic.patients["A-001"].id
    answer = api.post(
        f"/patients/{pid}/trials",
        json={"regimen": {"template": "fadiman", **dose}, "start_date": "2026-03-09"},
        headers=login("clinician_sitea"),
    )
    assert answer.status_code == 422, answer.text
    detail = answer.json()["detail"][0]
    assert detail["field"] == field
    assert allowed in detail["allowed"]
    doc = clinic.actors["clinician_sitea"]
    assert trial_views.list_trials(clinic.db, doc, patient_id=pid) == []


def _csrf(page: httpx.Response) -> str:
    found = CSRF.search(page.text)
    assert found, page.text[:300]
    return found.group(1)


def test_plan_page_shows_allowed_doses_and_refuses_others(
    server: LiveServer, clinic: Clinic
) -> None:
    pid = clinic.patients["A-001"].id
    with httpx.Client(base_url=server.url, timeout=30) as web:
        page = web.get("/login")
        signed = web.post(
            "/login",
            data={"username": "clinician_sitea", "password": PASSWORD, "csrf_token": _csrf(page)},
        )
        assert signed.status_code == 303
        form = web.get(f"/clinic/patients/{pid}/trials/new")
        assert "5–20 µg" in form.text
        assert "50–500 mg dried material" in form.text
        units = re.findall(r'<option value="([^"]+)"', form.text.split('id="unit"')[1])
        assert units[:2] == ["mg dried material", "µg"]  # no unit without a sourced range
        answer = web.post(
            f"/clinic/patients/{pid}/trials",
            data={
                "csrf_token": _csrf(form),
                "template": "fadiman",
                "substance": "lsd",
                "amount": "100",
                "unit": "µg",
                "start_date": "2026-03-09",
            },
        )
        assert answer.status_code == 422
        assert "Amount per dose: 100 µg is outside the microdose range for lsd" in answer.text
        assert 'value="100"' in answer.text  # what was typed is kept
    doc = clinic.actors["clinician_sitea"]
    assert trial_views.list_trials(clinic.db, doc, patient_id=pid) == []
