"""Reminder settings and the private calendar feed through the real server, on both engines:
the patient sets them (If-Match), their clinician reads them and stops the feed, outsiders get
404, the feed is valid iCalendar with no arm and answers 404 once stopped, each step audited,
and the pages: the patient's Reminders page, the clinic's patient page and worklist."""

from __future__ import annotations

import re

import httpx
import icalendar
import pytest
from sqlalchemy import select

from helpers import Clinic
from integration.api.live import LiveServer, Login
from integration.api.test_pages import OPEN, csrf_of, sign_in
from microtrial.store.models import AuditEventRow

SETTINGS = "/patients/{pid}/reminders"
CHOICE = {"diary_time": "20:30", "dose_time": "08:15", "channel": "calendar", "paused": False}


@pytest.fixture(autouse=True)
def _close_clients() -> None:
    """Page clients opened by ``sign_in`` are closed by test_pages' list; empty it here too."""
    yield  # type: ignore[misc]
    while OPEN:
        OPEN.pop().close()


def feed_path(url: str) -> str:
    """The path of a feed address (the server's own base URL differs from the public one)."""
    found = re.search(r"(/calendar/[A-Za-z0-9_-]+\.ics)$", url)
    assert found, url
    return found.group(1)


def post_reminders(client: httpx.Client, page: httpx.Response, **fields: str) -> httpx.Response:
    """Submit the Reminders page's form with ``fields`` (and the page's CSRF token)."""
    return client.post("/account/reminders", data={"csrf_token": csrf_of(page), **fields})


def webcal_feed(saved: httpx.Response) -> str:
    """The feed path of the webcal link a saved Reminders page shows (once)."""
    webcal = re.search(r'href="(webcal://[^"]+)"', saved.text)
    assert webcal, saved.text
    return feed_path(webcal.group(1))


def test_settings_permissions_feed_and_revocation(
    api: httpx.Client, login: Login, clinic: Clinic, server: LiveServer
) -> None:
    pid = clinic.patients["A-001"].id
    path = SETTINGS.format(pid=pid)
    own = login("p_A-001")
    first = api.get(path, headers=own)
    assert first.status_code == 200, first.text
    assert first.headers["ETag"] == '"0"'
    assert first.json()["chosen"] is False
    assert api.put(path, json=CHOICE, headers=own).status_code == 428
    email = api.put(path, json={**CHOICE, "channel": "email"}, headers={**own, "If-Match": '"0"'})
    assert email.status_code == 422
    assert "channel" in email.text
    assert "none, calendar" in email.text
    saved = api.put(path, json=CHOICE, headers={**own, "If-Match": '"0"'})
    assert saved.status_code == 200, saved.text
    assert saved.headers["ETag"] == '"1"'
    feed = saved.json()["feed"]
    assert feed["webcal_url"].startswith("webcal://")
    assert feed["https_url"].startswith("http")
    ics = feed_path(feed["https_url"])
    with httpx.Client(base_url=server.url, timeout=30) as anonymous:
        answer = anonymous.get(ics)
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/calendar")
        calendar = icalendar.Calendar.from_ical(answer.text)
        assert str(calendar["X-WR-CALNAME"]) == "MicroTrial reminders"
        for word in ("placebo", "active", "psilocybin", "A-001"):
            assert word.lower() not in answer.text.lower()
        # The clinician sees the settings, may not set them, and stops the feed.
        clinician = login("clinician_sitea")
        seen = api.get(path, headers=clinician)
        assert (seen.status_code, seen.json()["state"]) == (200, "on")
        refused = api.put(path, json=CHOICE, headers={**clinician, "If-Match": '"1"'})
        assert refused.status_code == 403
        for outsider in ("p_A-002", "p_B-001", "clinician_siteb"):
            assert api.get(path, headers=login(outsider)).status_code == 404
            assert api.delete(f"{path}/feed", headers=login(outsider)).status_code == 404
        assert anonymous.get(ics).status_code == 200  # outsiders stopped nothing
        assert api.delete(f"{path}/feed", headers=clinician).status_code == 204
        assert anonymous.get(ics).status_code == 404
        # The patient makes a new one; the old stays dead.
        new = api.post(f"{path}/feed", headers=own)
        assert new.status_code == 201
        assert anonymous.get(feed_path(new.json()["https_url"])).status_code == 200
        assert anonymous.get(ics).status_code == 404
    with clinic.db.transaction() as session:
        audited = session.execute(
            select(AuditEventRow.actor, AuditEventRow.action, AuditEventRow.entity)
            .where(AuditEventRow.patient_id == pid)
            .where(AuditEventRow.entity.in_(("reminder-settings", "calendar-feed")))
            .where(AuditEventRow.action != "read")
            .order_by(AuditEventRow.id)
        ).all()
        reads = session.execute(
            select(AuditEventRow.actor)
            .where(AuditEventRow.patient_id == pid, AuditEventRow.entity == "calendar-feed")
            .where(AuditEventRow.action == "read")
        ).all()
    assert [tuple(a) for a in audited] == [
        ("p_A-001", "update", "reminder-settings"),
        ("clinician_sitea", "revoke", "calendar-feed"),
        ("p_A-001", "create", "calendar-feed"),
    ]
    assert len(reads) == 3  # each successful fetch


