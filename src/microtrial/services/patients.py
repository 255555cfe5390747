"""Enrolment and the patient record: conditions, medications, history; all audited."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from microtrial.domain import patients as rules
from microtrial.domain.access import Action, authorize
from microtrial.domain.actors import Actor
from microtrial.domain.alerts import check_new_medications
from microtrial.domain.paging import ListRequest
from microtrial.domain.trial_plan import TrialPlan
from microtrial.errors import (
    ConflictError,
    NotFound,
    PermissionDenied,
    ValidationError,
)
from microtrial.services.alerts import active_trial, raise_alerts
from microtrial.services.common import (
    Clock,
    audit,
    audit_list,
    audit_patient,
    check_version,
    current_records,
    current_version,
    patient_for,
    scoped,
    site_by_code,
    site_scope,
    stamp,
    supersede,
    supersede_audited,
    system_clock,
)
from microtrial.services.paging import Listing, Paged, fetch_page
from microtrial.services.schemas import (
    ConditionRead,
    HistoryFlagRead,
    MedicationRead,
    PatientRead,
    PatientSummary,
    RecordVersionRead,
)
from microtrial.services.screening import history_flag_ids, rescreen_after_change
from microtrial.services.unit import UnitOfWork, patient_transaction
from microtrial.store.db import Database
from microtrial.store.models import (
    ConditionRow,
    HistoryFlagRow,
    MedicationRow,
    PatientRow,
    SiteRow,
    VersionedMixin,
)

RECORD_KINDS: dict[str, tuple[type[VersionedMixin], tuple[str, ...]]] = {
    "condition": (ConditionRow, ("icd10_code", "status")),
    "medication": (MedicationRow, ("name_as_entered", "status")),
    "history": (HistoryFlagRow, ("value",)),
}


def enrol_patient(
    db: Database,
    actor: Actor,
    *,
    site_code: str,
    study_code: str,
    birth_year: int,
    sex: str,
    time_zone: str,
    conditions: Iterable[str] = (),
    clock: Clock = system_clock,
) -> PatientRead:
    """Enrol a patient at a site under a pseudonymous study code."""
    work = UnitOfWork(db, actor, Action.ENROL_PATIENT, clock=clock)
    study_code = rules.check_study_code(study_code)
    rules.check_birth_year(birth_year, work.now.date())
    rules.check_sex(sex)
    rules.check_time_zone(time_zone)
    codes = [rules.check_icd10(c) for c in conditions]
    with work as (session, now):
        site = site_by_code(session, actor, site_code)
        existing = _patient_id_at(session, site, study_code)
        if existing is not None:
            stored = session.get_one(PatientRow, existing).study_code
            case = (
                "" if stored == study_code else f" as {stored!r} (codes differ by more than case)"
            )
            raise ConflictError(
                f"code: patient {study_code!r} already exists at {site_code!r}{case}"
            )
        patient = PatientRow(
            site_id=site.id,
            study_code=study_code,
            birth_year=birth_year,
            sex=sex,
            time_zone=time_zone,
            created_at=now,
        )
        session.add(patient)
        session.flush()
        for code in dict.fromkeys(codes):
            session.add(stamp(ConditionRow(patient_id=patient.id, icd10_code=code), actor, now))
        session.flush()
        audit(
            session,
            actor,
            "create",
            "patient",
            patient.id,
            at=now,
            site_id=site.id,
            patient_id=patient.id,
            detail={"conditions": codes},
        )
        return patient_view(session, patient)


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
    authorize(actor, Action.ENROL_PATIENT)
    with db.transaction() as session:
        site = session.get(SiteRow, actor.site_id) if actor.site_id is not None else None
        if site is None:
            raise PermissionDenied("this user belongs to no site", actor=actor)
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


def get_patient(
    db: Database, actor: Actor, patient_id: int, *, clock: Clock = system_clock
) -> PatientRead:
    """Read one patient's record."""
    with patient_transaction(db, actor, patient_id) as (session, patient):
        audit_patient(session, actor, "read", "patient", patient.id, patient, at=clock())
        return patient_view(session, patient)


