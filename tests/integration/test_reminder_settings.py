"""Reminders on the patient's terms (issue 21): settings, who may read and change them, the
private calendar feed (parsed with ``icalendar``; never an arm, before or after unblinding), its
revocation, the audit rows, and e-mail reminders following each patient's own choice."""

from __future__ import annotations

import datetime as dt
import hashlib
import re

import icalendar
import pytest
from sqlalchemy import select

from helpers import Clinic, FixedClock
from microtrial.errors import NotFound, PermissionDenied, StaleVersion, ValidationError
from microtrial.services import (
    reminder_settings,
    reminders,
    trial_lifecycle,
    trial_views,
)
from microtrial.services.reminder_settings import ReminderChoice
from microtrial.store.models import AuditEventRow, ReminderSettingsRow, UserRow

# Words that would reveal the allocation or identify the trial in someone's calendar.
FORBIDDEN = ("active", "placebo", "psilocybin", "lsd", "kit", "period", "arm", "a-001", "sitea")
CALENDAR = ReminderChoice(
    diary_time=dt.time(20, 30), dose_time=dt.time(8, 15), channel="calendar", paused=False
)


def parse(text: str) -> icalendar.Calendar:
    """The feed as a calendar; fails on anything that is not valid iCalendar."""
    return icalendar.Calendar.from_ical(text)


def assert_arm_free(text: str, codes: list[str]) -> None:
    """No allocation word (as a word: VALARM is no arm) and no kit code anywhere in the feed."""
    lower = text.lower()
    for word in FORBIDDEN:
        assert re.search(rf"\b{re.escape(word)}\b", lower) is None, f"{word!r} in the feed"
    for code in codes:
        assert code.lower() not in lower, f"kit code {code} in the feed"


def test_defaults_then_the_patients_own_choice(clinic: Clinic, clock: FixedClock) -> None:
    patient = clinic.actors["p_A-001"]
    pid = clinic.patients["A-001"].id
    first = reminder_settings.get_settings(clinic.db, patient, pid, smtp_on=True, clock=clock)
    assert (first.chosen, first.version, first.state) == (False, 0, "off")  # no e-mail on file
    assert first.channels == ["none", "calendar"]
    saved, token = reminder_settings.update_settings(
        clinic.db, patient, pid, CALENDAR, expected_version=0, smtp_on=True, clock=clock
    )
    assert token is not None
    assert len(token) >= 40
    assert (saved.state, saved.version, saved.feed_active) == ("on", 1, True)
    assert (saved.diary_time, saved.dose_time) == (dt.time(20, 30), dt.time(8, 15))
    with clinic.db.transaction() as session:
        row = session.execute(select(ReminderSettingsRow)).scalar_one()
        assert row.feed_token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert token not in repr(row.__dict__)
    with pytest.raises(StaleVersion):
        reminder_settings.update_settings(
            clinic.db, patient, pid, CALENDAR, expected_version=0, smtp_on=True, clock=clock
        )
    paused = CALENDAR.model_copy(update={"paused": True})
    again, none = reminder_settings.update_settings(
        clinic.db, patient, pid, paused, expected_version=1, smtp_on=True, clock=clock
    )
    assert none is None  # the feed is kept: no new link
    assert (again.state, again.paused, again.paused_at) == ("paused", True, clock())


def test_email_needs_smtp_and_an_address(clinic: Clinic, clock: FixedClock) -> None:
    patient = clinic.actors["p_A-001"]
    pid = clinic.patients["A-001"].id
    email = CALENDAR.model_copy(update={"channel": "email"})
    with pytest.raises(ValidationError) as refused:
        reminder_settings.update_settings(
            clinic.db, patient, pid, email, expected_version=0, smtp_on=True, clock=clock
        )
    assert refused.value.field == "channel"
    assert refused.value.allowed == "none, calendar"
    fax = CALENDAR.model_copy(update={"channel": "fax"})
    with pytest.raises(ValidationError, match="allowed: none, calendar"):
        reminder_settings.update_settings(
            clinic.db, patient, pid, fax, expected_version=0, smtp_on=False, clock=clock
        )