def test_the_pages(clinic: Clinic, server: LiveServer) -> None:
    pid = clinic.patients["A-001"].id
    patient = sign_in(server.url, "p_A-001")
    page = patient.get("/account/reminders")
    assert page.status_code == 200
    assert "does not replace your clinician" in page.text
    bad = post_reminders(patient, page, diary_time="25:99", channel="calendar")
    assert bad.status_code == 422
    assert "Diary time" in bad.text
    saved = post_reminders(patient, page, diary_time="20:30", dose_time="08:15", channel="calendar")
    assert saved.status_code == 200
    ics = webcal_feed(saved)
    assert patient.get(ics).status_code == 200
    again = patient.get("/account/reminders")
    assert "webcal://" not in again.text  # shown once only
    clinician = sign_in(server.url, "clinician_sitea")
    record = clinician.get(f"/clinic/patients/{pid}")
    assert 'id="reminders-state"' in record.text
    assert "calendar link" in record.text
    worklist = clinician.get("/clinic/patients")
    assert 'class="reminders on"' in worklist.text
    stopped = clinician.post(
        f"/clinic/patients/{pid}/reminders/feed/stop",
        data={"csrf_token": csrf_of(record)},
        follow_redirects=False,
    )
    assert stopped.status_code == 303
    assert patient.get(ics).status_code == 404
    assert 'class="reminders off"' in clinician.get("/clinic/patients").text


def test_the_feed_is_rate_limited_per_address(
    api: httpx.Client, login: Login, clinic: Clinic, server: LiveServer
) -> None:
    """A feed answers at most ``costly_per_minute`` (20) fetches a minute to one address."""
    path = SETTINGS.format(pid=clinic.patients["A-001"].id)
    own = login("p_A-001")
    saved = api.put(path, json=CHOICE, headers={**own, "If-Match": '"0"'})
    ics = feed_path(saved.json()["feed"]["https_url"])
    with httpx.Client(base_url=server.url, timeout=30) as anonymous:
        codes = [anonymous.get(ics).status_code for _ in range(21)]
    assert codes[:20] == [200] * 20
    assert codes[20] == 429