def find_patient(
    db: Database, actor: Actor, site_code: str, study_code: str, *, clock: Clock = system_clock
) -> PatientRead:
    """Read one patient's record by site and study code."""
    with db.transaction() as session:
        patient_id = _patient_id_at(session, site_by_code(session, actor, site_code), study_code)
        if patient_id is None:
            raise NotFound(f"patient: no patient {study_code!r} at site {site_code!r}")
        patient = patient_for(session, actor, patient_id)
        audit_patient(session, actor, "read", "patient", patient.id, patient, at=clock())
        return patient_view(session, patient)


def _patient_id_at(session: Session, site: SiteRow, study_code: str) -> int | None:
    """The id of the patient with ``study_code`` at ``site``, if there is one.

    Letter case aside: "qa-1" is the patient "QA-1" (two codes that differ only in case would be
    mixed up on labels and by phone), the exact spelling first where both were stored earlier.
    """
    rows = session.execute(
        select(PatientRow.id, PatientRow.study_code).where(
            PatientRow.site_id == site.id,
            func.lower(PatientRow.study_code) == study_code.lower(),
        )
    ).all()
    exact = [pid for pid, code in rows if code == study_code]
    return next(iter(exact or [pid for pid, _ in rows]), None)


def find_patient_by_code(
    db: Database,
    actor: Actor,
    study_code: str,
    site_code: str | None = None,
    *,
    clock: Clock = system_clock,
) -> PatientRead:
    """Read a patient by study code, searching the actor's sites unless a site is given."""
    if site_code is not None:
        return find_patient(db, actor, site_code, study_code, clock=clock)
    with db.transaction() as session:
        query = select(SiteRow.code).join(PatientRow).where(PatientRow.study_code == study_code)
        query = scoped(query, actor, Action.READ_PATIENT, SiteRow.id)
        matches = session.execute(query).scalars().all()
    if len(matches) > 1:
        raise ValidationError(
            "site", f"study code {study_code!r} exists at several sites", allowed=sorted(matches)
        )
    if not matches:
        raise NotFound(f"patient: no patient {study_code!r}")
    return find_patient(db, actor, matches[0], study_code, clock=clock)


def list_patients(
    db: Database, actor: Actor, site_code: str | None = None, *, clock: Clock = system_clock
) -> list[PatientSummary]:
    """Patients of one site (staff: their own site only)."""
    with UnitOfWork(db, actor, Action.LIST_PATIENTS, clock=clock) as (session, now):
        query = select(PatientRow).order_by(PatientRow.site_id, PatientRow.study_code)
        site_id = site_scope(actor, Action.LIST_PATIENTS)
        if site_code is not None:
            site_id = site_by_code(session, actor, site_code).id
        if site_id is not None:
            query = query.where(PatientRow.site_id == site_id)
        rows = list(session.execute(query).scalars())
        audit_list(session, actor, "patient", [p.id for p in rows], at=now, site_id=site_id)
        return [PatientSummary.model_validate(p) for p in rows]


PATIENT_LISTING = Listing.of(
    PatientRow, "id", "study_code", "birth_year", default="id", enrolled_at=PatientRow.created_at
)
SEARCH_CHARS = 40  # a study code is at most 40 characters


