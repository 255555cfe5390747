"""The installable, offline patient app over HTTP (issue 21): the manifest and the service worker
are served with their media types from the root; a Today form kept offline and sent later records
its capsule when it was saved (``saved_ago_s``), lands once when sent again, and a bad
``saved_ago_s`` is refused by name; an attack sent twice with one Idempotency-Key lands once,
and so do the attack and period-guess forms sent twice (the outbox's retry)."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from e2e.setup import running_trial
from helpers import Clinic, FixedClock, form_on
from integration.api.live import LiveServer, Login, sqlite_copy
from integration.api.test_pages import OPEN, csrf_of, sign_in
from microtrial.domain.regimens import guess_opens_on
from microtrial.services import attacks, dosing, records, trial_views
from microtrial.web.app_shell import SHELL_FILES
from microtrial.web.rendering import static_dir


@pytest.fixture
def database_url(sqlite_template: Path, tmp_path: Path) -> str:
    """SQLite only: the pages and the worker do not depend on the database engine."""
    return sqlite_copy(sqlite_template, tmp_path)


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while OPEN:
        OPEN.pop().close()


def test_manifest_and_worker_are_served_from_the_root(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url) as client:
        manifest = client.get("/manifest.webmanifest")
        worker = client.get("/sw.js")
        login = client.get("/login")
    assert manifest.headers["content-type"] == "application/manifest+json"
    assert json.loads(manifest.text)["scope"] == "/"
    assert worker.headers["content-type"].startswith("text/javascript")
    assert "__VERSION__" not in worker.text
    assert "__SHELL_FILES__" not in worker.text
    assert '"/static/outbox.js"' in worker.text
    for name in SHELL_FILES:
        assert (Path(static_dir()) / name).is_file(), name
    csp = login.headers["content-security-policy"]
    assert "worker-src 'self'" in csp
    assert "manifest-src 'self'" in csp
    assert '<link rel="manifest" href="/manifest.webmanifest">' in login.text


def _today_form(page: httpx.Response, kit_code: str) -> dict[str, str]:
    """A filled Today form with a capsule check-in, as the page's outbox would send it."""
    assert 'name="trial_id"' in page.text  # a running trial: the capsule can be checked in
    return form_on(
        page.text,
        "/today",
        {
            "daily_diary.average_pain": "4",
            "daily_diary.worst_pain": "6",
            "daily_diary.sleep_quality": "5",
            "daily_diary.dose_check_in": "taken",
            "kit_code": kit_code,
        },
    )


def test_a_kept_check_in_is_dated_when_saved_and_lands_once(
    server: LiveServer, clinic: Clinic, clock: FixedClock
) -> None:
    trial = running_trial(clinic, clock)
    doc = clinic.actors["clinician_sitea"]
    today = trial_views.trial_calendar(clinic.db, doc, trial.id).on(clock().date())
    assert today is not None
    assert today.kit_code is not None
    patient = sign_in(server.url, "p_A-001")
    form = {**_today_form(patient.get("/today"), today.kit_code), "submission_id": "kept-1"}

    bad = patient.post("/today", data={**form, "saved_ago_s": "-5"})  # the diary is saved
    assert bad.status_code == 422
    assert "seconds" in bad.text
    assert dosing.list_doses(clinic.db, doc, trial.id) == []

    # Saved on the phone 10 hours ago (before midnight in London), sent now: yesterday's capsule.
    clock.now = clock.now.replace(hour=9)
    kept = {**form, "saved_ago_s": str(10 * 3600)}
    for _ in range(2):  # the outbox sends again when the first answer was lost
        sent = patient.post("/today", data=kept)
        assert sent.status_code == 303, sent.text
    doses = dosing.list_doses(clinic.db, doc, trial.id)
    assert [d.local_date for d in doses] == [clock().date() - dt.timedelta(days=1)]
    entries = records.list_diary_entries(clinic.db, doc, clinic.patients["A-001"].id)
    assert [e.instrument_id for e in entries] == ["daily_diary"]


