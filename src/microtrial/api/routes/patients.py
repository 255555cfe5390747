"""Patients and their medications and conditions."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from fastapi import APIRouter, Response

from microtrial.api.actions import takes
from microtrial.api.once import CreateOnce, OnceDep
from microtrial.api.paging import (
    Page,
    PageQuery,
    Precondition,
    PreconditionDep,
    current_record,
    tagged,
)
from microtrial.api.schemas import (
    ConditionCreate,
    ConditionUpdate,
    MedicationCreate,
    MedicationUpdate,
    PatientCreate,
)
from microtrial.domain.access import Action
from microtrial.domain.actors import Actor
from microtrial.http.deps import ActorDep, AppContext, ContextDep
from microtrial.services import patients
from microtrial.services.schemas import (
    ConditionRead,
    MedicationRead,
    PatientRead,
    PatientSummary,
    RecordVersionRead,
)

router = APIRouter(tags=["patients"])
R = TypeVar("R", MedicationRead, ConditionRead)


@router.get("/patients", openapi_extra=takes(Action.LIST_PATIENTS))
def list_patients(context: ContextDep, actor: ActorDep, page: PageQuery) -> Page[PatientSummary]:
    """Patients of the caller's site."""
    return page.of(
        patients.list_patients(context.db, actor, clock=context.clock), lambda p: (p.id,)
    )


@router.post("/patients", openapi_extra=takes(Action.ENROL_PATIENT), status_code=201)
def enrol_patient(
    context: ContextDep, actor: ActorDep, body: PatientCreate, once: OnceDep
) -> PatientRead:
    """Enrol a patient at a site (clinicians)."""
    return once(
        actor,
        f"patient:site:{body.site_code}",
        body,
        create=lambda: patients.enrol_patient(
            context.db, actor, **body.model_dump(), clock=context.clock
        ),
        fetch=lambda rid: patients.get_patient(context.db, actor, int(rid), clock=context.clock),
        ident=lambda p: str(p.id),
    )


@router.get("/patients/{patient_id}", openapi_extra=takes(Action.READ_PATIENT))
def read_patient(context: ContextDep, actor: ActorDep, patient_id: int) -> PatientRead:
    """One patient with current conditions, medications and history."""
    return _patient(context, actor, patient_id)


def _patient(context: AppContext, actor: Actor, patient_id: int) -> PatientRead:
    return patients.get_patient(context.db, actor, patient_id, clock=context.clock)


def _add(
    context: AppContext,
    actor: Actor,
    once: CreateOnce,
    record: tuple[int, MedicationCreate | ConditionCreate],
    create: Callable[[], R],
    current: Callable[[PatientRead], Sequence[R]],
) -> R:
    """Create a patient's medication or condition once per key; the answer carries its ETag."""
    patient_id, body = record
    kind = "medication" if isinstance(body, MedicationCreate) else "condition"
    created = once(
        actor,
        f"{kind}:patient:{patient_id}",
        body,
        create=create,
        fetch=lambda rid: current_record(current(_patient(context, actor, patient_id)), rid, kind),
    )
    tagged(once.response, created.version)
    return created


def _correct(
    context: AppContext,
    actor: Actor,
    ids: tuple[int, str],
    body: MedicationUpdate | ConditionUpdate,
    update: Precondition,
) -> RecordVersionRead:
    """Correct record ``ids`` (patient, record) at the version If-Match names."""
    patient_id, record_id = ids
    kind = "medication" if isinstance(body, MedicationUpdate) else "condition"
    new = patients.correct_record(
        context.db,
        actor,
        kind,
        record_id,
        body.model_dump(exclude_none=True, exclude={"reason"}),
        body.reason,
        expected_version=update.expected(),
        patient_id=patient_id,
        clock=context.clock,
    )
    update.tag(new.version)
    return new


@router.get("/patients/{patient_id}/medications", openapi_extra=takes(Action.READ_PATIENT))
def list_medications(
    context: ContextDep, actor: ActorDep, patient_id: int, page: PageQuery
) -> Page[MedicationRead]:
    """A patient's current medications."""
    return page.of(_patient(context, actor, patient_id).medications, lambda m: (m.record_id,))


@router.post(
    "/patients/{patient_id}/medications", openapi_extra=takes(Action.ADD_RECORDS), status_code=201
)
def add_medication(
    context: ContextDep, actor: ActorDep, patient_id: int, body: MedicationCreate, once: OnceDep
) -> MedicationRead:
    """Add a medication as entered (screening normalises it)."""
    return _add(
        context,
        actor,
        once,
        (patient_id, body),
        lambda: patients.add_medication(
            context.db, actor, patient_id, body.name, clock=context.clock
        ),
        lambda patient: patient.medications,
    )


@router.get(
    "/patients/{patient_id}/medications/{record_id}", openapi_extra=takes(Action.READ_PATIENT)
)
def read_medication(
    context: ContextDep, actor: ActorDep, patient_id: int, record_id: str, response: Response
) -> MedicationRead:
    """One current medication, with its ETag."""
    patient = _patient(context, actor, patient_id)
    medication = current_record(patient.medications, record_id, "medication")
    tagged(response, medication.version)
    return medication


@router.patch(
    "/patients/{patient_id}/medications/{record_id}", openapi_extra=takes(Action.CORRECT_RECORDS)
)
def correct_medication(
    context: ContextDep,
    actor: ActorDep,
    patient_id: int,
    record_id: str,
    body: MedicationUpdate,
    update: PreconditionDep,
) -> RecordVersionRead:
    """Correct a medication (If-Match required): a new version, the old one kept."""
    return _correct(context, actor, (patient_id, record_id), body, update)


@router.get("/patients/{patient_id}/conditions", openapi_extra=takes(Action.READ_PATIENT))
def list_conditions(
    context: ContextDep, actor: ActorDep, patient_id: int, page: PageQuery
) -> Page[ConditionRead]:
    """A patient's current conditions."""
    return page.of(_patient(context, actor, patient_id).conditions, lambda c: (c.record_id,))


@router.post(
    "/patients/{patient_id}/conditions", openapi_extra=takes(Action.ADD_RECORDS), status_code=201
)
def add_condition(
    context: ContextDep, actor: ActorDep, patient_id: int, body: ConditionCreate, once: OnceDep
) -> ConditionRead:
    """Add a diagnosis (ICD-10-CM)."""
    return _add(
        context,
        actor,
        once,
        (patient_id, body),
        lambda: patients.add_condition(
            context.db, actor, patient_id, body.icd10_code, clock=context.clock
        ),
        lambda patient: patient.conditions,
    )


@router.patch(
    "/patients/{patient_id}/conditions/{record_id}", openapi_extra=takes(Action.CORRECT_RECORDS)
)
def correct_condition(
    context: ContextDep,
    actor: ActorDep,
    patient_id: int,
    record_id: str,
    body: ConditionUpdate,
    update: PreconditionDep,
) -> RecordVersionRead:
    """Correct a condition (If-Match required)."""
    return _correct(context, actor, (patient_id, record_id), body, update)
