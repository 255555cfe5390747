"""Use cases the API and web pages need beyond the core services: page views, optimistic
updates, idempotent creates and adverse-event listing. Every read of patient data is audited."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from microtrial.domain.actors import Actor, Role
from microtrial.errors import (
    ConflictError,
    NotFound,
    PermissionDenied,
    ValidationError,
)
from microtrial.services.common import (
    Clock,
    audit,
    current_records,
    current_version,
    patient_for,
    patient_today,
    require_role,
    system_clock,
)
from microtrial.services.patients import correct_record, enrol_patient
from microtrial.services.records import (
    AdverseEventRead,
    DiaryEntryRead,
    claim_idempotency_key,
)
from microtrial.services.schemas import PatientRead, ReadModel, RecordVersionRead
from microtrial.services.trials import DoseRead, GuessRead, calendar_for, load_trial
from microtrial.store.db import Database
from microtrial.store.models import (
    AdverseEventRow,
    AlertRow,
    BlindingGuessRow,
    DiaryEntryRow,
    DoseEventRow,
    IdempotencyKeyRow,
    PatientRow,
    PeriodRow,
    SiteRow,
    TrialRow,
    UserRow,
)

STAFF = {Role.CLINICIAN, Role.UNBLINDED_STAFF}
ADHERENCE_WINDOW_DAYS = 14
HISTORY_DAYS = 120


# --- optimistic updates -------------------------------------------------------------------


def correct_record_if_match(
    db: Database,
    actor: Actor,
    kind: str,
    record_id: str,
    expected_version: int,
    changes: dict[str, Any],
    reason: str,
    *,
    patient_id: int | None = None,
    clock: Clock = system_clock,
) -> RecordVersionRead:
    """Correct a record only if its current version is ``expected_version`` (else StaleVersion)."""
    return correct_record(
        db,
        actor,
        kind,
        record_id,
        changes,
        reason,
        expected_version=expected_version,
        patient_id=patient_id,
        clock=clock,
    )


# --- idempotent creates --------------------------------------------------------------------


def claim_create(
    db: Database,
    scope: str,
    key: str,
    payload: dict[str, Any],
    resource: str,
    *,
    clock: Clock = system_clock,
) -> str | None:
    """Claim an Idempotency-Key for a create; the earlier resource id when it is a replay.

    None means the key is now claimed and the caller must create, then ``complete_create`` (or
    ``release_create`` when creating failed). The same key with another body is a
    ValidationError; a key whose first request is still running is a ConflictError.
    """
    _check_key(key)
    try:
        with db.transaction() as session:
            earlier = claim_idempotency_key(session, scope, key, payload, resource, clock())
            if earlier is None:
                return None
            if earlier.resource != resource or not earlier.resource_id:
                raise ConflictError(
                    "Idempotency-Key: the first request with this key is still being processed"
                )
            return earlier.resource_id
    except IntegrityError as err:  # a concurrent first request won the race for the key
        raise ConflictError(
            "Idempotency-Key: the first request with this key is still being processed"
        ) from err


def complete_create(db: Database, scope: str, key: str, resource_id: str) -> None:
    """Record which resource a claimed key created."""
    with db.transaction() as session:
        session.execute(
            update(IdempotencyKeyRow)
            .where(IdempotencyKeyRow.scope == scope, IdempotencyKeyRow.key == key)
            .values(resource_id=resource_id)
        )


def release_create(db: Database, scope: str, key: str) -> None:
    """Give a claimed key back after the create failed, so that a corrected retry can use it."""
    with db.transaction() as session:
        session.execute(
            delete(IdempotencyKeyRow).where(
                IdempotencyKeyRow.scope == scope,
                IdempotencyKeyRow.key == key,
                IdempotencyKeyRow.resource_id == "",
            )
        )


def _check_key(key: str) -> None:
    if not 8 <= len(key) <= 120 or not key.isprintable():
        raise ValidationError(
            "Idempotency-Key", "malformed key", value=key, allowed="8-120 printable characters"
        )


# --- adverse events -------------------------------------------------------------------------


def list_adverse_events(
    db: Database, actor: Actor, patient_id: int, *, clock: Clock = system_clock
) -> list[AdverseEventRead]:
    """A patient's current adverse events, oldest first."""
    with db.transaction() as session:
        patient = patient_for(session, actor, patient_id)
        rows = current_records(session, AdverseEventRow, patient.id)
        result = [AdverseEventRead.model_validate(r) for r in rows]
        audit(
            session,
            actor,
            "list",
            "adverse_event",
            None,
            at=clock(),
            site_id=patient.site_id,
            patient_id=patient.id,
            detail={"count": len(result)},
        )
        return result