def test_who_may_read_set_and_stop(clinic: Clinic, clock: FixedClock) -> None:
    pid = clinic.patients["A-001"].id
    own, clinician = clinic.actors["p_A-001"], clinic.actors["clinician_sitea"]
    reminder_settings.update_settings(
        clinic.db, own, pid, CALENDAR, expected_version=0, smtp_on=False, clock=clock
    )
    seen = reminder_settings.get_settings(clinic.db, clinician, pid, smtp_on=False, clock=clock)
    assert seen.state == "on"
    for outsider in ("clinician_siteb", "p_B-001"):
        with pytest.raises(NotFound):
            reminder_settings.get_settings(
                clinic.db, clinic.actors[outsider], pid, smtp_on=False, clock=clock
            )
        with pytest.raises(NotFound):
            reminder_settings.stop_feed(
                clinic.db, clinic.actors[outsider], pid, smtp_on=False, clock=clock
            )
    with pytest.raises(PermissionDenied):  # the clinician sees, but never sets, them
        reminder_settings.update_settings(
            clinic.db, clinician, pid, CALENDAR, expected_version=1, smtp_on=False, clock=clock
        )
    with pytest.raises(PermissionDenied):
        reminder_settings.get_settings(
            clinic.db, clinic.actors["unblinded_staff_sitea"], pid, smtp_on=False, clock=clock
        )


def test_the_feed_has_no_arm_before_or_after_unblinding(clinic: Clinic, clock: FixedClock) -> None:
    pid = clinic.patients["A-001"].id
    trial_id = clinic.running_trial(clock, pid)
    plan = trial_views.trial_calendar(
        clinic.db, clinic.actors["clinician_sitea"], trial_id, clock=clock
    )
    codes = sorted({d.kit_code for d in plan.days if d.kit_code})
    assert codes
    _, token = reminder_settings.update_settings(
        clinic.db,
        clinic.actors["p_A-001"],
        pid,
        CALENDAR,
        expected_version=0,
        smtp_on=False,
        clock=clock,
    )
    assert token is not None
    before = reminder_settings.feed_text(clinic.db, token, clock=clock)
    calendar = parse(before)
    events = list(calendar.walk("VEVENT"))
    doses = [e for e in events if str(e["SUMMARY"]) == "Capsule day"]
    assert [e.decoded("DTSTART").date() for e in doses] == list(plan.dose_dates)
    first = doses[0].decoded("DTSTART")
    assert (first.hour, first.minute, str(first.tzinfo)) == (8, 15, "Europe/London")
    assert all(len(list(e.walk("VALARM"))) == 1 for e in doses)
    assert any(str(e["SUMMARY"]) == "MicroTrial: your guess" for e in events)
    [diary] = [e for e in events if str(e["SUMMARY"]) == "Daily diary"]
    assert diary.decoded("DTSTART").hour == 20
    assert "RRULE" in diary
    assert list(calendar.walk("VTIMEZONE"))
    assert_arm_free(before, codes)
    trial_lifecycle.unblind_trial(
        clinic.db, clinic.actors["clinician_sitea"], trial_id, "safety", clock=clock
    )
    after = reminder_settings.feed_text(clinic.db, token, clock=clock)
    assert list(parse(after).walk("VEVENT"))
    assert_arm_free(after, codes)


def test_pausing_keeps_the_days_but_silences_the_alarms(clinic: Clinic, clock: FixedClock) -> None:
    pid = clinic.patients["A-001"].id
    clinic.running_trial(clock, pid)
    own = clinic.actors["p_A-001"]
    _, token = reminder_settings.update_settings(
        clinic.db, own, pid, CALENDAR, expected_version=0, smtp_on=False, clock=clock
    )
    assert token is not None
    paused = CALENDAR.model_copy(update={"paused": True})
    reminder_settings.update_settings(
        clinic.db, own, pid, paused, expected_version=1, smtp_on=False, clock=clock
    )
    calendar = parse(reminder_settings.feed_text(clinic.db, token, clock=clock))
    assert list(calendar.walk("VEVENT"))
    assert list(calendar.walk("VALARM")) == []