def patient_page(
    db: Database,
    actor: Actor,
    request: ListRequest,
    *,
    search: str = "",
    site_code: str | None = None,
    clock: Clock = system_clock,
) -> Paged[PatientSummary]:
    """One page of the patients the actor may list, searched by study code, sorted in SQL."""
    with UnitOfWork(db, actor, Action.LIST_PATIENTS, clock=clock) as (session, now):
        query = select(PatientRow)
        site_id = site_scope(actor, Action.LIST_PATIENTS)
        if site_code is not None:
            site_id = site_by_code(session, actor, site_code).id
        if site_id is not None:
            query = query.where(PatientRow.site_id == site_id)
        wanted = search.strip().lower()[:SEARCH_CHARS]
        if wanted:
            query = query.where(func.lower(PatientRow.study_code).contains(wanted, autoescape=True))
        rows, info = fetch_page(session, query, request, PATIENT_LISTING)
        found = [PatientSummary.model_validate(row) for (row,) in rows]
        ids = [p.id for p in found]
        audit_list(session, actor, "patient", ids, at=now, site_id=site_id, total=info.total)
        return Paged(found, info)


def add_condition(
    db: Database, actor: Actor, patient_id: int, icd10_code: str, *, clock: Clock = system_clock
) -> ConditionRead:
    """Add a diagnosis (ICD-10-CM) to a patient."""
    code = rules.check_icd10(icd10_code)
    return ConditionRead.model_validate(
        _add_record(db, actor, patient_id, ConditionRow(icd10_code=code), "condition", clock)
    )


def add_medication(
    db: Database, actor: Actor, patient_id: int, name: str, *, clock: Clock = system_clock
) -> MedicationRead:
    """Add a current medication exactly as entered (normalised by screening)."""
    name = name.strip()
    if not name or len(name) > 200:
        raise ValidationError("medication", "empty or too long", value=name, allowed="1-200 chars")
    return MedicationRead.model_validate(
        _add_record(db, actor, patient_id, MedicationRow(name_as_entered=name), "medication", clock)
    )


def set_history_flag(
    db: Database,
    actor: Actor,
    patient_id: int,
    flag: str,
    value: bool | None,
    *,
    reason: str | None = None,
    clock: Clock = system_clock,
) -> HistoryFlagRead:
    """Answer a medical-history question; a changed answer becomes a new version."""
    flag = flag.strip()
    accepted = history_flag_ids()
    if flag not in accepted:
        raise ValidationError("history", f"unknown history flag {flag!r}", allowed=accepted)
    with UnitOfWork(db, actor, Action.RECORD_HISTORY, clock=clock) as (session, now):
        patient = patient_for(session, actor, patient_id)
        existing = session.execute(
            select(HistoryFlagRow).where(
                HistoryFlagRow.patient_id == patient.id,
                HistoryFlagRow.flag == flag,
                HistoryFlagRow.is_current.is_(True),
            )
        ).scalar_one_or_none()
        if existing is None:
            row = stamp(HistoryFlagRow(patient_id=patient.id, flag=flag, value=value), actor, now)
            session.add(row)
            session.flush()
            action = "create"
        else:
            row = supersede(
                session,
                existing,
                {"value": value},
                actor=actor,
                at=now,
                reason=reason or "history answer updated",
                editable=("value",),
            )
            action = "correct"
        audit_patient(
            session,
            actor,
            action,
            "history",
            row.record_id,
            patient,
            at=now,
            flag=flag,
            version=row.version,
        )
        rescreen_after_change(session, actor, patient, now)
        return HistoryFlagRead.model_validate(row)


def correct_record(
    db: Database,
    actor: Actor,
    kind: str,
    record_id: str,
    changes: dict[str, Any],
    reason: str,
    *,
    expected_version: int | None = None,
    patient_id: int | None = None,
    clock: Clock = system_clock,
) -> RecordVersionRead:
    """Correct a condition, medication or history answer: a new version, the old kept.

    With ``expected_version`` the record must still be at that version (else StaleVersion);
    with ``patient_id`` it must belong to that patient (else NotFound).
    """
    if kind not in RECORD_KINDS:
        raise ValidationError("kind", f"unknown record kind {kind!r}", allowed=sorted(RECORD_KINDS))
    work = UnitOfWork(
        db, actor, Action.CORRECT_RECORDS, clock=clock, doing=f"correct {kind} records"
    )
    model, editable = RECORD_KINDS[kind]
    with work as (session, now):
        old = current_version(session, model, record_id)
        missing = f"record: no record {record_id}"
        patient = patient_for(session, actor, old.patient_id, missing=missing)  # type: ignore[attr-defined]
        if patient_id is not None and patient_id != patient.id:
            raise NotFound(f"record: no record {record_id}")
        check_version(expected_version, old.version)
        new = supersede_audited(
            session,
            old,
            changes,
            patient,
            kind,
            actor=actor,
            at=now,
            reason=reason,
            editable=editable,
            fields=sorted(changes),
        )
        rescreen_after_change(session, actor, patient, now)
        return RecordVersionRead.model_validate(new)