def get_adverse_event(
    db: Database, actor: Actor, patient_id: int, record_id: str, *, clock: Clock = system_clock
) -> AdverseEventRead:
    """One current adverse event of a patient (NotFound for another patient's)."""
    with db.transaction() as session:
        patient = patient_for(session, actor, patient_id)
        row = current_version(session, AdverseEventRow, record_id)
        if row.patient_id != patient.id:
            raise NotFound(f"record: no record {record_id}")
        audit(
            session,
            actor,
            "read",
            "adverse_event",
            record_id,
            at=clock(),
            site_id=patient.site_id,
            patient_id=patient.id,
        )
        return AdverseEventRead.model_validate(row)


# --- page views -----------------------------------------------------------------------------


class PatientHome(ReadModel):
    """What a patient's own pages show: today's local date, today's entries, pain history."""

    patient_id: int
    study_code: str
    time_zone: str
    local_date: dt.date
    done_today: list[str]
    today: list[DiaryEntryRead]
    pain_history: list[tuple[dt.date, float]]


def patient_home(db: Database, actor: Actor, *, clock: Clock = system_clock) -> PatientHome:
    """The signed-in patient's own view (PermissionDenied for anyone else)."""
    if actor.role is not Role.PATIENT or actor.patient_id is None:
        raise PermissionDenied("only a patient has a patient home page")
    now = clock()
    with db.transaction() as session:
        patient = patient_for(session, actor, actor.patient_id)
        today = patient_today(patient, now)
        since = today - dt.timedelta(days=HISTORY_DAYS)
        rows = list(
            session.execute(
                select(DiaryEntryRow)
                .where(
                    DiaryEntryRow.patient_id == patient.id,
                    DiaryEntryRow.is_current.is_(True),
                    DiaryEntryRow.local_date >= since,
                )
                .order_by(DiaryEntryRow.local_date, DiaryEntryRow.id)
            ).scalars()
        )
        todays = [DiaryEntryRead.model_validate(r) for r in rows if r.local_date == today]
        history = [
            (r.local_date, float(r.answers["average_pain"]))
            for r in rows
            if r.instrument_id == "daily_diary"
            and isinstance(r.answers.get("average_pain"), int | float)
        ]
        audit(
            session,
            actor,
            "read",
            "patient_home",
            patient.id,
            at=now,
            site_id=patient.site_id,
            patient_id=patient.id,
            detail={"entries": len(rows)},
        )
        return PatientHome(
            patient_id=patient.id,
            study_code=patient.study_code,
            time_zone=patient.time_zone,
            local_date=today,
            done_today=sorted({e.instrument_id for e in todays}),
            today=todays,
            pain_history=history,
        )


class PatientOverview(ReadModel):
    """One row of the clinician's patient list."""

    id: int
    study_code: str
    birth_year: int
    sex: str
    open_alerts: int
    urgent_alerts: int
    diary_days: int
    diary_window_days: int
    adherence: float
    last_entry: dt.date | None


