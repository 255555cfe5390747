"""E-mail reminders through a real SMTP server (aiosmtpd): off by default, once per day."""

from __future__ import annotations

import datetime as dt
import socket
import time
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message

import pytest
from aiosmtpd.controller import Controller

from helpers import Clinic, FixedClock
from integration.api.live import LiveServer
from microtrial.domain.actors import system_actor
from microtrial.http.app import create_app
from microtrial.http.config import ServerSettings
from microtrial.http.reminders import send_due_reminders
from microtrial.services import (
    admin,
    patients,
    records,
    trial_views,
)
from microtrial.services.records import DiaryInput


class Inbox:
    """An aiosmtpd handler that keeps every message it receives."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, _server: object, _session: object, envelope: object) -> str:
        self.messages.append(message_from_bytes(envelope.content))  # type: ignore[attr-defined]
        return "250 OK"


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    """A local SMTP server and its port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, port
    controller.stop()


@pytest.fixture
def reachable(clinic: Clinic, clock: FixedClock) -> int:
    """Patient A-009 with an e-mail address (the clinic's other patients have none)."""
    system = system_actor("test")
    patient = patients.enrol_patient(
        clinic.db,
        system,
        site_code="SITEA",
        study_code="A-009",
        birth_year=1970,
        sex="male",
        time_zone="Europe/London",
        clock=clock,
    )
    admin.add_user(
        clinic.db,
        system,
        site_code="SITEA",
        role="patient",
        username="p_A-009",
        password="correct horse battery",
        patient_code="A-009",
        email="a009@example.org",
        clock=clock,
    )
    return patient.id


def settings_for(database_url: str, port: int) -> ServerSettings:
    return ServerSettings(
        database_url=database_url,
        secret_key="r" * 40,
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_starttls=False,
        public_url="https://trial.example.org",
    )


def test_reminders_are_off_without_an_smtp_host(
    database_url: str, clinic: Clinic, clock: FixedClock, reachable: int
) -> None:
    del clinic, reachable
    clock.now = dt.datetime(2026, 3, 2, 20, 0, tzinfo=dt.UTC)
    plain = ServerSettings(database_url=database_url, secret_key="r" * 40)
    from microtrial.store.db import Database

    db = Database.from_settings(plain)
    try:
        assert send_due_reminders(plain, db, clock) == 0
    finally:
        db.dispose()


def test_a_diary_reminder_goes_out_once_after_the_local_time(
    database_url: str,
    clinic: Clinic,
    clock: FixedClock,
    reachable: int,
    inbox: tuple[Inbox, int],
) -> None:
    handler, port = inbox
    settings = settings_for(database_url, port)
    assert send_due_reminders(settings, clinic.db, clock) == 0  # 09:00 in London: too early
    clock.now = dt.datetime(2026, 3, 2, 19, 30, tzinfo=dt.UTC)
    assert send_due_reminders(settings, clinic.db, clock) == 1
    assert send_due_reminders(settings, clinic.db, clock) == 0  # once a day
    [message] = handler.messages
    assert message["To"] == "a009@example.org"
    assert message["Subject"] == "MicroTrial: today's diary"
    body = message.get_payload()
    assert "https://trial.example.org/today" in str(body)
    assert "does not replace your clinician" in str(body)
    # The next day, after the diary is saved, nothing is due.
    clock.advance(days=1)
    records.record_diary_entry(
        clinic.db,
        system_actor("test"),
        reachable,
        records.DiaryInput(local_date=clock.now.date(), answers={"average_pain": 3}),
        clock=clock,
    )
    assert send_due_reminders(settings, clinic.db, clock) == 0


@pytest.mark.parametrize("held", [False, True])
def test_a_dose_day_of_a_running_trial_adds_a_dose_reminder_unless_dosing_is_held(
    database_url: str,
    clinic: Clinic,
    clock: FixedClock,
    reachable: int,
    inbox: tuple[Inbox, int],
    held: bool,
) -> None:
    handler, port = inbox
    clinician = clinic.actors["clinician_sitea"]
    trial_id = clinic.running_trial(clock, reachable)
    plan = trial_views.trial_calendar(clinic.db, clinician, trial_id, clock=clock)
    dose_day = plan.dose_dates[0]
    clock.now = dt.datetime.combine(dose_day, dt.time(19, 30), tzinfo=dt.UTC)
    expected = ["MicroTrial: today's capsule check-in", "MicroTrial: today's diary"]
    if held:  # PHQ-9 item 9 above zero holds dosing until reviewed: no capsule reminder
        answers = {f"q{i}": 0 for i in range(1, 10)} | {"q9": 1}
        entry = DiaryInput(dose_day, answers, "phq9")
        records.record_diary_entry(clinic.db, clinician, reachable, entry, clock=clock)
        expected = expected[1:]
    assert send_due_reminders(settings_for(database_url, port), clinic.db, clock) == len(expected)
    assert sorted(m["Subject"] for m in handler.messages) == expected


def test_the_server_sends_due_reminders_in_the_background(
    database_url: str,
    clinic: Clinic,
    clock: FixedClock,
    reachable: int,
    inbox: tuple[Inbox, int],
) -> None:
    del clinic, reachable
    handler, port = inbox
    clock.now = dt.datetime(2026, 3, 2, 19, 30, tzinfo=dt.UTC)
    with LiveServer(create_app(settings_for(database_url, port), clock=clock)):
        deadline = time.monotonic() + 10
        while not handler.messages and time.monotonic() < deadline:
            time.sleep(0.05)
    assert [m["To"] for m in handler.messages] == ["a009@example.org"]
