"""Start and resume with an alert in the way, through the real server on both engines (the API
and the clinician's trial page): an open holding or urgent alert refuses both (423, naming the
alert in words and what to do) until a clinician acknowledges it; a stop-for-good alert (a
seizure) refuses them even once acknowledged, and the page offers only withdrawal."""

from __future__ import annotations

import re
from typing import Any

import httpx

from helpers import Clinic, FixedClock
from integration.api.live import LiveServer, Login
from integration.api.test_hold_feed_http import move, trial_id_of
from integration.api.test_holds_http import _web
from integration.test_alert_sweep import running_trial

PHQ9_ITEM9 = "PHQ-9 item 9 above zero"
SEIZURE = "Seizure; stop permanently"


def _report(
    api: httpx.Client, login: Login, clock: FixedClock, pid: int, instrument: str, **answers: Any
) -> None:
    """The patient's own entry for today through the diary API (the alert rules run on it)."""
    body = {"local_date": clock().date().isoformat(), "instrument_id": instrument}
    posted = api.post(
        f"/patients/{pid}/diary-entries",
        json={**body, "answers": answers},
        headers=login("p_A-001"),
    )
    assert posted.status_code == 201, posted.text


def _acknowledge_all(api: httpx.Client, doc: dict[str, str]) -> None:
    for alert in api.get("/alerts", headers=doc).json()["items"]:
        done = api.post(f"/alerts/{alert['id']}/acknowledge", json={"note": "seen"}, headers=doc)
        assert done.status_code == 200, done.text


def _buttons(page: str) -> set[str]:
    """The lifecycle actions the trial page offers."""
    return set(re.findall(r'name="action" value="([a-z-]+)"', page))


def _submit(web: httpx.Client, trial_id: int, action: str, reason: str = "") -> httpx.Response:
    """The trial page's lifecycle form for ``action``, sent even when the page does not offer it
    (a page loaded before the alert, say)."""
    page = web.get(f"/clinic/trials/{trial_id}").text
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    version = page.split('name="lock_version" value="')[1].split('"')[0]
    data = {"csrf_token": token, "lock_version": version, "action": action, "reason": reason}
    return web.post(f"/clinic/trials/{trial_id}/transitions", data=data)


def test_an_open_hold_refuses_the_start_until_it_is_acknowledged(
    api: httpx.Client, login: Login, server: LiveServer, clinic: Clinic, clock: FixedClock
) -> None:
    pid = running_trial(clinic, clock, "A-001", run_in=0, steps=("schedule",))
    trial_id, doc = trial_id_of(clinic), login("clinician_sitea")
    _report(api, login, clock, pid, "phq9", **{f"q{i}": 0 for i in range(1, 9)}, q9=1)

    refused = move(api, doc, trial_id, "start")
    assert refused.status_code == 423, refused.text
    assert refused.json()["safety"] is True
    detail = refused.json()["detail"]
    assert PHQ9_ITEM9 in detail
    assert "review and acknowledge alert" in detail
    assert api.get(f"/trials/{trial_id}", headers=doc).json()["status"] == "scheduled"
    assert [a["acknowledged_at"] for a in api.get("/alerts", headers=doc).json()["items"]] == [None]

    with _web(server, "clinician_sitea") as web:
        page = web.get(f"/clinic/trials/{trial_id}").text
        assert 'id="start-blocks"' in page
        assert 'data-blocked="start"' in page
        assert PHQ9_ITEM9 in page
        assert "Review and acknowledge it on the alerts page first." in page
        assert "start" not in _buttons(page)
        assert "withdraw" in _buttons(page)
        forced = _submit(web, trial_id, "start")
        assert forced.status_code == 423, forced.text[:300]
        assert PHQ9_ITEM9 in forced.text

        _acknowledge_all(api, doc)
        page = web.get(f"/clinic/trials/{trial_id}").text
        assert 'id="start-blocks"' not in page
        assert "start" in _buttons(page)
        started = _submit(web, trial_id, "start")
        assert started.status_code == 200, started.text[:300]
    assert api.get(f"/trials/{trial_id}", headers=doc).json()["status"] == "running"


def test_a_seizure_ends_the_trial_for_good_even_once_acknowledged(
    api: httpx.Client, login: Login, server: LiveServer, clinic: Clinic, clock: FixedClock
) -> None:
    pid = running_trial(clinic, clock, "A-001", run_in=0)
    trial_id, doc = trial_id_of(clinic), login("clinician_sitea")
    _report(api, login, clock, pid, "ae_checklist", seizure=True)
    assert api.get(f"/trials/{trial_id}", headers=doc).json()["status"] == "paused"

    open_refusal = move(api, doc, trial_id, "resume", "patient feels well")
    assert open_refusal.status_code == 423, open_refusal.text
    assert SEIZURE in open_refusal.json()["detail"]
    assert "for good" in open_refusal.json()["detail"]

    _acknowledge_all(api, doc)
    clock.advance(days=1)
    refused = move(api, doc, trial_id, "resume", "patient feels well")
    assert refused.status_code == 423, refused.text
    detail = refused.json()["detail"]
    assert SEIZURE in detail
    assert "ended this trial for good" in detail
    assert "withdraw the trial" in detail
    assert api.get(f"/trials/{trial_id}", headers=doc).json()["status"] == "paused"

    with _web(server, "clinician_sitea") as web:
        page = web.get(f"/clinic/trials/{trial_id}").text
        assert 'data-blocked="resume"' in page
        assert 'data-ends-trial="yes"' in page
        assert "This alert ends the trial for good, even once acknowledged" in page
        assert _buttons(page) == {"withdraw"}
        forced = _submit(web, trial_id, "resume", "patient feels well")
        assert forced.status_code == 423, forced.text[:300]
        assert "ended this trial for good" in forced.text
        withdrawn = _submit(web, trial_id, "withdraw", "seizure: stopped for good")
        assert withdrawn.status_code == 200, withdrawn.text[:300]
    assert api.get(f"/trials/{trial_id}", headers=doc).json()["status"] == "withdrawn"