def clinic_overview(
    db: Database, actor: Actor, *, clock: Clock = system_clock
) -> list[PatientOverview]:
    """The actor's site's patients with open-alert counts and diary adherence (last 14 days)."""
    require_role(actor, STAFF, "list patients")
    if actor.role is Role.SYSTEM:
        raise PermissionDenied("the patient list is for site staff")
    now = clock()
    with db.transaction() as session:
        patients = list(
            session.execute(
                select(PatientRow)
                .where(PatientRow.site_id == actor.site_id)
                .order_by(PatientRow.study_code)
            ).scalars()
        )
        ids = [p.id for p in patients]
        alerts = session.execute(
            select(AlertRow.patient_id, AlertRow.severity, func.count(AlertRow.id))
            .where(AlertRow.patient_id.in_(ids), AlertRow.acknowledged_at.is_(None))
            .group_by(AlertRow.patient_id, AlertRow.severity)
        ).all()
        open_alerts: Counter[int] = Counter()
        urgent: Counter[int] = Counter()
        for pid, severity, count in alerts:
            open_alerts[pid] += count
            if severity == "urgent":
                urgent[pid] += count
        earliest = now.date() - dt.timedelta(days=ADHERENCE_WINDOW_DAYS + 1)
        diary = session.execute(
            select(DiaryEntryRow.patient_id, DiaryEntryRow.local_date)
            .where(
                DiaryEntryRow.patient_id.in_(ids),
                DiaryEntryRow.instrument_id == "daily_diary",
                DiaryEntryRow.is_current.is_(True),
                DiaryEntryRow.local_date >= earliest,
            )
            .distinct()
        ).all()
        last = dict(
            session.execute(
                select(DiaryEntryRow.patient_id, func.max(DiaryEntryRow.local_date))
                .where(DiaryEntryRow.patient_id.in_(ids), DiaryEntryRow.is_current.is_(True))
                .group_by(DiaryEntryRow.patient_id)
            )
            .tuples()
            .all()
        )
        result = []
        for p in patients:
            today = patient_today(p, now)
            start = today - dt.timedelta(days=ADHERENCE_WINDOW_DAYS - 1)
            days = sum(1 for pid, day in diary if pid == p.id and start <= day <= today)
            result.append(
                PatientOverview(
                    id=p.id,
                    study_code=p.study_code,
                    birth_year=p.birth_year,
                    sex=p.sex,
                    open_alerts=open_alerts[p.id],
                    urgent_alerts=urgent[p.id],
                    diary_days=days,
                    diary_window_days=ADHERENCE_WINDOW_DAYS,
                    adherence=days / ADHERENCE_WINDOW_DAYS,
                    last_entry=last.get(p.id),
                )
            )
        audit(
            session,
            actor,
            "list",
            "patient",
            None,
            at=now,
            site_id=actor.site_id,
            detail={"patient_ids": ids, "view": "overview"},
        )
        return result


def enrol_at_own_site(
    db: Database,
    actor: Actor,
    *,
    study_code: str,
    birth_year: int,
    sex: str,
    time_zone: str,
    conditions: list[str],
    clock: Clock = system_clock,
) -> PatientRead:
    """Enrol a patient at the signed-in clinician's own site."""
    require_role(actor, {Role.CLINICIAN}, "enrol patients")
    with db.transaction() as session:
        site = session.get(SiteRow, actor.site_id) if actor.site_id is not None else None
        if site is None:
            raise PermissionDenied("this user belongs to no site")
        site_code = site.code
    return enrol_patient(
        db,
        actor,
        site_code=site_code,
        study_code=study_code,
        birth_year=birth_year,
        sex=sex,
        time_zone=time_zone,
        conditions=conditions,
        clock=clock,
    )


# --- doses and guesses of a trial -------------------------------------------------------------


def list_doses(
    db: Database, actor: Actor, trial_id: int, *, clock: Clock = system_clock
) -> list[DoseRead]:
    """A trial's recorded doses (current versions), oldest first."""
    with db.transaction() as session:
        trial, patient = load_trial(session, actor, trial_id)
        rows = session.execute(
            select(DoseEventRow)
            .where(DoseEventRow.trial_id == trial.id, DoseEventRow.is_current.is_(True))
            .order_by(DoseEventRow.id)
        ).scalars()
        result = [DoseRead.model_validate(r) for r in rows]
        audit(
            session,
            actor,
            "list",
            "dose",
            None,
            at=clock(),
            site_id=patient.site_id,
            patient_id=patient.id,
            detail={"trial": trial.id, "count": len(result)},
        )
        return result


