"""Screening a patient for a substance, and the clinician's sign-off."""

from __future__ import annotations

from fastapi import APIRouter

from microtrial.api.actions import takes
from microtrial.api.once import OnceDep
from microtrial.api.schemas import ScreeningCreate, SignOff, Substance
from microtrial.domain.access import Action
from microtrial.errors import NotFound
from microtrial.http.deps import ActorDep, ContextDep
from microtrial.services import screening
from microtrial.services.screening import ScreeningRead

router = APIRouter(tags=["screening"])


@router.post(
    "/patients/{patient_id}/screenings", openapi_extra=takes(Action.SCREEN), status_code=201
)
def screen_patient(
    context: ContextDep, actor: ActorDep, patient_id: int, body: ScreeningCreate, once: OnceDep
) -> ScreeningRead:
    """Screen against the catalog's contraindication and interaction rules; stores the result."""

    def fetch(record_id: str) -> ScreeningRead:
        """The screening a replayed key created, if it is still current."""
        latest = screening.latest_screening(
            context.db, actor, patient_id, body.substance, clock=context.clock
        )
        if latest.record_id != record_id:
            raise NotFound(f"screening: {record_id} is no longer current")
        return latest

    return once(
        actor,
        f"screening:patient:{patient_id}",
        body,
        create=lambda: screening.screen_patient(
            context.db, actor, patient_id, body.substance, clock=context.clock
        ),
        fetch=fetch,
    )


@router.get(
    "/patients/{patient_id}/screenings/{substance}", openapi_extra=takes(Action.READ_PATIENT)
)
def latest_screening(
    context: ContextDep, actor: ActorDep, patient_id: int, substance: Substance
) -> ScreeningRead:
    """The current screening for a substance, with findings and sign-off."""
    return screening.latest_screening(context.db, actor, patient_id, substance, clock=context.clock)


@router.post(
    "/patients/{patient_id}/screenings/{substance}/sign-off",
    openapi_extra=takes(Action.SIGN_OFF_SCREENING),
)
def sign_off(
    context: ContextDep, actor: ActorDep, patient_id: int, substance: Substance, body: SignOff
) -> ScreeningRead:
    """Clear the current clinician-review screening with a reason (clinicians)."""
    current = screening.latest_screening(
        context.db, actor, patient_id, substance, clock=context.clock
    )
    return screening.sign_off_screening(
        context.db, actor, current.record_id, body.reason, clock=context.clock
    )
