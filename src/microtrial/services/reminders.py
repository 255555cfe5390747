"""Diary and dose reminders due now, each claimed once across server workers."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from microtrial.domain.actors import system_actor
from microtrial.domain.lifecycle import TrialStatus
from microtrial.services.alerts import dose_holds
from microtrial.services.common import Clock, audit, system_clock
from microtrial.services.idempotency import claim_idempotency_key
from microtrial.services.schemas import ReadModel
from microtrial.services.trial_loaders import calendar_for
from microtrial.store.db import Database
from microtrial.store.models import (
    DiaryEntryRow,
    DoseEventRow,
    PatientRow,
    ReminderSettingsRow,
    TrialRow,
    UserRow,
)


class Reminder(ReadModel):
    """One reminder to send: to whom, what kind, for which local day (no clinical content)."""

    patient_id: int
    email: str
    kind: str  # "diary" or "dose"
    local_date: dt.date
    language: str | None = None  # the user's language for the e-mail (0018)


def due_reminders(
    db: Database, *, remind_at: dt.time, clock: Clock = system_clock
) -> list[Reminder]:
    """E-mail reminders due now: patients with an e-mail whose local time is past their
    reminder time and who have not yet saved today's diary (or, on a dose day of a running
    trial without an open dose hold, a dose).

    A patient who chose their own reminders (``services.reminder_settings``) gets e-mail only
    when their channel is ``email`` and they have not paused it, each kind after its own local
    time (none for a kind without a time); one who never chose gets both kinds after
    ``remind_at``, the installation's default.

    Each reminder is claimed once (an idempotency key per patient, kind and day), so that
    several server workers never send the same reminder twice. Audited as the reminder service.
    """
    actor = system_actor("reminders")
    now = clock()
    due: list[Reminder] = []
    with db.transaction() as session:
        users = session.execute(
            select(UserRow, PatientRow, ReminderSettingsRow)
            .join(PatientRow, PatientRow.id == UserRow.patient_id)
            .outerjoin(ReminderSettingsRow, ReminderSettingsRow.patient_id == PatientRow.id)
            .where(UserRow.is_active.is_(True), UserRow.email.is_not(None))
            .order_by(PatientRow.id)
        ).all()
        for user, patient, chosen in users:
            times = _times(chosen, remind_at)
            local = now.astimezone(ZoneInfo(patient.time_zone))
            wanted = {kind for kind, at in times.items() if local.time() >= at}
            if not wanted or not user.email:
                continue
            today = local.date()
            kinds = []
            diary = session.execute(
                select(DiaryEntryRow.id).where(
                    DiaryEntryRow.patient_id == patient.id,
                    DiaryEntryRow.instrument_id == "daily_diary",
                    DiaryEntryRow.local_date == today,
                    DiaryEntryRow.is_current.is_(True),
                )
            ).first()
            if diary is None and "diary" in wanted:
                kinds.append("diary")
            trial = (
                None
                if "dose" not in wanted
                else session.execute(
                    select(TrialRow).where(
                        TrialRow.patient_id == patient.id,
                        TrialRow.status == TrialStatus.RUNNING.value,
                    )
                ).scalar_one_or_none()
            )
            # No capsule reminder while a hold is open (Today and the feed say "do not take").
            if trial is not None and not dose_holds(session, patient.id):
                plan = calendar_for(session, trial, patient).on(today)
                dosed = session.execute(
                    select(DoseEventRow.id).where(
                        DoseEventRow.trial_id == trial.id,
                        DoseEventRow.local_date == today,
                        DoseEventRow.is_current.is_(True),
                    )
                ).first()
                if plan is not None and plan.is_dose_day and dosed is None:
                    kinds.append("dose")
            for kind in kinds:
                if _claim_reminder(session, patient.id, kind, today, now):
                    due.append(
                        Reminder(
                            patient_id=patient.id,
                            email=user.email,
                            kind=kind,
                            local_date=today,
                            language=user.language,
                        )
                    )
        for reminder in due:
            audit(
                session,
                actor,
                "remind",
                "reminder",
                reminder.kind,
                at=now,
                patient_id=reminder.patient_id,
                detail={"date": reminder.local_date.isoformat()},
            )
    return due


def _times(chosen: ReminderSettingsRow | None, default: dt.time) -> dict[str, dt.time]:
    """The local time of each e-mail reminder kind a patient gets (none: no e-mail)."""
    if chosen is None:
        return {"diary": default, "dose": default}
    if chosen.channel != "email" or chosen.paused:
        return {}
    times = {"diary": chosen.diary_time, "dose": chosen.dose_time}
    return {kind: at for kind, at in times.items() if at is not None}


def _claim_reminder(
    session: Session, patient_id: int, kind: str, day: dt.date, now: dt.datetime
) -> bool:
    key = f"{kind}:{patient_id}:{day.isoformat()}"
    payload = {"kind": kind, "patient": patient_id, "date": day.isoformat()}
    try:
        with session.begin_nested():
            earlier = claim_idempotency_key(session, "reminders", key, payload, "reminder", now)
            if earlier is None:
                session.flush()
    except IntegrityError:  # another worker claimed it at the same moment
        return False
    return earlier is None
