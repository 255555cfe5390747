"""Breaking the blind through the live server (issue 16, findings 2 and 3).

A running trial cannot be completed before its last period ends, so an early unblinding cannot be
dressed as a normal one: before the end it needs a clinician of the site and a reason, and it is
always recorded as early. Unblinded staff prepare kits and never unblind: the API refuses them
and no page offers them the form. The operator (CLI) cannot break the blind early either.
"""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from helpers import Clinic, FixedClock
from integration.api.live import LiveServer, Login
from integration.api.test_holds_http import _trial_id, _web
from integration.test_alert_sweep import running_trial
from microtrial.domain.actors import system_actor
from microtrial.errors import PermissionDenied
from microtrial.services import trial_lifecycle, trial_views


def _last_day(api: httpx.Client, headers: dict[str, str], trial_id: int) -> dt.date:
    days = api.get(f"/trials/{trial_id}/calendar", headers=headers).json()
    return max(dt.date.fromisoformat(d["date"]) for d in days)


def test_a_running_trial_cannot_be_completed_and_unblinded_as_normal(
    api: httpx.Client, login: Login, clinic: Clinic, clock: FixedClock
) -> None:
    running_trial(clinic, clock, "A-001", run_in=0)
    trial_id = _trial_id(clinic)
    doc = login("clinician_sitea")
    url = f"/trials/{trial_id}"
    clock.advance(days=5)
    etag = api.get(url, headers=doc).headers["etag"]
    refused = api.post(
        f"{url}/transitions",
        json={"action": "complete", "reason": "wants to know"},
        headers={**doc, "If-Match": etag},
    )
    assert refused.status_code == 409, refused.text
    assert "ends on" in refused.json()["detail"]
    assert api.get(url, headers=doc).json()["status"] == "running"
    # The unblinding without a reason is refused; with one, it is recorded as early.
    bare = api.post(f"{url}/unblind", json={}, headers=doc)
    assert bare.status_code == 422, bare.text
    assert api.get(url, headers=doc).json()["status"] == "running"
    done = api.post(f"{url}/unblind", json={"reason": "suspected serotonin toxicity"}, headers=doc)
    assert done.status_code == 200, done.text
    assert done.json()["unblinded_early"] is True
    assert done.json()["unblind_reason"] == "suspected serotonin toxicity"


def test_a_trial_is_completed_after_its_last_period_and_unblinded_normally(
    api: httpx.Client, login: Login, clinic: Clinic, clock: FixedClock
) -> None:
    running_trial(clinic, clock, "A-001", run_in=0)
    trial_id = _trial_id(clinic)
    doc = login("clinician_sitea")
    url = f"/trials/{trial_id}"
    last = _last_day(api, doc, trial_id)
    clock.now = dt.datetime.combine(last, dt.time(21), tzinfo=dt.UTC)
    etag = api.get(url, headers=doc).headers["etag"]
    on_last_day = api.post(
        f"{url}/transitions",
        json={"action": "complete", "reason": "all periods over"},
        headers={**doc, "If-Match": etag},
    )
    assert on_last_day.status_code == 409, on_last_day.text
    clock.advance(days=1)
    done = api.post(
        f"{url}/transitions",
        json={"action": "complete", "reason": "all periods over"},
        headers={**doc, "If-Match": etag},
    )
    assert done.status_code == 200, done.text
    unblinded = api.post(f"{url}/unblind", json={}, headers=doc)
    assert unblinded.status_code == 200, unblinded.text
    assert unblinded.json()["unblinded_early"] is False


def test_unblinded_staff_never_unblind(
    api: httpx.Client, login: Login, server: LiveServer, clinic: Clinic, clock: FixedClock
) -> None:
    running_trial(clinic, clock, "A-001", run_in=0)
    trial_id = _trial_id(clinic)
    pharmacist = login("unblinded_staff_sitea")
    refused = api.post(
        f"/trials/{trial_id}/unblind", json={"reason": "pharmacy asked"}, headers=pharmacist
    )
    assert refused.status_code == 403, refused.text
    doc = clinic.actors["clinician_sitea"]
    assert trial_views.get_trial(clinic.db, doc, trial_id).status == "running"
    with _web(server, "unblinded_staff_sitea") as web:
        # The clinic's trial page shows outcomes: not for staff who know the arms.
        page = web.get(f"/clinic/trials/{trial_id}")
        assert page.status_code == 403, page.text
        assert "Emergency unblinding" not in page.text
        kits = web.get("/pharmacy/kits").text
        assert "/unblind" not in kits
        token = kits.split('name="csrf_token" value="')[1].split('"')[0]
        form = {"csrf_token": token, "reason": "pharmacy asked", "confirm": "yes"}
        posted = web.post(f"/clinic/trials/{trial_id}/unblind", data=form)
        assert posted.status_code == 403, posted.text
    assert trial_views.get_trial(clinic.db, doc, trial_id).status == "running"
    with _web(server, "clinician_sitea") as web:
        assert "Emergency unblinding" in web.get(f"/clinic/trials/{trial_id}").text


def test_the_operator_cannot_break_the_blind_early(clinic: Clinic, clock: FixedClock) -> None:
    running_trial(clinic, clock, "A-001", run_in=0)
    trial_id = _trial_id(clinic)
    with pytest.raises(PermissionDenied):
        trial_lifecycle.unblind_trial(clinic.db, system_actor(), trial_id, "asked", clock=clock)
    doc = clinic.actors["clinician_sitea"]
    assert trial_views.get_trial(clinic.db, doc, trial_id).status == "running"
