"""Dose holds reach the private calendar feed, through the real server on both engines: while a
holding alert is open (PHQ-9 item 9 above zero) or the trial is paused, the feed shows no capsule
day from today on and one all-day "do not take a capsule" entry without an alarm instead, in the
patient's language; acknowledging the alert (or resuming) brings the capsule days back."""

from __future__ import annotations

import datetime as dt

import httpx
import icalendar
import pytest

from helpers import Clinic, FixedClock
from integration.api.live import LiveServer, Login
from integration.api.test_pages import OPEN, csrf_of, sign_in
from integration.api.test_reminders_http import CHOICE, SETTINGS, feed_path
from integration.test_alert_sweep import running_trial
from microtrial.services import trial_views

HOLD = "Do not take a capsule"


@pytest.fixture(autouse=True)
def _close_clients() -> None:
    """Page clients opened by ``sign_in`` are closed by test_pages' list; empty it here too."""
    yield  # type: ignore[misc]
    while OPEN:
        OPEN.pop().close()


def _feed(api: httpx.Client, login: Login, pid: int) -> str:
    """The patient's feed path, after they choose calendar reminders at 08:15."""
    saved = api.put(
        SETTINGS.format(pid=pid), json=CHOICE, headers={**login("p_A-001"), "If-Match": '"0"'}
    )
    assert saved.status_code == 200, saved.text
    return feed_path(saved.json()["feed"]["https_url"])


def _events(server: LiveServer, path: str) -> list[icalendar.Event]:
    with httpx.Client(base_url=server.url, timeout=30) as anonymous:
        answer = anonymous.get(path)
    assert answer.status_code == 200, answer.text
    return list(icalendar.Calendar.from_ical(answer.text).walk("VEVENT"))


def _day(event: icalendar.Event) -> dt.date:
    start = event.decoded("dtstart")
    return start.date() if isinstance(start, dt.datetime) else start


def _capsule_days(events: list[icalendar.Event], summary: str = "Capsule day") -> list[dt.date]:
    return sorted(_day(e) for e in events if str(e["summary"]) == summary)


def _holds(events: list[icalendar.Event], summary: str = HOLD) -> list[icalendar.Event]:
    return [e for e in events if str(e["summary"]) == summary]


def trial_id_of(clinic: Clinic) -> int:
    """Site A's newest trial."""
    return trial_views.list_trials(clinic.db, clinic.actors["clinician_sitea"])[-1].id


def move(
    api: httpx.Client, headers: dict[str, str], trial_id: int, action: str, reason: str = ""
) -> httpx.Response:
    """A lifecycle action through the API, at the trial's current version."""
    etag = api.get(f"/trials/{trial_id}", headers=headers).headers["etag"]
    body = {"action": action, **({"reason": reason} if reason else {})}
    return api.post(
        f"/trials/{trial_id}/transitions", json=body, headers={**headers, "If-Match": etag}
    )


def test_an_open_hold_replaces_the_capsule_days_until_it_is_acknowledged(
    api: httpx.Client, login: Login, server: LiveServer, clinic: Clinic, clock: FixedClock
) -> None:
    pid = running_trial(clinic, clock, "A-001", run_in=0)
    path = _feed(api, login, pid)
    today = clock().date()
    before = _events(server, path)
    planned = [d for d in _capsule_days(before) if d >= today]
    assert len(planned) > 3
    assert all(e.walk("VALARM") for e in before if str(e["summary"]) == "Capsule day")
    assert not _holds(before)

    # PHQ-9 item 9 answered 1 (through the patient's own diary API): dosing is held.
    answers = {f"q{i}": 0 for i in range(1, 10)} | {"q9": 1}
    body = {"local_date": today.isoformat(), "instrument_id": "phq9", "answers": answers}
    posted = api.post(f"/patients/{pid}/diary-entries", json=body, headers=login("p_A-001"))
    assert posted.status_code == 201, posted.text
    held = _events(server, path)
    assert [d for d in _capsule_days(held) if d >= today] == []
    assert _capsule_days(held) == [d for d in _capsule_days(before) if d < today]
    [hold] = _holds(held)
    assert _day(hold) == today
    assert hold.decoded("dtend") > planned[-1]  # all day, over every capsule day left
    assert not isinstance(hold.decoded("dtstart"), dt.datetime)
    assert hold.walk("VALARM") == []
    assert "will contact you" in str(hold["description"])
    text = hold.to_ical().decode().lower()
    for word in ("placebo", "active", "psilocybin", "a-001", "kit", "phq"):
        assert word not in text

    # The clinician acknowledges the alert: the capsule days come back, the hold entry goes.
    doc = login("clinician_sitea")
    [alert] = api.get("/alerts", headers=doc).json()["items"]
    done = api.post(
        f"/alerts/{alert['id']}/acknowledge", json={"note": "C-SSRS negative"}, headers=doc
    )
    assert done.status_code == 200, done.text
    after = _events(server, path)
    assert _capsule_days(after) == _capsule_days(before)
    assert not _holds(after)


def test_a_paused_trial_shows_no_capsule_day_to_take_in_the_patients_language(
    api: httpx.Client, login: Login, server: LiveServer, clinic: Clinic, clock: FixedClock
) -> None:
    pid = running_trial(clinic, clock, "A-001", run_in=0)
    patient = sign_in(server.url, "p_A-001")
    account = patient.get("/account")
    chosen = patient.post("/account", data={"language": "de", "csrf_token": csrf_of(account)})
    assert chosen.status_code == 200
    path = _feed(api, login, pid)
    today = clock().date()
    before = _events(server, path)
    assert [d for d in _capsule_days(before, "Kapseltag") if d >= today]

    doc, trial_id = login("clinician_sitea"), trial_id_of(clinic)
    paused = move(api, doc, trial_id, "pause", "travelling")
    assert paused.status_code == 200, paused.text
    held = _events(server, path)
    assert [d for d in _capsule_days(held, "Kapseltag") if d >= today] == []
    [hold] = _holds(held, "Keine Kapsel einnehmen")
    assert _day(hold) == today
    assert hold.walk("VALARM") == []

    clock.advance(days=2)
    resumed = move(api, doc, trial_id, "resume", "back home")
    assert resumed.status_code == 200, resumed.text
    after = _events(server, path)
    assert [d for d in _capsule_days(after, "Kapseltag") if d >= clock().date()]
    assert not _holds(after, "Keine Kapsel einnehmen")
