"""Patients and their medications and conditions."""

from __future__ import annotations

from fastapi import APIRouter, Response

from microtrial.api.creates import create_once
from microtrial.api.deps import ActorDep, ContextDep
from microtrial.api.paging import (
    CursorQuery,
    IdempotencyKeyHeader,
    IfMatchHeader,
    LimitQuery,
    Page,
    etag_for,
    expected_version,
    paginate,
)
from microtrial.api.schemas import (
    ConditionCreate,
    ConditionUpdate,
    MedicationCreate,
    MedicationUpdate,
    PatientCreate,
)
from microtrial.errors import NotFound
from microtrial.services import patients
from microtrial.services.schemas import (
    ConditionRead,
    MedicationRead,
    PatientRead,
    PatientSummary,
    RecordVersionRead,
)

router = APIRouter(tags=["patients"])


@router.get("/patients")
def list_patients(
    context: ContextDep, actor: ActorDep, cursor: CursorQuery = None, limit: LimitQuery = 50
) -> Page[PatientSummary]:
    """Patients of the caller's site."""
    rows = patients.list_patients(context.db, actor, clock=context.clock)
    return paginate(rows, lambda p: (p.id,), cursor, limit)


@router.post("/patients", status_code=201)
def enrol_patient(
    context: ContextDep,
    actor: ActorDep,
    body: PatientCreate,
    response: Response,
    idempotency_key: IdempotencyKeyHeader = None,
) -> PatientRead:
    """Enrol a patient at a site (clinicians)."""
    return create_once(
        context,
        response,
        key=idempotency_key,
        scope=f"patient:site:{body.site_code}:user:{actor.user_id}",
        resource="patient",
        payload=body.model_dump(mode="json"),
        create=lambda: patients.enrol_patient(
            context.db, actor, **body.model_dump(), clock=context.clock
        ),
        fetch=lambda rid: patients.get_patient(context.db, actor, int(rid), clock=context.clock),
        ident=lambda p: str(p.id),
    )


@router.get("/patients/{patient_id}")
def read_patient(context: ContextDep, actor: ActorDep, patient_id: int) -> PatientRead:
    """One patient with current conditions, medications and history."""
    return patients.get_patient(context.db, actor, patient_id, clock=context.clock)


def _medication(patient: PatientRead, record_id: str) -> MedicationRead:
    for medication in patient.medications:
        if medication.record_id == record_id:
            return medication
    raise NotFound(f"medication: no medication {record_id}")


def _condition(patient: PatientRead, record_id: str) -> ConditionRead:
    for condition in patient.conditions:
        if condition.record_id == record_id:
            return condition
    raise NotFound(f"condition: no condition {record_id}")


@router.get("/patients/{patient_id}/medications")
def list_medications(
    context: ContextDep,
    actor: ActorDep,
    patient_id: int,
    cursor: CursorQuery = None,
    limit: LimitQuery = 50,
) -> Page[MedicationRead]:
    """A patient's current medications."""
    patient = patients.get_patient(context.db, actor, patient_id, clock=context.clock)
    return paginate(patient.medications, lambda m: (m.record_id,), cursor, limit)


@router.post("/patients/{patient_id}/medications", status_code=201)
def add_medication(
    context: ContextDep,
    actor: ActorDep,
    patient_id: int,
    body: MedicationCreate,
    response: Response,
    idempotency_key: IdempotencyKeyHeader = None,
) -> MedicationRead:
    """Add a medication as entered (screening normalises it)."""
    created = create_once(
        context,
        response,
        key=idempotency_key,
        scope=f"medication:patient:{patient_id}:user:{actor.user_id}",
        resource="medication",
        payload=body.model_dump(mode="json"),
        create=lambda: patients.add_medication(
            context.db, actor, patient_id, body.name, clock=context.clock
        ),
        fetch=lambda rid: _medication(
            patients.get_patient(context.db, actor, patient_id, clock=context.clock), rid
        ),
        ident=lambda m: m.record_id,
    )
    response.headers["ETag"] = etag_for(created.version)
    return created


@router.get("/patients/{patient_id}/medications/{record_id}")
def read_medication(
    context: ContextDep, actor: ActorDep, patient_id: int, record_id: str, response: Response
) -> MedicationRead:
    """One current medication, with its ETag."""
    patient = patients.get_patient(context.db, actor, patient_id, clock=context.clock)
    medication = _medication(patient, record_id)
    response.headers["ETag"] = etag_for(medication.version)
    return medication


@router.patch("/patients/{patient_id}/medications/{record_id}")
def correct_medication(
    context: ContextDep,
    actor: ActorDep,
    patient_id: int,
    record_id: str,
    body: MedicationUpdate,
    response: Response,
    if_match: IfMatchHeader = None,
) -> RecordVersionRead:
    """Correct a medication (If-Match required): a new version, the old one kept."""
    version = expected_version(if_match)
    new = patients.correct_record(
        context.db,
        actor,
        "medication",
        record_id,
        body.model_dump(exclude_none=True, exclude={"reason"}),
        body.reason,
        expected_version=version,
        patient_id=patient_id,
        clock=context.clock,
    )
    response.headers["ETag"] = etag_for(new.version)
    return new


@router.get("/patients/{patient_id}/conditions")
def list_conditions(
    context: ContextDep,
    actor: ActorDep,
    patient_id: int,
    cursor: CursorQuery = None,
    limit: LimitQuery = 50,
) -> Page[ConditionRead]:
    """A patient's current conditions."""
    patient = patients.get_patient(context.db, actor, patient_id, clock=context.clock)
    return paginate(patient.conditions, lambda c: (c.record_id,), cursor, limit)


@router.post("/patients/{patient_id}/conditions", status_code=201)
def add_condition(
    context: ContextDep,
    actor: ActorDep,
    patient_id: int,
    body: ConditionCreate,
    response: Response,
    idempotency_key: IdempotencyKeyHeader = None,
) -> ConditionRead:
    """Add a diagnosis (ICD-10-CM)."""
    created = create_once(
        context,
        response,
        key=idempotency_key,
        scope=f"condition:patient:{patient_id}:user:{actor.user_id}",
        resource="condition",
        payload=body.model_dump(mode="json"),
        create=lambda: patients.add_condition(
            context.db, actor, patient_id, body.icd10_code, clock=context.clock
        ),
        fetch=lambda rid: _condition(
            patients.get_patient(context.db, actor, patient_id, clock=context.clock), rid
        ),
        ident=lambda c: c.record_id,
    )
    response.headers["ETag"] = etag_for(created.version)
    return created


@router.patch("/patients/{patient_id}/conditions/{record_id}")
def correct_condition(
    context: ContextDep,
    actor: ActorDep,
    patient_id: int,
    record_id: str,
    body: ConditionUpdate,
    response: Response,
    if_match: IfMatchHeader = None,
) -> RecordVersionRead:
    """Correct a condition (If-Match required)."""
    version = expected_version(if_match)
    new = patients.correct_record(
        context.db,
        actor,
        "condition",
        record_id,
        body.model_dump(exclude_none=True, exclude={"reason"}),
        body.reason,
        expected_version=version,
        patient_id=patient_id,
        clock=context.clock,
    )
    response.headers["ETag"] = etag_for(new.version)
    return new