def test_the_page_errors_and_the_feed_speak_the_patients_language(
    clinic: Clinic, server: LiveServer
) -> None:
    del clinic
    patient = sign_in(server.url, "p_A-001")
    account = patient.get("/account")
    chosen = patient.post("/account", data={"language": "de", "csrf_token": csrf_of(account)})
    assert chosen.status_code == 200
    page = patient.get("/account/reminders")
    assert "<h1>Meine Erinnerungen</h1>" in page.text
    bad = post_reminders(patient, page, diary_time="25:99", channel="calendar")
    assert bad.status_code == 422
    assert "Tagebuch-Erinnerung: ist keine Uhrzeit (eine Uhrzeit wie 08:30" in bad.text
    saved = post_reminders(patient, page, dose_time="08:15", channel="calendar")
    assert saved.status_code == 200
    assert "Ihre Erinnerungen sind gespeichert." in saved.text
    feed = icalendar.Calendar.from_ical(patient.get(webcal_feed(saved)).text)
    assert str(feed["x-wr-calname"]) == "MicroTrial-Erinnerungen"
    # (this clinic's patient has no trial running: the feed may hold no entry yet)
    summaries = {str(event["summary"]) for event in feed.walk("VEVENT")}
    assert not summaries & {"Capsule day", "Daily diary", "MicroTrial: your guess"}


def _changes(clinic: Clinic, pid: int) -> list[str]:
    """The audited changes of the patient's reminders and feed, in order."""
    with clinic.db.transaction() as session:
        return list(
            session.execute(
                select(AuditEventRow.action)
                .where(AuditEventRow.patient_id == pid)
                .where(AuditEventRow.entity.in_(("reminder-settings", "calendar-feed")))
                .where(AuditEventRow.action != "read")
                .order_by(AuditEventRow.id)
            ).scalars()
        )


def test_reminder_changes_honour_an_idempotency_key(
    api: httpx.Client, login: Login, clinic: Clinic, server: LiveServer
) -> None:
    pid = clinic.patients["A-001"].id
    path = SETTINGS.format(pid=pid)
    own = login("p_A-001")
    keyed = {**own, "If-Match": '"0"', "Idempotency-Key": "reminders-offline-1"}
    first = api.put(path, json=CHOICE, headers=keyed)
    again = api.put(path, json=CHOICE, headers=keyed)  # the answer was lost: sent again
    assert first.status_code == again.status_code == 200, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert again.headers["ETag"] == first.headers["ETag"] == '"1"'
    ics = feed_path(first.json()["feed"]["https_url"])
    # The same key with another body: the diary route's answer (422 naming the key); unchanged.
    other = api.put(path, json={**CHOICE, "diary_time": "21:00"}, headers=keyed)
    assert other.status_code == 422
    assert other.json()["detail"][0]["field"] == "Idempotency-Key"
    now = api.get(path, headers=own)
    assert (now.headers["ETag"], now.json()["diary_time"]) == ('"1"', "20:30:00")
    assert _changes(clinic, pid) == ["update"]

    # A new feed, asked for twice with one key: made once, the same address both times.
    feed_key = {**own, "Idempotency-Key": "new-feed-offline-1"}
    made = api.post(f"{path}/feed", headers=feed_key)
    replayed = api.post(f"{path}/feed", headers=feed_key)
    assert made.status_code == replayed.status_code == 201, replayed.text
    assert replayed.headers["idempotent-replayed"] == "true"
    assert replayed.json() == made.json()
    assert _changes(clinic, pid) == ["update", "regenerate"]
    with httpx.Client(base_url=server.url, timeout=30) as anonymous:
        assert anonymous.get(ics).status_code == 404  # the first feed ended once, not twice
        assert anonymous.get(feed_path(made.json()["https_url"])).status_code == 200
        # Without a key each request makes a new address, as before.
        plain = [api.post(f"{path}/feed", headers=own).json()["https_url"] for _ in range(2)]
        assert len(set(plain)) == 2
        assert anonymous.get(feed_path(made.json()["https_url"])).status_code == 404
    # A replay whose feed has been replaced since cannot answer the same: it says so, makes none.
    late = api.post(f"{path}/feed", headers=feed_key)
    assert late.status_code == 409
    assert "Idempotency-Key" in late.text
    assert api.put(path, json=CHOICE, headers=keyed).status_code == 409
    assert _changes(clinic, pid) == ["update", "regenerate", "regenerate", "regenerate"]
