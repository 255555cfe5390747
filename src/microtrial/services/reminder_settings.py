"""Reminders on the patient's terms: their times, channel and pause, and a private calendar feed.

The patient sets their own reminders; the patient themselves and their site's clinicians may read
them, and either may stop the calendar feed. The feed's address carries a random token of which
only the SHA-256 is stored: it is shown once, when made, and a new one ends the old. A patient
without settings keeps the installation's default (e-mail at ``MICROTRIAL_REMINDER_TIME`` when
their account has an address). Every read and change is audited; so is every feed fetch.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from microtrial import i18n
from microtrial.domain import lifecycle
from microtrial.domain.access import Action, authorize
from microtrial.domain.actors import Actor, system_actor
from microtrial.domain.lifecycle import TrialStatus
from microtrial.domain.regimens import guess_opens_on
from microtrial.errors import NotFound, ValidationError
from microtrial.i18n import N_
from microtrial.interop.ical import ReminderFeed, reminder_feed_to_ics
from microtrial.services.alerts import dose_holds
from microtrial.services.common import (
    Clock,
    audit_patient,
    check_version,
    patient_for,
    patient_today,
    system_clock,
)
from microtrial.services.schemas import ReadModel
from microtrial.services.trial_loaders import calendar_for
from microtrial.store.db import Database
from microtrial.store.models import (
    REMINDER_CHANNELS,
    PatientRow,
    ReminderSettingsRow,
    TrialRow,
    UserRow,
)

ENTITY = "reminder-settings"
FEED = "calendar-feed"
# A feed shows the latest trial the patient has started or is about to start.
FEED_STATUSES = tuple(s.value for s in lifecycle.STARTED | {TrialStatus.SCHEDULED})
# A token given by the caller (derived from the server's key) is at least as long as a random
# one: 32 bytes, URL-safe base64 without padding.
MIN_TOKEN_LENGTH = 43


class ReminderSettingsRead(ReadModel):
    """A patient's reminder settings as they stand (defaults until they first choose)."""

    patient_id: int
    diary_time: dt.time | None
    dose_time: dt.time | None
    channel: str
    paused: bool
    paused_at: dt.datetime | None
    feed_active: bool
    feed_created_at: dt.datetime | None
    state: str  # "on", "paused" or "off"
    channels: list[str]  # the channels this patient may choose now
    has_email: bool
    chosen: bool  # False: no choice made yet, the installation's default applies
    version: int  # 0 until the first choice; send it back in If-Match


class ReminderChoice(ReadModel):
    """What the patient chooses: both local times (None: none of that kind), channel, pause."""

    diary_time: dt.time | None
    dose_time: dt.time | None
    channel: str
    paused: bool


def token_hash(token: str) -> str:
    """The SHA-256 under which a feed token is stored and looked up."""
    return hashlib.sha256(token.encode()).hexdigest()


def state_of(row: ReminderSettingsRow | None, email: str | None) -> str:
    """``on``, ``paused`` or ``off`` for the settings (None: the default e-mail reminders)."""
    if row is None:
        return "on" if email else "off"
    if row.channel == "none" or (row.diary_time is None and row.dose_time is None):
        return "off"
    if row.channel == "calendar" and row.feed_token_hash is None:
        return "off"
    return "paused" if row.paused else "on"


def offered_channels(smtp_on: bool, email: str | None) -> list[str]:
    """The channels a patient may choose: e-mail only with SMTP set and an address on file."""
    return [c for c in REMINDER_CHANNELS if c != "email" or (smtp_on and email)]


def _email_of(session: Session, patient_id: int) -> str | None:
    return session.execute(
        select(UserRow.email).where(UserRow.patient_id == patient_id, UserRow.is_active.is_(True))
    ).scalar_one_or_none()


def _row(session: Session, patient_id: int) -> ReminderSettingsRow | None:
    return session.execute(
        select(ReminderSettingsRow).where(ReminderSettingsRow.patient_id == patient_id)
    ).scalar_one_or_none()


def _read(
    patient: PatientRow, row: ReminderSettingsRow | None, email: str | None, smtp_on: bool
) -> ReminderSettingsRead:
    channels = offered_channels(smtp_on, email)
    if row is None:
        return ReminderSettingsRead(
            patient_id=patient.id,
            diary_time=None,
            dose_time=None,
            channel="email" if email else "none",
            paused=False,
            paused_at=None,
            feed_active=False,
            feed_created_at=None,
            state=state_of(None, email),
            channels=channels,
            has_email=bool(email),
            chosen=False,
            version=0,
        )
    return ReminderSettingsRead(
        patient_id=patient.id,
        diary_time=row.diary_time,
        dose_time=row.dose_time,
        channel=row.channel,
        paused=row.paused,
        paused_at=row.paused_at,
        feed_active=row.feed_token_hash is not None,
        feed_created_at=row.feed_created_at,
        state=state_of(row, email),
        channels=channels,
        has_email=bool(email),
        chosen=True,
        version=row.version,
    )