def record_history(
    db: Database, actor: Actor, kind: str, record_id: str, *, clock: Clock = system_clock
) -> list[RecordVersionRead]:
    """Every version of a record, oldest first."""
    if kind not in RECORD_KINDS:
        raise ValidationError("kind", f"unknown record kind {kind!r}", allowed=sorted(RECORD_KINDS))
    model, _ = RECORD_KINDS[kind]
    with db.transaction() as session:
        rows = list(
            session.execute(
                select(model).where(model.record_id == record_id).order_by(model.version)
            ).scalars()
        )
        if not rows:
            raise NotFound(f"record: no record {record_id}")
        missing = f"record: no record {record_id}"
        patient = patient_for(session, actor, rows[0].patient_id, missing=missing)  # type: ignore[attr-defined]
        audit_patient(
            session, actor, "read", kind, record_id, patient, at=clock(), versions=len(rows)
        )
        return [RecordVersionRead.model_validate(r) for r in rows]


def _add_record(
    db: Database,
    actor: Actor,
    patient_id: int,
    row: ConditionRow | MedicationRow,
    kind: str,
    clock: Clock,
) -> ConditionRow | MedicationRow:
    work = UnitOfWork(db, actor, Action.ADD_RECORDS, clock=clock, doing=f"add {kind} records")
    with work as (session, now):
        patient = patient_for(session, actor, patient_id)
        row.patient_id = patient.id
        previous = [m.name_as_entered for m in current_records(session, MedicationRow, patient.id)]
        session.add(stamp(row, actor, now))
        session.flush()
        audit_patient(session, actor, "create", kind, row.record_id, patient, at=now)
        if isinstance(row, MedicationRow):
            _alert_new_medication(session, actor, patient, previous, row, now)
        rescreen_after_change(session, actor, patient, now)
        return row


def _alert_new_medication(
    session: Session,
    actor: Actor,
    patient: PatientRow,
    previous: list[str],
    row: MedicationRow,
    now: dt.datetime,
) -> None:
    """Alert when a patient in an open trial starts a contraindicated or major-interaction drug."""
    trial = active_trial(session, patient.id)
    if trial is None:
        return
    substance = TrialPlan.from_json(trial.plan).regimen.substance
    alerts = check_new_medications(previous, [*previous, row.name_as_entered], substance)
    raise_alerts(session, actor, patient, alerts, trigger={"medication": row.record_id}, now=now)


def patient_view(session: Session, patient: PatientRow) -> PatientRead:
    """A patient with their site, current conditions, medications and history; no access check."""
    site = session.get(SiteRow, patient.site_id)
    assert site is not None  # foreign key
    return PatientRead(
        id=patient.id,
        site_id=patient.site_id,
        site_code=site.code,
        study_code=patient.study_code,
        birth_year=patient.birth_year,
        sex=patient.sex,
        time_zone=patient.time_zone,
        conditions=[
            ConditionRead.model_validate(r)
            for r in current_records(session, ConditionRow, patient.id)
        ],
        medications=[
            MedicationRead.model_validate(r)
            for r in current_records(session, MedicationRow, patient.id)
        ],
        history=[
            HistoryFlagRead.model_validate(r)
            for r in current_records(session, HistoryFlagRow, patient.id)
        ],
    )
