"""Pieces every service shares: the clock, audit writing, access scoping, versioning."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import Select, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from microtrial.domain.access import (
    Action,
    Scope,
    allows,
    authorize,
    scope_of,
    sees_patient,
    sees_site,
)
from microtrial.domain.actors import Actor
from microtrial.domain.inputs import require_text
from microtrial.errors import NotFound, OutOfScope, PermissionDenied, StaleVersion, ValidationError
from microtrial.store.audit import append_event
from microtrial.store.models import (
    AuditEventRow,
    DiaryEntryRow,
    PatientRow,
    SiteRow,
    VersionedMixin,
)

Clock = Callable[[], dt.datetime]


def system_clock() -> dt.datetime:
    """The current time in UTC."""
    return dt.datetime.now(dt.UTC)


def patient_today(patient: PatientRow, now: dt.datetime) -> dt.date:
    """The patient's local calendar date at ``now``."""
    return now.astimezone(ZoneInfo(patient.time_zone)).date()


def audit(
    session: Session,
    actor: Actor,
    action: str,
    entity: str,
    entity_id: object = None,
    *,
    at: dt.datetime,
    site_id: int | None = None,
    patient_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Write one audit event in the caller's transaction."""
    append_event(
        session,
        AuditEventRow(
            at=at,
            actor=actor.label,
            actor_user_id=actor.user_id,
            actor_role=actor.role.value,
            site_id=site_id,
            patient_id=patient_id,
            action=action,
            entity=entity,
            entity_id=None if entity_id is None else str(entity_id),
            detail=detail or {},
        ),
    )


def audit_patient(
    session: Session,
    actor: Actor,
    action: str,
    entity: str,
    entity_id: object,
    patient: PatientRow,
    /,
    *,
    at: dt.datetime,
    **detail: Any,
) -> None:
    """Write one audit event about a patient's data, filed under the patient and their site."""
    audit(
        session,
        actor,
        action,
        entity,
        entity_id,
        at=at,
        site_id=patient.site_id,
        patient_id=patient.id,
        detail=detail,
    )


def add_audited(
    session: Session,
    actor: Actor,
    row: Any,
    patient: PatientRow,
    entity: str,
    /,
    *,
    at: dt.datetime,
    **detail: Any,
) -> None:
    """Store a new row of a patient's data and audit its creation (by record id if versioned)."""
    session.add(row)
    session.flush()
    ident = row.record_id if isinstance(row, VersionedMixin) else row.id
    audit_patient(session, actor, "create", entity, ident, patient, at=at, **detail)


def audit_list(
    session: Session,
    actor: Actor,
    entity: str,
    ids: list[int],
    /,
    *,
    at: dt.datetime,
    site_id: int | None,
    patient_id: int | None = None,
    **detail: Any,
) -> None:
    """Audit a list event under a site (and patient), naming the ids shown as ``<entity>_ids``."""
    detail = {f"{entity}_ids": ids, **detail}
    audit(
        session,
        actor,
        "list",
        entity,
        None,
        at=at,
        site_id=site_id,
        patient_id=patient_id,
        detail=detail,
    )


Q = TypeVar("Q", bound=Select[Any])


def site_scope(actor: Actor, action: Action) -> int | None:
    """The one site that ``action`` by ``actor`` is confined to; None when it reaches every site.

    The scopes that reach every site are the operator's and administrators' (ALL) and pooled,
    de-identified data (DEIDENTIFIED); every other actor, even one the policy refuses, is
    confined to their own site, so a list query can never widen beyond it.
    """
    if scope_of(actor, action) in (Scope.ALL, Scope.DEIDENTIFIED):
        return None
    return actor.site_id


def scoped(query: Q, actor: Actor, action: Action, site_column: InstrumentedAttribute[Any]) -> Q:
    """``query`` restricted to the rows whose ``site_column`` ``action`` by ``actor`` reaches."""
    site_id = site_scope(actor, action)
    return query if site_id is None else query.where(site_column == site_id)


def site_by_code(session: Session, actor: Actor, code: str) -> SiteRow:
    """The site with ``code`` if the actor may use it; NotFound otherwise (same answer)."""
    site = session.execute(select(SiteRow).where(SiteRow.code == code)).scalar_one_or_none()
    if site is None:
        raise NotFound(f"site: no site {code!r}")
    if not sees_site(actor, Action.LIST_SITES, site.id):
        raise OutOfScope(f"site: no site {code!r}", actor=actor)
    return site


MAX_ID = 2**31 - 1  # the largest integer primary key (PostgreSQL INTEGER)
R = TypeVar("R")


def row_by_id(session: Session, model: type[R], ident: int) -> R | None:
    """``session.get``, but None for an id no key column can hold (not a driver overflow)."""
    if not -MAX_ID - 1 <= ident <= MAX_ID:
        return None
    return session.get(model, ident)


def patient_for(
    session: Session,
    actor: Actor,
    patient_id: int,
    *,
    missing: str | None = None,
    action: Action = Action.READ_PATIENT,
) -> PatientRow:
    """Load a patient the actor may see; NotFound for one outside their site or self.

    ``missing`` is the refusal's wording when the patient was reached through another object
    (an alert, a record): it names only what the caller asked for, never the patient. ``action``
    is what the read is for: the pharmacy's is READ_PATIENT_FOR_KITS (no outcome data).
    """
    authorize(actor, action)
    patient = row_by_id(session, PatientRow, patient_id)
    return check_patient_scope(actor, patient_id, patient, missing=missing, action=action)


def own_patient(session: Session, actor: Actor, what: str) -> PatientRow:
    """The signed-in patient's own record; PermissionDenied naming ``what`` for anyone else."""
    if not allows(actor, Action.USE_PATIENT_APP) or actor.patient_id is None:
        raise PermissionDenied(f"only a patient has {what}", actor=actor)
    return patient_for(session, actor, actor.patient_id)


def patients_by_id(session: Session, patient_ids: Iterable[int]) -> dict[int, PatientRow]:
    """Several patients in one query, for ``check_patient_scope`` (ids that fit a key column)."""
    wanted = {i for i in patient_ids if -MAX_ID - 1 <= i <= MAX_ID}
    if not wanted:
        return {}
    rows = session.execute(select(PatientRow).where(PatientRow.id.in_(wanted))).scalars()
    return {row.id: row for row in rows}


def check_patient_scope(
    actor: Actor,
    patient_id: int,
    patient: PatientRow | None,
    *,
    missing: str | None = None,
    action: Action = Action.READ_PATIENT,
) -> PatientRow:
    """The loaded patient if the actor may see it; NotFound (same answer) if missing or not.

    The answer names ``missing`` (what the caller asked for) when given, else the patient id
    the caller asked for; one that exists out of reach is an :class:`OutOfScope` (audited).
    """
    message = missing or f"patient: no patient {patient_id}"
    if patient is None:
        raise NotFound(message)
    if not sees_patient(actor, action, patient.id, patient.site_id):
        raise OutOfScope(message, actor=actor)
    return patient


V = TypeVar("V", bound=VersionedMixin)


def new_record_id() -> str:
    """A fresh id for a versioned record."""
    return str(uuid.uuid4())


def stamp(row: V, actor: Actor, at: dt.datetime, reason: str | None = None) -> V:
    """Fill a new record's version columns (version 1)."""
    row.record_id = row.record_id or new_record_id()
    row.version = row.version or 1
    row.is_current = True
    row.recorded_at = at
    row.recorded_by = actor.label
    row.recorded_by_user_id = actor.user_id
    row.change_reason = reason
    return row


def current_version(
    session: Session,
    model: type[V],
    record_id: str,
    *,
    expected_version: int | None = None,
    **owner: int,
) -> V:
    """The current version of a versioned record; NotFound when there is none.

    ``owner`` (e.g. ``patient_id=3``) names the columns the record must match: another owner's
    record is not found either, so nobody learns it exists. With ``expected_version`` the record
    must still be at that version (:func:`check_version`).
    """
    row = session.execute(
        select(model).where(model.record_id == record_id, model.is_current.is_(True))
    ).scalar_one_or_none()
    if row is None or any(getattr(row, column) != value for column, value in owner.items()):
        raise NotFound(f"record: no record {record_id}")
    check_version(expected_version, row.version)
    return row


def check_version(expected: int | None, current: int) -> None:
    """Refuse a change made against another version than the current one (StaleVersion)."""
    if expected is not None and expected != current:
        raise StaleVersion(expected, current)


def patient_rows(session: Session, model: Any, patient_id: int, *where: Any) -> list[Any]:
    """A patient's rows of one kind that match ``where``, oldest first."""
    query = select(model).where(model.patient_id == patient_id, *where).order_by(model.id)
    return list(session.execute(query).scalars())


def current_records(session: Session, model: Any, patient_id: int) -> list[Any]:
    """The current versions of a patient's records of one kind, oldest first."""
    return patient_rows(session, model, patient_id, model.is_current.is_(True))


def supersede(
    session: Session,
    old: V,
    changes: dict[str, Any],
    *,
    actor: Actor,
    at: dt.datetime,
    reason: str,
    editable: Iterable[str],
) -> V:
    """Insert the next version of ``old`` with ``changes``; the old version is kept."""
    require_text("reason", reason or "", "a correction needs a reason")
    editable = set(editable)
    unknown = sorted(set(changes) - editable)
    if unknown:
        raise ValidationError(
            unknown[0], "this field cannot be corrected", allowed=sorted(editable)
        )
    model = type(old)
    skip = {"id", "version", "is_current", "recorded_at", "recorded_by"}
    skip |= {"recorded_by_user_id", "change_reason"}
    values = {
        col.key: getattr(old, col.key)
        for col in model.__table__.columns  # type: ignore[attr-defined]
        if col.key not in skip
    }
    values.update(changes)
    old.is_current = False
    session.flush()
    new = model(**values)
    new.version = old.version + 1
    stamp(new, actor, at, reason.strip())
    session.add(new)
    session.flush()
    return new


def supersede_audited(
    session: Session,
    old: V,
    changes: dict[str, Any],
    patient: PatientRow,
    entity: str,
    /,
    *,
    actor: Actor,
    at: dt.datetime,
    reason: str,
    editable: Iterable[str],
    action: str = "correct",
    **detail: Any,
) -> V:
    """``supersede`` a patient's record and audit the change under its record id and new version."""
    new = supersede(session, old, changes, actor=actor, at=at, reason=reason, editable=editable)
    record_id = new.record_id
    audit_patient(
        session, actor, action, entity, record_id, patient, at=at, version=new.version, **detail
    )
    return new


def entries_since(
    session: Session, patient_id: int, since: dt.date, instruments: Iterable[str] | None = None
) -> list[DiaryEntryRow]:
    """A patient's current diary entries from ``since`` on (of ``instruments``), oldest first."""
    query = select(DiaryEntryRow).where(
        DiaryEntryRow.patient_id == patient_id,
        DiaryEntryRow.is_current.is_(True),
        DiaryEntryRow.local_date >= since,
    )
    if instruments is not None:
        query = query.where(DiaryEntryRow.instrument_id.in_(sorted(set(instruments))))
    order = (DiaryEntryRow.local_date, DiaryEntryRow.id)
    return list(session.execute(query.order_by(*order)).scalars())


def of_day(model: Any, patient_id: int, instrument_id: str, day: dt.date) -> Select[Any]:
    """The current rows of one instrument on one local day of a patient (diary or attacks)."""
    return select(model).where(
        model.patient_id == patient_id,
        model.instrument_id == instrument_id,
        model.local_date == day,
        model.is_current.is_(True),
    )