def _patient(session: Session, actor: Actor, patient_id: int, action: Action) -> PatientRow:
    patient = patient_for(session, actor, patient_id)  # 404 outside the actor's reach first
    authorize(actor, action)
    return patient


def get_settings(
    db: Database, actor: Actor, patient_id: int, *, smtp_on: bool, clock: Clock = system_clock
) -> ReminderSettingsRead:
    """A patient's reminder settings (the patient or their site's clinicians); audited."""
    with db.transaction() as session:
        patient = _patient(session, actor, patient_id, Action.READ_REMINDERS)
        row = _row(session, patient.id)
        audit_patient(session, actor, "read", ENTITY, patient.id, patient, at=clock())
        return _read(patient, row, _email_of(session, patient.id), smtp_on)


def _check_choice(choice: ReminderChoice, channels: list[str]) -> None:
    if choice.channel not in channels:
        why = N_("is not offered")
        if choice.channel == "email":
            why = N_("needs the site's e-mail (SMTP) and an e-mail address on the account")
        raise ValidationError("channel", why, value=choice.channel, allowed=channels)


def _new_row(patient: PatientRow, actor: Actor, now: dt.datetime) -> ReminderSettingsRow:
    return ReminderSettingsRow(
        patient_id=patient.id,
        channel="none",
        paused=False,
        version=0,
        created_at=now,
        updated_at=now,
        updated_by=actor.label,
    )


def _touch(row: ReminderSettingsRow, actor: Actor, now: dt.datetime) -> None:
    row.version = (row.version or 0) + 1
    row.updated_at = now
    row.updated_by = actor.label


def update_settings(
    db: Database,
    actor: Actor,
    patient_id: int,
    choice: ReminderChoice,
    *,
    expected_version: int | None,
    smtp_on: bool,
    token: str | None = None,
    clock: Clock = system_clock,
) -> tuple[ReminderSettingsRead, str | None]:
    """Set the patient's own reminders; the new settings and, when the calendar channel was
    just chosen, the new feed token (shown once, never stored; ``token`` when given, else a
    random one). Audited with what changed."""
    now = clock()
    with db.transaction() as session:
        patient = _patient(session, actor, patient_id, Action.SET_REMINDERS)
        email = _email_of(session, patient.id)
        _check_choice(choice, offered_channels(smtp_on, email))
        row = _row(session, patient.id)
        check_version(expected_version, row.version if row is not None else 0)
        if row is None:
            row = _new_row(patient, actor, now)
            session.add(row)
        before = _snapshot(row)
        row.diary_time, row.dose_time = choice.diary_time, choice.dose_time
        if choice.paused != row.paused:
            row.paused_at = now if choice.paused else None
        row.paused, row.channel = choice.paused, choice.channel
        made = None
        if choice.channel == "calendar" and row.feed_token_hash is None:
            made = _new_token(row, now, token)
        elif choice.channel != "calendar":
            row.feed_token_hash = row.feed_created_at = None
        _touch(row, actor, now)
        session.flush()
        changed = {k: v for k, v in _snapshot(row).items() if before.get(k) != v}
        detail: dict[str, Any] = {"changed": changed, "version": row.version}
        audit_patient(session, actor, "update", ENTITY, patient.id, patient, at=now, **detail)
        return _read(patient, row, email, smtp_on), made


def _snapshot(row: ReminderSettingsRow) -> dict[str, Any]:
    times = {k: getattr(row, k) for k in ("diary_time", "dose_time")}
    return {
        **{k: v.strftime("%H:%M") if v is not None else None for k, v in times.items()},
        "channel": row.channel,
        "paused": row.paused,
        "feed": row.feed_token_hash is not None,
    }


def _new_token(row: ReminderSettingsRow, now: dt.datetime, token: str | None = None) -> str:
    if token is not None and len(token) < MIN_TOKEN_LENGTH:
        raise ValueError("a calendar feed token needs at least 256 bits")
    token = token or secrets.token_urlsafe(32)
    row.feed_token_hash = token_hash(token)
    row.feed_created_at = now
    return token


def new_feed(
    db: Database,
    actor: Actor,
    patient_id: int,
    *,
    smtp_on: bool,
    token: str | None = None,
    clock: Clock = system_clock,
) -> tuple[ReminderSettingsRead, str]:
    """A new calendar feed address for the patient (the old one stops working); its token
    (``token`` when given, else a random one)."""
    now = clock()
    with db.transaction() as session:
        patient = _patient(session, actor, patient_id, Action.SET_REMINDERS)
        row = _row(session, patient.id)
        if row is None:
            row = _new_row(patient, actor, now)
            session.add(row)
        replaced = row.feed_token_hash is not None
        row.channel = "calendar"
        token = _new_token(row, now, token)
        _touch(row, actor, now)
        session.flush()
        action = "regenerate" if replaced else "create"
        audit_patient(session, actor, action, FEED, patient.id, patient, at=now)
        email = _email_of(session, patient.id)
        return _read(patient, row, email, smtp_on), token


