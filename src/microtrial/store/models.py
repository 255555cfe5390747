"""SQLAlchemy 2 models. ORM classes end in ``Row``; clinical records are versioned, never updated.

A clinical record (condition, medication, history answer, diary entry, dose, adverse event,
screening result) is a chain of rows sharing ``record_id``: a correction inserts the next
``version`` with who, when and why, and clears ``is_current`` on the one it replaces.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    Time,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

from microtrial.domain.lifecycle import TrialStatus
from microtrial.store.types import UTCDateTime

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ROLES = ("admin", "clinician", "unblinded_staff", "researcher", "patient")
SEXES = ("female", "male", "other")
# The CHECK constraint lists them in the enum's order (unchanged since the first migration).
TRIAL_STATUSES = tuple(s.value for s in TrialStatus)


def _in(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({quoted})"


class Base(DeclarativeBase):
    """Declarative base with stable constraint names for Alembic on both engines."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: dict[Any, Any] = {  # noqa: RUF012 - SQLAlchemy's documented hook
        dt.datetime: UTCDateTime(),
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


class VersionedMixin:
    """Columns of a versioned clinical record."""

    record_id: Mapped[str] = mapped_column(String(36), index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    is_current: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    recorded_at: Mapped[dt.datetime]
    recorded_by: Mapped[str] = mapped_column(String(120))
    recorded_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    change_reason: Mapped[str | None] = mapped_column(Text)

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Any, ...]:
        return (UniqueConstraint("record_id", "version", name=f"uq_{cls.__tablename__}_version"),)  # type: ignore[attr-defined]


class SiteRow(Base):
    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime]
    # Hours an urgent alert may stay unacknowledged before it is escalated (None: 24).
    escalate_after_hours: Mapped[int | None] = mapped_column(Integer)
    # How many days back a diary entry may be dated; NULL: the default window (migration 0006).
    backfill_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Crisis lines shown to the site's patients ([{"label", "number"}]; None: the default set).
    crisis_contacts: Mapped[list[Any] | None]


class UserRow(Base):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint(_in("role", ROLES), name="role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    # The username in lower case, unique: ``Dr.Demo`` and ``dr.demo`` are one name (0012).
    username_key: Mapped[str] = mapped_column(String(80), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"), index=True)
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id"), unique=True)
    email: Mapped[str | None] = mapped_column(String(254))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime]
    # Raised by sign-out, password and role changes, deactivation: every session cookie and API
    # token carries the version it was issued under and stops working when it is raised.
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The language the user reads the app in (0018); None: the browser's choice.
    language: Mapped[str | None] = mapped_column(String(8))


class PatientRow(Base):
    __tablename__ = "patients"
    __table_args__ = (
        UniqueConstraint("site_id", "study_code", name="uq_patients_site_code"),
        CheckConstraint(_in("sex", SEXES), name="sex"),
        Index("ix_patients_site_created", "site_id", "created_at"),  # migration 0015
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    study_code: Mapped[str] = mapped_column(String(40))
    birth_year: Mapped[int] = mapped_column(Integer)
    sex: Mapped[str] = mapped_column(String(10))
    time_zone: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime]


class ConditionRow(VersionedMixin, Base):
    __tablename__ = "patient_conditions"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    icd10_code: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(12), default="active")


class MedicationRow(VersionedMixin, Base):
    __tablename__ = "medications"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    name_as_entered: Mapped[str] = mapped_column(String(200))
    ingredient: Mapped[str | None] = mapped_column(String(120))
    drug_class: Mapped[str | None] = mapped_column(String(120))
    status: Mapped[str] = mapped_column(String(12), default="active")
    end_date: Mapped[dt.date | None] = mapped_column(Date)  # when it was stopped (0011)


class HistoryFlagRow(VersionedMixin, Base):
    __tablename__ = "history_flags"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    flag: Mapped[str] = mapped_column(String(60))
    value: Mapped[bool | None] = mapped_column(Boolean)


