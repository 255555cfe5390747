"""A stopped medication through the real server on both engines: screening keeps it while a
timing rule's wash-out still covers the planned first dose (the finding names the stop day and
the day the wash-out ends, and the refused start names the first possible dose day); once the
wash-out has passed it is no finding."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx

from helpers import Clinic, FixedClock
from integration.api.live import LiveServer, Login
from integration.api.test_form_refusals import post_form
from integration.api.test_hold_feed_http import move
from integration.api.test_pages import sign_in
from integration.test_safety_services import clear_history

PLAN = {
    "template": "fadiman",
    "substance": "psilocybin",
    "amount": 100,
    "unit": "mg dried material",
}


def _add(api: httpx.Client, doc: dict[str, str], pid: int, name: str) -> str:
    added = api.post(f"/patients/{pid}/medications", json={"name": name}, headers=doc)
    assert added.status_code == 201, added.text
    return str(added.json()["record_id"])


def _stop(server: LiveServer, pid: int, record_id: str, day: dt.date) -> None:
    """The clinician's stop form on the patient page (an end date and a reason)."""
    web = sign_in(server.url, "clinician_sitea")
    page = f"/clinic/patients/{pid}"
    form = {"end_date": day.isoformat(), "reason": "stopped by the GP"}
    stopped = post_form(web, page, f"{page}/medications/{record_id}/stop", form)
    assert stopped.status_code == 303, stopped.text


def _screening(api: httpx.Client, doc: dict[str, str], pid: int) -> dict[str, Any]:
    answer = api.post(f"/patients/{pid}/screenings", json={"substance": "psilocybin"}, headers=doc)
    assert answer.status_code == 201, answer.text
    result: dict[str, Any] = answer.json()
    return result


def _washouts(result: dict[str, Any]) -> list[tuple[str, str | None]]:
    return sorted((f["code"], f["until"]) for f in result["findings"] if f.get("until"))


def test_a_stopped_maoi_keeps_the_trial_from_starting_until_its_wash_out_ends(
    api: httpx.Client, login: Login, server: LiveServer, clinic: Clinic, clock: FixedClock
) -> None:
    doc = login("clinician_sitea")
    pid = clinic.patients["A-001"].id  # chronic migraine (G43.909)
    clear_history(clinic, clinic.actors["clinician_sitea"], pid)
    _add(api, doc, pid, "Sertraline 50 mg")
    reviewed = _screening(api, doc, pid)
    assert reviewed["decision"] == "clinician-review"
    signed = api.post(
        f"/patients/{pid}/screenings/psilocybin/sign-off", json={"reason": "ok"}, headers=doc
    )
    assert signed.status_code == 200, signed.text
    today = clock().date()
    body = {"regimen": PLAN, "start_date": (today + dt.timedelta(days=14)).isoformat()}
    planned = api.post(f"/patients/{pid}/trials", json=body, headers=doc)
    assert planned.status_code == 201, planned.text
    trial = planned.json()["id"]
    assert move(api, doc, trial, "schedule").status_code == 200

    nardil = _add(api, doc, pid, "Nardil (phenelzine) 15 mg")
    current = api.get(f"/patients/{pid}/screenings/psilocybin", headers=doc).json()
    assert current["decision"] == "do-not-start"  # an MAOI with the SSRI
    assert move(api, doc, trial, "start").status_code == 423

    _stop(server, pid, nardil, today)
    current = api.get(f"/patients/{pid}/screenings/psilocybin", headers=doc).json()
    assert current["decision"] == "do-not-start"  # the first dose is inside the MAOI's wash-out
    titles = [f["title"] for f in current["findings"]]
    assert (
        "Phenelzine stopped on 2 March 2026: wait 42 days after stopping — until 13 April 2026 "
        "— before the first dose" in titles
    )
    assert ("combo-serotonergic-maoi", "2026-04-13") in _washouts(current)
    assert ("ix-maoi", "2026-04-13") in _washouts(current)
    refused = move(api, doc, trial, "start")
    assert refused.status_code == 423, refused.text
    assert "the first dose may be on or after 13 April 2026" in refused.text

    # a trial planned to start once the wash-out has ended is screened against its first dose
    assert move(api, doc, trial, "withdraw", "wash-out").status_code == 200
    body = {"regimen": PLAN, "start_date": "2026-04-13"}
    later = api.post(f"/patients/{pid}/trials", json=body, headers=doc)
    assert later.status_code == 201, later.text
    current = api.get(f"/patients/{pid}/screenings/psilocybin", headers=doc).json()
    assert current["decision"] == "clinician-review"  # the SSRI alone, for a sign-off
    assert _washouts(current) == []


def test_a_medication_stopped_past_its_wash_out_is_no_finding_and_a_triptan_waits_five_days(
    api: httpx.Client, login: Login, clinic: Clinic, server: LiveServer, clock: FixedClock
) -> None:
    doc = login("clinician_sitea")
    pid = clinic.patients["A-001"].id
    clear_history(clinic, clinic.actors["clinician_sitea"], pid)
    today = clock().date()
    phenelzine = _add(api, doc, pid, "Nardil (phenelzine) 15 mg")
    _stop(server, pid, phenelzine, today - dt.timedelta(days=50))
    triptan = _add(api, doc, pid, "Imitrex 50 mg")
    _stop(server, pid, triptan, today - dt.timedelta(days=3))
    result = _screening(api, doc, pid)  # no trial planned: judged against today
    assert _washouts(result) == [("ix-triptan", "2026-03-04"), ("timing-triptan", "2026-03-04")]
    assert (
        "Sumatriptan stopped on 27 February 2026: wait 5 days after stopping — until "
        "4 March 2026 — before the first dose" in [f["title"] for f in result["findings"]]
    )
    assert not [f for f in result["findings"] if "phenelzine" in (f["matched"] or "")]

    clock.advance(days=2)  # the triptan's five days have passed
    result = _screening(api, doc, pid)
    assert _washouts(result) == []
    assert result["decision"] == "no-known-issues"


def test_a_stop_without_an_end_date_counts_from_the_version_that_stopped_it(
    api: httpx.Client, login: Login, clinic: Clinic, clock: FixedClock
) -> None:
    doc = login("clinician_sitea")
    pid = clinic.patients["A-001"].id
    clear_history(clinic, clinic.actors["clinician_sitea"], pid)
    triptan = _add(api, doc, pid, "Imitrex 50 mg")
    url = f"/patients/{pid}/medications/{triptan}"
    etag = api.get(url, headers=doc).headers["etag"]
    body = {"status": "stopped", "reason": "no longer taken"}
    corrected = api.patch(url, json=body, headers={**doc, "If-Match": etag})
    assert corrected.status_code == 200, corrected.text
    clock.advance(days=1)
    result = _screening(api, doc, pid)
    assert _washouts(result) == [("ix-triptan", "2026-03-07"), ("timing-triptan", "2026-03-07")]