def test_stopped_or_replaced_feeds_are_not_found_and_everything_is_audited(
    clinic: Clinic, clock: FixedClock
) -> None:
    pid = clinic.patients["A-001"].id
    own, clinician = clinic.actors["p_A-001"], clinic.actors["clinician_sitea"]
    _, first = reminder_settings.update_settings(
        clinic.db, own, pid, CALENDAR, expected_version=0, smtp_on=False, clock=clock
    )
    assert first is not None
    _, second = reminder_settings.new_feed(clinic.db, own, pid, smtp_on=False, clock=clock)
    with pytest.raises(NotFound):
        reminder_settings.feed_text(clinic.db, first, clock=clock)
    reminder_settings.feed_text(clinic.db, second, clock=clock)
    stopped = reminder_settings.stop_feed(clinic.db, clinician, pid, smtp_on=False, clock=clock)
    assert (stopped.feed_active, stopped.state) == (False, "off")
    with pytest.raises(NotFound):
        reminder_settings.feed_text(clinic.db, second, clock=clock)
    with pytest.raises(NotFound):
        reminder_settings.feed_text(clinic.db, "not-a-token", clock=clock)
    with clinic.db.transaction() as session:
        events = session.execute(
            select(AuditEventRow.actor, AuditEventRow.action, AuditEventRow.entity)
            .where(AuditEventRow.patient_id == pid)
            .where(AuditEventRow.entity.in_(("reminder-settings", "calendar-feed")))
            .order_by(AuditEventRow.id)
        ).all()
    assert [tuple(e) for e in events] == [
        ("p_A-001", "update", "reminder-settings"),
        ("p_A-001", "regenerate", "calendar-feed"),
        ("system:calendar-feed", "read", "calendar-feed"),  # a fetch, by the feed itself
        ("clinician_sitea", "revoke", "calendar-feed"),
    ]


def test_email_reminders_follow_each_patients_times_and_pause(
    clinic: Clinic, clock: FixedClock
) -> None:
    with clinic.db.transaction() as session:  # an address on file (set by the clinic)
        user = session.execute(select(UserRow).where(UserRow.username == "p_A-002")).scalar_one()
        user.email = "a002@example.org"
    pid = clinic.patients["A-002"].id
    own = clinic.actors["p_A-002"]
    default = dt.time(19, 0)
    clock.now = dt.datetime(2026, 3, 2, 7, 30, tzinfo=dt.UTC)  # 07:30 in London
    email = ReminderChoice(diary_time=dt.time(7, 0), dose_time=None, channel="email", paused=False)
    reminder_settings.update_settings(
        clinic.db, own, pid, email, expected_version=0, smtp_on=True, clock=clock
    )
    due = reminders.due_reminders(clinic.db, remind_at=default, clock=clock)
    assert [(r.patient_id, r.kind) for r in due] == [(pid, "diary")]  # its own 07:00, not 19:00
    clock.advance(days=1)
    paused = email.model_copy(update={"paused": True})
    reminder_settings.update_settings(
        clinic.db, own, pid, paused, expected_version=1, smtp_on=True, clock=clock
    )
    assert reminders.due_reminders(clinic.db, remind_at=default, clock=clock) == []
    calendar = email.model_copy(update={"channel": "calendar"})
    reminder_settings.update_settings(
        clinic.db, own, pid, calendar, expected_version=2, smtp_on=True, clock=clock
    )
    clock.now = clock.now.replace(hour=20)
    assert reminders.due_reminders(clinic.db, remind_at=default, clock=clock) == []
