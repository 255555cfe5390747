"""Alerts of the caller's site, and acknowledging them."""

from __future__ import annotations

from fastapi import APIRouter

from microtrial.api.paging import CursorQuery, LimitQuery, Page, paginate
from microtrial.api.schemas import AlertAcknowledge
from microtrial.http.deps import ActorDep, ContextDep
from microtrial.services import alerts
from microtrial.services.alerts import AlertRead

router = APIRouter(tags=["alerts"])


@router.get("/alerts")
def list_alerts(
    context: ContextDep,
    actor: ActorDep,
    open_only: bool = True,
    cursor: CursorQuery = None,
    limit: LimitQuery = 50,
) -> Page[AlertRead]:
    """Alerts of the caller's site, newest first (open ones only by default)."""
    rows = alerts.list_alerts(context.db, actor, open_only=open_only, clock=context.clock)
    return paginate(rows, lambda a: (-a.id,), cursor, limit)


@router.get("/patients/{patient_id}/alerts")
def list_patient_alerts(
    context: ContextDep,
    actor: ActorDep,
    patient_id: int,
    open_only: bool = True,
    cursor: CursorQuery = None,
    limit: LimitQuery = 50,
) -> Page[AlertRead]:
    """One patient's alerts, newest first."""
    rows = alerts.list_alerts(
        context.db, actor, patient_id=patient_id, open_only=open_only, clock=context.clock
    )
    return paginate(rows, lambda a: (-a.id,), cursor, limit)


@router.post("/alerts/{alert_id}/acknowledge")
def acknowledge_alert(
    context: ContextDep, actor: ActorDep, alert_id: int, body: AlertAcknowledge
) -> AlertRead:
    """Acknowledge an alert with a note (clinicians); a second acknowledgement is 409."""
    return alerts.acknowledge_alert(context.db, actor, alert_id, body.note, clock=context.clock)