class ProtocolRow(Base):
    __tablename__ = "protocols"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    substance: Mapped[str] = mapped_column(String(20))
    regimen: Mapped[dict[str, Any]]
    design: Mapped[dict[str, Any]]
    created_at: Mapped[dt.datetime]


class TrialRow(Base):
    __tablename__ = "trials"
    __table_args__ = (
        CheckConstraint(_in("status", TRIAL_STATUSES), name="status"),
        Index("ix_trials_status_patient", "status", "patient_id"),  # migration 0015
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    protocol_id: Mapped[int | None] = mapped_column(ForeignKey("protocols.id"))
    status: Mapped[str] = mapped_column(String(12), default="draft")
    start_date: Mapped[dt.date | None] = mapped_column(Date)
    plan: Mapped[dict[str, Any]]
    lock_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime]
    unblinded_at: Mapped[dt.datetime | None]
    unblind_reason: Mapped[str | None] = mapped_column(Text)
    unblinded_early: Mapped[bool] = mapped_column(Boolean, default=False)
    status_reason: Mapped[str | None] = mapped_column(Text)
    # Adaptive trials: the last pair whose kits the pharmacy must have ready now (kept beside
    # the looks so the pharmacy list can count needed kits in SQL; None: a fixed design, all).
    kits_through_pair: Mapped[int | None] = mapped_column(Integer)  # migration 0016
    # Raised in the flush of any change to the trial's analysis inputs (store.data_stamps), so
    # that a reader can tell which trials changed since it looked (migration 0020).
    data_stamp: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class PeriodRow(Base):
    __tablename__ = "periods"
    __table_args__ = (UniqueConstraint("trial_id", "number", name="uq_periods_trial_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    block: Mapped[int] = mapped_column(Integer)
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date] = mapped_column(Date)
    washin_days: Mapped[int] = mapped_column(Integer)


class AllocationRow(Base):
    """The concealed allocation: seed and arm sequence. Only unblinded staff may read it."""

    __tablename__ = "allocations"

    id: Mapped[int] = mapped_column(primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id"), unique=True)
    seed: Mapped[int] = mapped_column(BigInteger)
    sequence: Mapped[list[Any]]
    max_run_length: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime]


class AllocationAnnotationRow(Base):
    """A note on a locked allocation: the allocation itself is never changed once used."""

    __tablename__ = "allocation_annotations"

    id: Mapped[int] = mapped_column(primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id"), index=True)
    note: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime]
    created_by: Mapped[str] = mapped_column(String(120))


class KitRow(Base):
    __tablename__ = "kits"

    id: Mapped[int] = mapped_column(primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id"), index=True)
    period_id: Mapped[int] = mapped_column(ForeignKey("periods.id"), unique=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    prepared_at: Mapped[dt.datetime | None]
    prepared_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # Who prepared and dispensed the kit, when, and how many capsules (migration 0011).
    prepared_by: Mapped[str | None] = mapped_column(String(120))
    prepared_capsules: Mapped[int | None] = mapped_column(Integer)
    dispensed_at: Mapped[dt.datetime | None]
    dispensed_by: Mapped[str | None] = mapped_column(String(120))
    dispensed_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    dispensed_capsules: Mapped[int | None] = mapped_column(Integer)
    # An adaptive trial's kit left unused when the trial stopped early (migration 0016).
    returned_at: Mapped[dt.datetime | None]
    returned_by: Mapped[str | None] = mapped_column(String(120))


class DoseEventRow(VersionedMixin, Base):
    __tablename__ = "dose_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    trial_id: Mapped[int | None] = mapped_column(ForeignKey("trials.id"), index=True)
    local_date: Mapped[dt.date] = mapped_column(Date)
    taken_at: Mapped[dt.datetime | None]
    kit_code: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(12), default="taken")
    # The protocol deviations it was reported with (comma-separated alert codes), if any.
    deviation: Mapped[str | None] = mapped_column(String(200))


class DiaryEntryRow(VersionedMixin, Base):
    __tablename__ = "diary_entries"
    # One current entry per patient, instrument and day, even under concurrent submissions.
    __table_args__ = (
        UniqueConstraint("record_id", "version", name="uq_diary_entries_version"),
        Index(
            "uq_diary_entries_current_day",
            "patient_id",
            "instrument_id",
            "local_date",
            unique=True,
            sqlite_where=text("is_current"),
            postgresql_where=text("is_current"),
        ),
        Index("ix_diary_entries_patient_date", "patient_id", "local_date"),  # migration 0015
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    trial_id: Mapped[int | None] = mapped_column(ForeignKey("trials.id"), index=True)
    instrument_id: Mapped[str] = mapped_column(String(60))
    local_date: Mapped[dt.date] = mapped_column(Date, index=True)
    answers: Mapped[dict[str, Any]]
    scores: Mapped[dict[str, Any]]
    submitted_at: Mapped[dt.datetime]
    # The patient's short free-text note for the day (daily diary only; migration 0010).
    note: Mapped[str | None] = mapped_column(Text)


class AdverseEventRow(VersionedMixin, Base):
    __tablename__ = "adverse_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    trial_id: Mapped[int | None] = mapped_column(ForeignKey("trials.id"), index=True)
    term: Mapped[str] = mapped_column(String(120))
    grade: Mapped[int] = mapped_column(Integer)
    serious: Mapped[bool] = mapped_column(Boolean, default=False)
    onset_date: Mapped[dt.date] = mapped_column(Date)
    resolved_date: Mapped[dt.date | None] = mapped_column(Date)
    # Who reported it ("patient report" from the checklist, or "clinician"), where its review
    # stands, how it ended, and the checklist item a patient report was raised for (migration 0008).
    source: Mapped[str] = mapped_column(String(24), default="clinician", server_default="clinician")
    status: Mapped[str] = mapped_column(String(24), default="confirmed", server_default="confirmed")
    outcome: Mapped[str | None] = mapped_column(String(40))
    symptom: Mapped[str | None] = mapped_column(String(60))


class HeadacheAttackRow(VersionedMixin, Base):
    """One migraine or cluster attack (start, end, severity, acute medication); migration 0010.

    Each attack also updates its day's entry of the instrument it belongs to (``instrument_id``).
    """

    __tablename__ = "headache_attacks"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    trial_id: Mapped[int | None] = mapped_column(ForeignKey("trials.id"), index=True)
    instrument_id: Mapped[str] = mapped_column(String(60))
    local_date: Mapped[dt.date] = mapped_column(Date)
    started_at: Mapped[dt.datetime]
    ended_at: Mapped[dt.datetime | None]
    severity: Mapped[int] = mapped_column(Integer)
    medication_items: Mapped[list[Any]]
    medication: Mapped[str | None] = mapped_column(String(200))


class BlindingGuessRow(VersionedMixin, Base):
    __tablename__ = "blinding_guesses"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id"), index=True)
    period_id: Mapped[int] = mapped_column(ForeignKey("periods.id"))
    guess: Mapped[str] = mapped_column(String(12))
    confidence: Mapped[int | None] = mapped_column(Integer)


class ScreeningResultRow(VersionedMixin, Base):
    __tablename__ = "screening_results"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    substance: Mapped[str] = mapped_column(String(20))
    decision: Mapped[str] = mapped_column(String(20))
    findings: Mapped[list[Any]]
    catalog_version: Mapped[str] = mapped_column(String(200))
    signed_off_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    signed_off_by: Mapped[str | None] = mapped_column(String(120))
    signed_off_at: Mapped[dt.datetime | None]
    sign_off_reason: Mapped[str | None] = mapped_column(Text)


class AlertRow(Base):
    __tablename__ = "alerts"
    # The paged alert lists: a site's (or a patient's) open alerts, newest first (migration 0015).
    __table_args__ = (
        Index("ix_alerts_site_open", "site_id", "acknowledged_at", "id"),
        Index("ix_alerts_patient_open", "patient_id", "acknowledged_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    trial_id: Mapped[int | None] = mapped_column(ForeignKey("trials.id"))
    code: Mapped[str] = mapped_column(String(60))
    severity: Mapped[str] = mapped_column(String(12))
    action: Mapped[str] = mapped_column(String(20))
    message: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text)
    trigger: Mapped[dict[str, Any]]
    created_at: Mapped[dt.datetime]
    acknowledged_at: Mapped[dt.datetime | None]
    acknowledged_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    acknowledged_by: Mapped[str | None] = mapped_column(String(120))
    acknowledgement_note: Mapped[str | None] = mapped_column(Text)
    escalated_at: Mapped[dt.datetime | None]


LOOK_DECISIONS = ("continue", "stop-benefit", "stop-futility", "maximum-reached")


class InterimLookRow(Base):
    """One interim look of an adaptive trial after a complete pair: its inputs and decision.

    Holds interim estimates: read only for the report after unblinding (migration 0016).
    """

    __tablename__ = "interim_looks"
    __table_args__ = (
        UniqueConstraint("trial_id", "pair", name="uq_interim_looks_trial_pair"),
        CheckConstraint(_in("decision", LOOK_DECISIONS), name="decision"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id"), index=True)
    pair: Mapped[int] = mapped_column(Integer)
    looked_at: Mapped[dt.datetime]
    through_date: Mapped[dt.date] = mapped_column(Date)
    outcome: Mapped[str] = mapped_column(String(20))
    decision: Mapped[str] = mapped_column(String(16))
    p_mcid: Mapped[float | None] = mapped_column(Float)
    effect_mean: Mapped[float | None] = mapped_column(Float)
    ci95_low: Mapped[float | None] = mapped_column(Float)
    ci95_high: Mapped[float | None] = mapped_column(Float)
    days_active: Mapped[int] = mapped_column(Integer)
    days_placebo: Mapped[int] = mapped_column(Integer)
    inputs: Mapped[dict[str, Any]]


class SweepRunRow(Base):
    """One site's daily alert sweep, claimed so that several workers run it once a day."""

    __tablename__ = "sweep_runs"
    __table_args__ = (UniqueConstraint("site_id", "day", name="uq_sweep_runs_site_day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    day: Mapped[dt.date] = mapped_column(Date)
    started_at: Mapped[dt.datetime]
    raised: Mapped[int] = mapped_column(Integer, default=0)
    escalated: Mapped[int] = mapped_column(Integer, default=0)


class IdempotencyKeyRow(Base):
    """A client-generated key, so that a retried submission lands exactly once."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("scope", "key", name="uq_idempotency_scope_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(120))
    key: Mapped[str] = mapped_column(String(120))
    request_hash: Mapped[str] = mapped_column(String(64))
    resource: Mapped[str] = mapped_column(String(60))
    resource_id: Mapped[str] = mapped_column(String(60))
    created_at: Mapped[dt.datetime]


class PasswordResetRow(Base):
    """A single-use password-reset link: only the token's SHA-256 is stored (migration 0010)."""

    __tablename__ = "password_resets"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None]


class LoginFailureRow(Base):
    """A failed sign-in, kept for the throttle's window so that every worker sees it."""

    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_key_at", "key", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200))  # user:NAME or client:ADDRESS
    at: Mapped[dt.datetime]


class AuditEventRow(Base):
    """One read or write of patient data (or an administrative action); append-only."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_patient_at", "patient_id", "at"),
        Index("ix_audit_events_stream_id", "stream", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # The chain this event belongs to: one per patient, one per site, one for the rest.
    stream: Mapped[str] = mapped_column(String(40), server_default="global")
    at: Mapped[dt.datetime]
    actor: Mapped[str] = mapped_column(String(120))
    actor_user_id: Mapped[int | None] = mapped_column(Integer)
    actor_role: Mapped[str] = mapped_column(String(20))
    site_id: Mapped[int | None] = mapped_column(Integer, index=True)
    patient_id: Mapped[int | None] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(40))
    entity: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[str | None] = mapped_column(String(60))
    detail: Mapped[dict[str, Any]]
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditStreamRow(Base):
    """The newest hash and event count of one audit stream; locked to serialise that chain."""

    __tablename__ = "audit_streams"

    stream: Mapped[str] = mapped_column(String(40), primary_key=True)
    last_hash: Mapped[str] = mapped_column(String(64))
    count: Mapped[int] = mapped_column(BigInteger, default=0)


class TrialFitRow(Base):
    """One unblinded trial's stored fit: what the cohort reads, and from which data it came.

    Not a clinical record: it is derived, replaced whole by each refresh
    (``services.trial_fits``), and stale when the trial's current data version differs.
    """

    __tablename__ = "trial_fits"

    id: Mapped[int] = mapped_column(primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id"), unique=True)
    data_version: Mapped[str] = mapped_column(String(64))
    computed_at: Mapped[dt.datetime]
    condition_group: Mapped[str | None] = mapped_column(String(40))
    unblinded_early: Mapped[bool] = mapped_column(Boolean, default=False)
    # The engine's rows per outcome, the blinding guesses and the descriptive counts (JSON).
    results: Mapped[list[Any]]
    guesses: Mapped[list[Any]]
    counts: Mapped[dict[str, Any]]
    warnings: Mapped[list[Any]]


REMINDER_CHANNELS = ("none", "email", "calendar")


class ReminderSettingsRow(Base):
    """A patient's own reminder settings: local times, channel, pause, calendar feed (0017).

    The feed's token is never stored: only its SHA-256, so a database copy opens no feed.
    """

    __tablename__ = "reminder_settings"
    __table_args__ = (CheckConstraint(_in("channel", REMINDER_CHANNELS), name="channel"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), unique=True)
    # Wall-clock times in the patient's own time zone; None: no reminder of that kind.
    diary_time: Mapped[dt.time | None] = mapped_column(Time)
    dose_time: Mapped[dt.time | None] = mapped_column(Time)
    channel: Mapped[str] = mapped_column(String(10), default="none")
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    paused_at: Mapped[dt.datetime | None]
    feed_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    feed_created_at: Mapped[dt.datetime | None]
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]
    updated_by: Mapped[str] = mapped_column(String(120))


class CohortResultRow(Base):
    """The pooled, descriptive and blinding results of one cohort view, computed at refresh.

    One row per scope (``site_id``: one site's trials; NULL: every site's) and condition group
    (``condition_group``: "" for every group), as the research page and the cohort report ask
    for them. Derived, not a clinical record: replaced whole by ``services.cohort_store`` when
    the stored fits of its trials change; ``trial_versions`` lists the trials it pooled, in
    label order, with the data version of each fit, so that a read can say what changed since.
    """

    __tablename__ = "cohort_results"
    __table_args__ = (
        UniqueConstraint("site_id", "condition_group", name="uq_cohort_results_view"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"))
    condition_group: Mapped[str] = mapped_column(String(40), default="")
    computed_at: Mapped[dt.datetime]
    fits_version: Mapped[str] = mapped_column(String(64))
    trial_versions: Mapped[list[Any]]  # [[trial_id, data_version], ...] in label order
    payload: Mapped[dict[str, Any]]  # the cohort's tables (services.cohort_store)
    # What the last refresh saw of the scope's unblinded trials (migration 0020): each trial's
    # data stamp and which were stale then, so a read checks only the trials changed since.
    checked: Mapped[dict[str, Any] | None]