def test_an_attack_sent_twice_with_one_key_lands_once(
    api: httpx.Client, login: Login, clinic: Clinic
) -> None:
    pid = clinic.patients["A-001"].id
    me = {**login("p_A-001"), "Idempotency-Key": "attack-offline-1"}
    body = {
        "instrument_id": "migraine_diary",
        "started": "2026-03-01T07:00:00",
        "ended": "2026-03-01T08:30:00",
        "severity": 2,
    }
    first = api.post(f"/patients/{pid}/attacks", json=body, headers=me)
    again = api.post(f"/patients/{pid}/attacks", json=body, headers=me)
    assert first.status_code == 201, first.text
    assert again.status_code == 201, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    listed = api.get(f"/patients/{pid}/attacks", headers=login("clinician_sitea")).json()
    assert len(listed) == 1
    other = api.post(f"/patients/{pid}/attacks", json={**body, "severity": 3}, headers=me)
    assert other.status_code == 422


def _hidden(page: httpx.Response, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page.text)
    assert found, name
    return found.group(1)


def test_a_kept_attack_form_lands_once(server: LiveServer, clinic: Clinic) -> None:
    pid = clinic.patients["A-001"].id
    patient = sign_in(server.url, "p_A-001")
    page = patient.get("/attacks")
    form = {
        "csrf_token": csrf_of(page),
        "instrument": "migraine_diary",
        "submission_id": _hidden(page, "submission_id"),
        "started": "2026-03-01T07:00",
        "ended": "2026-03-01T08:30",
        "severity": "2",
        "saved_ago_s": "600",
    }
    for _ in range(2):  # the outbox sends again when the first answer was lost
        sent = patient.post("/attacks", data=form)
        assert sent.status_code == 303, sent.text
    doc = clinic.actors["clinician_sitea"]
    assert [a.severity for a in attacks.list_attacks(clinic.db, doc, pid)] == [2]
    # The same submission with other answers is a mistake, said so, and nothing is stored.
    other = patient.post("/attacks", data={**form, "severity": "3"})
    assert other.status_code == 422
    assert "different request" in other.text
    assert len(attacks.list_attacks(clinic.db, doc, pid)) == 1


def test_a_kept_guess_lands_once(server: LiveServer, clinic: Clinic, clock: FixedClock) -> None:
    trial = running_trial(clinic, clock)
    doc = clinic.actors["clinician_sitea"]
    first = trial_views.get_trial(clinic.db, doc, trial.id).periods[0]
    clock.now = dt.datetime.combine(guess_opens_on(first.end_date), clock.now.timetz())
    patient = sign_in(server.url, "p_A-001")
    page = patient.get("/today")
    assert 'action="/guess"' in page.text
    form = {
        "csrf_token": csrf_of(page),
        "trial_id": str(trial.id),
        "period": "1",
        "local_date": _hidden(page, "local_date"),
        "submission_id": re.findall(r'name="submission_id" value="([^"]*)"', page.text)[0],
        "guess": "placebo",
        "confidence": "60",
    }
    for _ in range(2):
        sent = patient.post("/guess", data=form)
        assert sent.status_code == 303, sent.text
    guesses = dosing.list_guesses(clinic.db, doc, trial.id)
    assert [(g.period, g.guess, g.confidence) for g in guesses] == [(1, "placebo", 60)]
    other = patient.post("/guess", data={**form, "guess": "active"})
    assert other.status_code == 422
    assert [g.guess for g in dosing.list_guesses(clinic.db, doc, trial.id)] == ["placebo"]


def test_the_anxiety_questionnaire_lands_once(server: LiveServer, clinic: Clinic) -> None:
    pid = clinic.patients["A-001"].id
    patient = sign_in(server.url, "p_A-001")
    assert 'href="/questionnaires/gad7"' in patient.get("/today").text
    assert patient.get("/questionnaires/bdi").status_code == 404
    page = patient.get("/questionnaires/gad7")
    assert page.status_code == 200
    assert "Anxiety questionnaire (GAD-7)" in page.text
    form = {
        "csrf_token": csrf_of(page),
        "local_date": _hidden(page, "local_date"),
        "submission_id": _hidden(page, "submission_id"),
        **{f"gad7.q{i}": "2" for i in range(1, 8)},
    }
    incomplete = patient.post("/questionnaires/gad7", data={**form, "gad7.q7": ""})
    assert incomplete.status_code == 422
    for _ in range(2):
        sent = patient.post("/questionnaires/gad7", data=form)
        assert sent.status_code == 303, sent.text
        assert sent.headers["location"] == "/questionnaires/gad7?saved=1"
    doc = clinic.actors["clinician_sitea"]
    stored = records.list_diary_entries(clinic.db, doc, pid)
    assert [(e.instrument_id, e.answers["q1"]) for e in stored] == [("gad7", 2)]
