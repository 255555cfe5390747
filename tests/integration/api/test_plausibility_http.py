"""Issue 14, deliverable 8 over HTTP: implausible answers are a 422 naming the field (API) or an
error on the page that keeps what was typed (web); nothing is stored. The PHQ-9 page starts with
nothing selected and refuses an unanswered item."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from helpers import Clinic
from integration.api.live import PASSWORD, LiveServer, Login
from microtrial.domain.actors import system_actor
from microtrial.services import admin, records

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
# Answers that break a plausibility rule -> the field the 422 names. The clinic's test clock
# reads 2026-03-02; its patients were enrolled in 2016.
IMPLAUSIBLE = [
    (
        {"instrument_id": "home_bp", "answers": {"systolic": 90, "diastolic": 150}},
        "home_bp.diastolic",
    ),
    ({"answers": {"average_pain": 7, "worst_pain": 4}}, "daily_diary.worst_pain"),
    ({"local_date": "2001-01-01", "answers": {"average_pain": 4}}, "date"),
    ({"local_date": "2026-03-03", "answers": {"average_pain": 4}}, "date"),
    ({"instrument_id": "phq9", "answers": {f"q{n}": 0 for n in range(1, 9)}}, "phq9.q9"),
]


@pytest.mark.parametrize(("body", "field"), IMPLAUSIBLE)
def test_api_refuses_implausible_answers_naming_the_field(
    api: httpx.Client, login: Login, clinic: Clinic, body: dict[str, object], field: str
) -> None:
    pid = clinic.patients["A-001"].id
    url = f"/patients/{pid}/diary-entries"
    answer = api.post(url, json={"local_date": "2026-03-02", **body}, headers=login("p_A-001"))
    assert answer.status_code == 422, answer.text
    assert [d["field"] for d in answer.json()["detail"]] == [field]
    assert api.get(url, headers=login("p_A-001")).json()["items"] == []


def test_api_date_window_follows_the_site_setting(
    api: httpx.Client, login: Login, clinic: Clinic
) -> None:
    """A window of 0 days takes today's entry only."""
    pid = clinic.patients["A-001"].id
    url = f"/patients/{pid}/diary-entries"
    admin.set_backfill_days(clinic.db, system_actor(), "SITEA", 0)
    today = api.post(
        url,
        json={"local_date": "2026-03-02", "answers": {"average_pain": 4}},
        headers=login("p_A-001"),
    )
    assert today.status_code == 201, today.text
    before = api.post(
        url,
        json={"local_date": "2026-03-01", "answers": {"average_pain": 4}},
        headers=login("p_A-001"),
    )
    assert before.status_code == 422
    assert "2026-03-01 is more than 0 days ago" in before.json()["detail"][0]["msg"]


@contextmanager
def _signed_in(server: LiveServer, username: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        page = client.get("/login")
        found = CSRF.search(page.text)
        assert found
        answer = client.post(
            "/login",
            data={"username": username, "password": PASSWORD, "csrf_token": found.group(1)},
        )
        assert answer.status_code == 303
        yield client


def _csrf(page: httpx.Response) -> str:
    found = CSRF.search(page.text)
    assert found, page.text[:300]
    return found.group(1)


def test_today_page_refuses_diastolic_above_systolic(server: LiveServer, clinic: Clinic) -> None:
    with _signed_in(server, "p_A-001") as web:
        page = web.get("/today")
        answer = web.post(
            "/today",
            data={
                "csrf_token": _csrf(page),
                "local_date": "2026-03-02",
                "submission_id": "bp-implausible-1",
                "daily_diary.average_pain": "4",
                "home_bp.systolic": "90",
                "home_bp.diastolic": "150",
            },
        )
    assert answer.status_code == 422
    # named by its label (not home_bp.diastolic), beside the field
    assert (
        '<p class="field-error" id="home-bp-diastolic-error">Diastolic blood pressure (mmHg): '
        "diastolic must be below systolic" in answer.text
    )
    assert 'value="150"' in answer.text
    stored = records.list_diary_entries(
        clinic.db, clinic.actors["clinician_sitea"], clinic.patients["A-001"].id
    )
    assert stored == []  # not even the pain entry of the same form


def test_phq9_page_starts_unanswered_and_requires_every_item(
    server: LiveServer, clinic: Clinic
) -> None:
    with _signed_in(server, "p_A-001") as web:
        page = web.get("/questionnaires/phq9")
        assert page.status_code == 200
        assert " checked" not in page.text
        assert "selected" not in page.text
        assert len(re.findall(r'type="radio" id="phq9-q9-\d"[^>]* required', page.text)) == 4
        form = {f"phq9.q{n}": "1" for n in range(1, 9)}
        answer = web.post(
            "/questionnaires/phq9",
            data={
                **form,
                "csrf_token": _csrf(page),
                "local_date": "2026-03-02",
                "submission_id": "phq9-missing-9",
            },
        )
    assert answer.status_code == 422
    assert (
        "Thoughts that you would be better off dead or of hurting yourself in some way: "
        "please answer this question" in answer.text
    )
    assert 'id="phq9-q9-error"' in answer.text
    assert "phq9.q9:" not in answer.text
    assert len(re.findall(r'name="phq9\.q\d" value="1" checked', answer.text)) == 8  # kept
    stored = records.list_diary_entries(
        clinic.db, clinic.actors["clinician_sitea"], clinic.patients["A-001"].id
    )
    assert stored == []