def get_dose(
    db: Database, actor: Actor, trial_id: int, record_id: str, *, clock: Clock = system_clock
) -> DoseRead:
    """One recorded dose of a trial."""
    with db.transaction() as session:
        trial, patient = load_trial(session, actor, trial_id)
        row = current_version(session, DoseEventRow, record_id)
        if row.trial_id != trial.id:
            raise NotFound(f"record: no record {record_id}")
        audit(
            session,
            actor,
            "read",
            "dose",
            record_id,
            at=clock(),
            site_id=patient.site_id,
            patient_id=patient.id,
        )
        return DoseRead.model_validate(row)


class GuessView(GuessRead):
    """A period guess with the period's number."""

    period: int


def list_guesses(
    db: Database, actor: Actor, trial_id: int, *, clock: Clock = system_clock
) -> list[GuessView]:
    """A trial's period guesses (current versions), by period."""
    with db.transaction() as session:
        trial, patient = load_trial(session, actor, trial_id)
        rows = session.execute(
            select(BlindingGuessRow, PeriodRow.number)
            .join(PeriodRow, PeriodRow.id == BlindingGuessRow.period_id)
            .where(BlindingGuessRow.trial_id == trial.id, BlindingGuessRow.is_current.is_(True))
            .order_by(PeriodRow.number)
        ).all()
        result = [
            GuessView.model_validate(
                {**GuessRead.model_validate(row).model_dump(), "period": number}
            )
            for row, number in rows
        ]
        audit(
            session,
            actor,
            "list",
            "guess",
            None,
            at=clock(),
            site_id=patient.site_id,
            patient_id=patient.id,
            detail={"trial": trial.id, "count": len(result)},
        )
        return result


# --- administration -------------------------------------------------------------------------


class UserSummary(ReadModel):
    """A user as the admin pages list them (no password hash, no patient identity)."""

    id: int
    username: str
    role: str
    site_code: str | None
    is_active: bool
    linked_to_patient: bool


def list_users(db: Database, actor: Actor, *, clock: Clock = system_clock) -> list[UserSummary]:
    """Every user, by site and username (administrators only)."""
    require_role(actor, {Role.ADMIN}, "list users")
    with db.transaction() as session:
        rows = session.execute(
            select(UserRow, SiteRow.code)
            .join(SiteRow, SiteRow.id == UserRow.site_id, isouter=True)
            .order_by(SiteRow.code, UserRow.username)
        ).all()
        result = [
            UserSummary(
                id=user.id,
                username=user.username,
                role=user.role,
                site_code=code,
                is_active=user.is_active,
                linked_to_patient=user.patient_id is not None,
            )
            for user, code in rows
        ]
        audit(session, actor, "list", "user", None, at=clock(), detail={"count": len(result)})
        return result


# --- reminders --------------------------------------------------------------------------------


class Reminder(ReadModel):
    """One reminder to send: to whom, what kind, for which local day (no clinical content)."""

    patient_id: int
    email: str
    kind: str  # "diary" or "dose"
    local_date: dt.date


def due_reminders(
    db: Database, *, remind_at: dt.time, clock: Clock = system_clock
) -> list[Reminder]:
    """Reminders due now: patients with an e-mail whose local time is past ``remind_at`` and
    who have not yet saved today's diary (or, on a dose day of a running trial, a dose).

    Each reminder is claimed once (an idempotency key per patient, kind and day), so that
    several server workers never send the same reminder twice. Audited as the reminder service.
    """
    actor = Actor(role=Role.SYSTEM, username="reminders")
    now = clock()
    due: list[Reminder] = []
    with db.transaction() as session:
        users = session.execute(
            select(UserRow, PatientRow)
            .join(PatientRow, PatientRow.id == UserRow.patient_id)
            .where(UserRow.is_active.is_(True), UserRow.email.is_not(None))
            .order_by(PatientRow.id)
        ).all()
        for user, patient in users:
            local = now.astimezone(ZoneInfo(patient.time_zone))
            if local.time() < remind_at or not user.email:
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
            if diary is None:
                kinds.append("diary")
            trial = session.execute(
                select(TrialRow).where(
                    TrialRow.patient_id == patient.id, TrialRow.status == "running"
                )
            ).scalar_one_or_none()
            if trial is not None:
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
                            patient_id=patient.id, email=user.email, kind=kind, local_date=today
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
