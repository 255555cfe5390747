"""Every rule runs, through HTTP: a pain flare from posted diaries (once, even when replayed), the
sweep inside two servers on one database (once per site and day), escalation e-mail."""

from __future__ import annotations

import datetime as dt
import time

import httpx
from sqlalchemy import func, select

from helpers import Clinic, FixedClock
from integration.api.live import LiveServer, Login
from integration.api.test_reminders import Inbox, inbox, settings_for
from integration.test_alert_sweep import running_trial
from microtrial.domain.actors import system_actor
from microtrial.http.app import create_app
from microtrial.http.config import ServerSettings
from microtrial.http.sweeps import sweep_once
from microtrial.services import admin
from microtrial.store.models import AlertRow, SweepRunRow

__all__ = ["inbox"]  # the SMTP fixture, shared with the reminder tests


def post_diary(
    api: httpx.Client, login: Login, pid: int, day: dt.date, pain: int, key: str
) -> httpx.Response:
    body = {"local_date": day.isoformat(), "answers": {"average_pain": pain}}
    headers = {**login("p_A-001"), "Idempotency-Key": key}
    return api.post(f"/patients/{pid}/diary-entries", json=body, headers=headers)


def test_a_pain_flare_posted_through_the_api_is_one_alert(
    api: httpx.Client, login: Login, clinic: Clinic, clock: FixedClock
) -> None:
    pid = running_trial(clinic, clock, "A-001")
    start = clock().date()
    pains = [3] * 7 + [7, 7, 7, 8]  # baseline 3; then four days at least 3 points above it
    for i, pain in enumerate(pains):
        clock.now = dt.datetime.combine(start + dt.timedelta(days=i), dt.time(18), dt.UTC)
        answer = post_diary(api, login, pid, clock().date(), pain, f"day-{i}")
        assert answer.status_code == 201, answer.text
        if i == 8:  # the third flare day
            # Replaying the same submissions changes nothing.
            for j in (7, 8):
                replay = post_diary(api, login, pid, start + dt.timedelta(days=j), 7, f"day-{j}")
                assert replay.status_code == 201
    listed = api.get("/alerts", headers=login("clinician_sitea")).json()["items"]
    flares = [a for a in listed if a["code"] == "pain-flare"]
    assert len(flares) == 1, listed
    assert flares[0]["trigger"]["cause"] == f"pain-flare:{start + dt.timedelta(days=7)}"
    assert flares[0]["escalated_at"] is None
    # Site B's clinician does not see it.
    assert api.get("/alerts", headers=login("clinician_siteb")).json()["items"] == []


def test_two_servers_on_one_database_sweep_a_site_once_a_day(
    clinic: Clinic, clock: FixedClock, database_url: str
) -> None:
    running_trial(clinic, clock, "A-001", run_in=0)
    clock.advance(days=4)
    settings = ServerSettings(database_url=database_url, secret_key="s" * 40, sweep_interval_s=0.05)
    with (
        LiveServer(create_app(settings, clock=clock)),
        LiveServer(create_app(settings, clock=clock)),
    ):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with clinic.db.transaction() as session:
                runs = session.execute(select(func.count()).select_from(SweepRunRow)).scalar_one()
            if runs == 2:  # both sites swept today
                break
            time.sleep(0.05)
        time.sleep(0.3)  # several more rounds in both servers
    with clinic.db.transaction() as session:
        runs = session.execute(select(SweepRunRow.site_id, SweepRunRow.day)).all()
        raised = session.execute(select(AlertRow.code)).scalars().all()
    assert sorted(runs) == [(clinic.site_a.id, clock().date()), (clinic.site_b.id, clock().date())]
    assert raised == ["missed-diary-days"]


def test_an_escalated_alert_is_emailed_to_the_sites_clinicians_once(
    clinic: Clinic,
    clock: FixedClock,
    database_url: str,
    inbox: tuple[Inbox, int],
    api: httpx.Client,
    login: Login,
) -> None:
    handler, port = inbox
    admin.add_user(
        clinic.db,
        system_actor("test"),
        site_code="SITEA",
        role="clinician",
        username="dr_mail",
        password="correct horse battery",
        email="dr.mail@example.org",
        clock=clock,
    )
    pid = running_trial(clinic, clock, "A-001", run_in=0)
    answers = {f"q{i}": 0 for i in range(1, 10)} | {"q9": 2}
    body = {"local_date": clock().date().isoformat(), "instrument_id": "phq9", "answers": answers}
    posted = api.post(f"/patients/{pid}/diary-entries", json=body, headers=login("p_A-001"))
    assert posted.status_code == 201, posted.text
    settings = settings_for(database_url, port)
    sweep_once(settings, clinic.db, clock)
    assert handler.messages == []  # not yet overdue
    clock.advance(hours=25)
    sweep_once(settings, clinic.db, clock)
    sweep_once(settings, clinic.db, clock)
    [message] = handler.messages
    assert message["To"] == "dr.mail@example.org"
    assert "not acknowledged" in str(message["Subject"])
    assert "https://trial.example.org/clinic/alerts#alert-" in str(message.get_payload())
    [alert] = api.get("/alerts", headers=login("clinician_sitea")).json()["items"]
    assert alert["escalated_at"] is not None
