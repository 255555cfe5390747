"""Alerts of the caller's site, and acknowledging them."""

from __future__ import annotations

from fastapi import APIRouter

from microtrial.api.actions import takes
from microtrial.api.paging import Page, PageQuery
from microtrial.api.schemas import AlertAcknowledge
from microtrial.domain.access import Action
from microtrial.http.deps import ActorDep, ContextDep
from microtrial.services import alerts
from microtrial.services.alerts import AlertRead

router = APIRouter(tags=["alerts"])


@router.get("/alerts", openapi_extra=takes(Action.LIST_ALERTS))
def list_alerts(
    context: ContextDep, actor: ActorDep, page: PageQuery, open_only: bool = True
) -> Page[AlertRead]:
    """Alerts of the caller's site, newest first (open ones only by default)."""
    rows = alerts.list_alerts(context.db, actor, open_only=open_only, clock=context.clock)
    return page.of(rows, lambda a: (-a.id,))


@router.get("/patients/{patient_id}/alerts", openapi_extra=takes(Action.LIST_ALERTS))
def list_patient_alerts(
    context: ContextDep, actor: ActorDep, patient_id: int, page: PageQuery, open_only: bool = True
) -> Page[AlertRead]:
    """One patient's alerts, newest first."""
    rows = alerts.list_alerts(
        context.db, actor, patient_id=patient_id, open_only=open_only, clock=context.clock
    )
    return page.of(rows, lambda a: (-a.id,))


@router.post("/alerts/{alert_id}/acknowledge", openapi_extra=takes(Action.ACKNOWLEDGE_ALERT))
def acknowledge_alert(
    context: ContextDep, actor: ActorDep, alert_id: int, body: AlertAcknowledge
) -> AlertRead:
    """Acknowledge an alert with a note (clinicians); a second acknowledgement is 409."""
    return alerts.acknowledge_alert(context.db, actor, alert_id, body.note, clock=context.clock)