def opens_feed(db: Database, actor: Actor, patient_id: int, token: str) -> bool:
    """Whether ``token`` opens the patient's calendar feed now (a replayed request asks this
    before it answers with the feed the first one made)."""
    with db.transaction() as session:
        patient = _patient(session, actor, patient_id, Action.READ_REMINDERS)
        row = _row(session, patient.id)
        return (
            row is not None
            and row.channel == "calendar"
            and row.feed_token_hash == token_hash(token)
        )


def stop_feed(
    db: Database, actor: Actor, patient_id: int, *, smtp_on: bool, clock: Clock = system_clock
) -> ReminderSettingsRead:
    """Stop the patient's calendar feed (the patient or their clinician): its address answers
    404 from now on. Stopping a feed that is not there changes nothing but is still audited."""
    now = clock()
    with db.transaction() as session:
        patient = _patient(session, actor, patient_id, Action.STOP_REMINDER_FEED)
        row = _row(session, patient.id)
        had = row is not None and row.feed_token_hash is not None
        if row is not None and had:
            row.feed_token_hash = row.feed_created_at = None
            _touch(row, actor, now)
            session.flush()
        audit_patient(session, actor, "revoke", FEED, patient.id, patient, at=now, stopped=had)
        return _read(patient, row, _email_of(session, patient.id), smtp_on)


def feed_text(db: Database, token: str, *, clock: Clock = system_clock) -> str:
    """The calendar feed a token opens, as ``.ics`` text; NotFound for an unknown or stopped
    token. Each fetch is audited under the patient (by the feed, not a signed-in user)."""
    now = clock()
    with db.transaction() as session:
        wanted = ReminderSettingsRow.feed_token_hash == token_hash(token)
        row = session.execute(select(ReminderSettingsRow).where(wanted)).scalar_one_or_none()
        if row is None or row.channel != "calendar":
            raise NotFound("calendar: no such calendar")
        patient = session.get(PatientRow, row.patient_id)
        assert patient is not None  # a foreign key
        feed = _feed(session, patient, row, now)
        language = _language_of(session, patient.id)
        audit_patient(session, system_actor(FEED), "read", FEED, patient.id, patient, at=now)
    return reminder_feed_to_ics(feed, uid_prefix=f"mt{row.id}", generated_at=now, language=language)


def _language_of(session: Session, patient_id: int) -> str:
    """The language the patient chose for their pages (English when none)."""
    chosen = session.execute(
        select(UserRow.language).where(
            UserRow.patient_id == patient_id, UserRow.is_active.is_(True)
        )
    ).scalar_one_or_none()
    return chosen if chosen in i18n.LANGUAGES else i18n.DEFAULT


def _feed(
    session: Session, patient: PatientRow, row: ReminderSettingsRow, now: dt.datetime
) -> ReminderFeed:
    """Dates and times only: never an arm, kit code, period number or study code; no capsule
    day from today on while the patient must not take one."""
    trial = session.execute(
        select(TrialRow)
        .where(TrialRow.patient_id == patient.id, TrialRow.status.in_(FEED_STATUSES))
        .order_by(TrialRow.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    alarms = not row.paused
    if trial is None or trial.start_date is None:
        today = patient_today(patient, now)
        return ReminderFeed(
            tz=patient.time_zone, diary_from=today, diary_time=row.diary_time, alarms=alarms
        )
    calendar = calendar_for(session, trial, patient)
    period_ends: dict[int, dt.date] = {}
    for day in calendar.days:
        if day.period is not None:
            period_ends[day.period] = max(day.date, period_ends.get(day.period, day.date))
    guessing = trial.status in {s.value for s in lifecycle.GUESSING | {TrialStatus.SCHEDULED}}
    today = patient_today(patient, now)
    # The same holds as Today's notice: an open holding alert, or the trial paused.
    held = trial.status in {s.value for s in lifecycle.ACTIVE} and (
        trial.status == TrialStatus.PAUSED or bool(dose_holds(session, patient.id))
    )
    return ReminderFeed(
        tz=patient.time_zone,
        dose_dates=calendar.dose_dates,
        guess_dates=tuple(sorted(guess_opens_on(end) for end in period_ends.values()))
        if guessing
        else (),
        diary_from=calendar.first_date,
        diary_until=calendar.last_date,
        dose_time=row.dose_time,
        diary_time=row.diary_time,
        alarms=alarms,
        hold_from=today if held else None,
        hold_until=calendar.last_date if held else None,
    )


def reminder_states(session: Session, patient_ids: Iterable[int]) -> dict[int, str]:
    """``on``/``paused``/``off`` for several patients in one query (for lists; the caller has
    checked access and audits the list)."""
    wanted = sorted(set(patient_ids))
    if not wanted:
        return {}
    rows = session.execute(
        select(PatientRow.id, ReminderSettingsRow, UserRow.email)
        .outerjoin(ReminderSettingsRow, ReminderSettingsRow.patient_id == PatientRow.id)
        .outerjoin(UserRow, (UserRow.patient_id == PatientRow.id) & UserRow.is_active.is_(True))
        .where(PatientRow.id.in_(wanted))
    ).all()
    return {pid: state_of(row, email) for pid, row, email in rows}
