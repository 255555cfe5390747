"""Patients and their medications and conditions."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar, cast

from fastapi import APIRouter, Query, Response

from microtrial.api.actions import takes
from microtrial.api.once import OnceDep
from microtrial.api.paging import (
    Page,
    PageQuery,
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
from microtrial.services import worklist as worklist_service
from microtrial.services.schemas import (
    ConditionRead,
    MedicationRead,
    PatientRead,
    PatientSummary,
    RecordVersionRead,
)
from microtrial.services.worklist import WorklistPage, WorklistQuery

router = APIRouter(tags=["patients"])
C = TypeVar("C", MedicationCreate, ConditionCreate)
U = TypeVar("U", MedicationUpdate, ConditionUpdate)
R = TypeVar("R", MedicationRead, ConditionRead)
E = TypeVar("E", bound=Callable[..., Any])


@router.get("/patients", openapi_extra=takes(Action.LIST_PATIENTS))
def list_patients(
    context: ContextDep,
    actor: ActorDep,
    page: PageQuery,
    q: Annotated[str, Query(max_length=40, description="Part of a study code.")] = "",
) -> Page[PatientSummary]:
    """Patients of the caller's site (sort: id, study_code, birth_year, enrolled_at)."""
    found = patients.patient_page(context.db, actor, page.listing(), search=q, clock=context.clock)
    return page.page(found)


@router.get("/worklist", openapi_extra=takes(Action.LIST_PATIENTS))
def worklist(
    context: ContextDep,
    actor: ActorDep,
    q: Annotated[str, Query(max_length=40, description="Part of a study code.")] = "",
    status: Annotated[str, Query(description="A trial status, or 'none' for no trial.")] = "",
    alerts: Annotated[
        bool,
        Query(
            description="Only patients needing action: an open alert or an adverse event "
            "awaiting review."
        ),
    ] = False,
    page: Annotated[int, Query(ge=1, description="Page number, from 1.")] = 1,
    page_size: Annotated[
        int, Query(description="Patients per page: 10, 20, 50 or 100.")
    ] = worklist_service.DEFAULT_PAGE_SIZE,
) -> WorklistPage:
    """The site's patients, most urgent first (the clinic worklist), one numbered page."""
    query = WorklistQuery(
        search=q, status=status, open_alerts=alerts, page=page, page_size=page_size
    )
    return worklist_service.worklist(context.db, actor, query, clock=context.clock)


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


@dataclass(frozen=True)
class _RecordKind(Generic[C, U, R]):
    """One kind of patient record served as a list, an idempotent add and an If-Match correction.

    ``models`` are the create, update and read models and the read model's page. The routes'
    descriptions name the kind; the add route's is ``add``'s docstring. A kind that is not
    ``readable`` has no route for one record.
    """

    kind: str
    models: tuple[type[C], type[U], type[R], type[Page[R]]]
    add: Callable[[AppContext, Actor, int, C], R]
    readable: bool = True

    def current(self, patient: PatientRead) -> Sequence[R]:
        """The patient's current records of this kind (``PatientRead.medications``, ...)."""
        return cast("Sequence[R]", getattr(patient, f"{self.kind}s"))


def _concrete(endpoint: E, annotations: dict[str, object]) -> E:
    """``endpoint`` with its type-variable annotations replaced by one kind's models.

    FastAPI reads a route's body and response models from its annotations at registration.
    """
    endpoint.__annotations__.update(annotations)
    return endpoint


def _record_routes(spec: _RecordKind[C, U, R]) -> None:
    """Register the routes of one kind of patient record on ``router``."""
    records = f"/patients/{{patient_id}}/{spec.kind}s"
    create, update, read, page = spec.models

    def current(context: AppContext, actor: Actor, patient_id: int) -> Sequence[R]:
        return spec.current(_patient(context, actor, patient_id))

    def list_records(
        context: ContextDep, actor: ActorDep, patient_id: int, page: PageQuery
    ) -> Page[R]:
        """The patient's current records of this kind."""
        return page.of(current(context, actor, patient_id), lambda r: (r.record_id,))

    def add_record(
        context: ContextDep, actor: ActorDep, patient_id: int, body: C, once: OnceDep
    ) -> R:
        """Create a record once per Idempotency-Key; the answer carries its ETag."""
        created = once(
            actor,
            f"{spec.kind}:patient:{patient_id}",
            body,
            create=lambda: spec.add(context, actor, patient_id, body),
            fetch=lambda rid: current_record(current(context, actor, patient_id), rid, spec.kind),
        )
        tagged(once.response, created.version)
        return created

    def read_record(
        context: ContextDep, actor: ActorDep, patient_id: int, record_id: str, response: Response
    ) -> R:
        """One current record, with its ETag."""
        record = current_record(current(context, actor, patient_id), record_id, spec.kind)
        tagged(response, record.version)
        return record

    def correct_record(
        context: ContextDep,
        actor: ActorDep,
        patient_id: int,
        record_id: str,
        body: U,
        update: PreconditionDep,
    ) -> RecordVersionRead:
        """Correct a record at the version If-Match names: a new version, the old one kept."""
        return update.apply(
            lambda expected: patients.correct_record(
                context.db,
                actor,
                spec.kind,
                record_id,
                body.model_dump(exclude_none=True, exclude={"reason"}),
                body.reason,
                expected_version=expected,
                patient_id=patient_id,
                clock=context.clock,
            )
        )

    about = {
        "list": f"A patient's current {spec.kind}s.",
        "add": spec.add.__doc__,
        "read": f"One current {spec.kind}, with its ETag.",
        "correct": f"Correct a {spec.kind} (If-Match required): a new version, the old one kept.",
    }

    def register(
        method: str, path: str, endpoint: E, models: dict[str, object], action: Action, status: int
    ) -> None:
        # list_records -> list_medications: the operation names the kind.
        name = endpoint.__name__.replace("record", spec.kind)
        router.add_api_route(
            path,
            _concrete(endpoint, models),
            methods=[method],
            name=name,
            description=about[name.split("_")[0]],
            openapi_extra=takes(action),
            status_code=status,
        )

    one = records + "/{record_id}"
    register("GET", records, list_records, {"return": page}, Action.READ_PATIENT, 200)
    register("POST", records, add_record, {"body": create, "return": read}, Action.ADD_RECORDS, 201)
    if spec.readable:
        register("GET", one, read_record, {"return": read}, Action.READ_PATIENT, 200)
    register("PATCH", one, correct_record, {"body": update}, Action.CORRECT_RECORDS, 200)


def _add_medication(
    context: AppContext, actor: Actor, patient_id: int, body: MedicationCreate
) -> MedicationRead:
    """Add a medication as entered (screening normalises it)."""
    return patients.add_medication(context.db, actor, patient_id, body.name, clock=context.clock)


def _add_condition(
    context: AppContext, actor: Actor, patient_id: int, body: ConditionCreate
) -> ConditionRead:
    """Add a diagnosis (ICD-10-CM)."""
    return patients.add_condition(
        context.db, actor, patient_id, body.icd10_code, clock=context.clock
    )


_MEDICATIONS = (MedicationCreate, MedicationUpdate, MedicationRead, Page[MedicationRead])
_record_routes(_RecordKind("medication", _MEDICATIONS, _add_medication))
_CONDITIONS = (ConditionCreate, ConditionUpdate, ConditionRead, Page[ConditionRead])
_record_routes(_RecordKind("condition", _CONDITIONS, _add_condition, readable=False))
