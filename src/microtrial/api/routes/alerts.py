"""Alerts of the caller's site, and acknowledging them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from microtrial.api.actions import takes
from microtrial.api.paging import Page, PageQuery, PageRequest
from microtrial.api.schemas import AlertAcknowledge
from microtrial.domain.access import Action
from microtrial.domain.actors import Actor
from microtrial.http.deps import ActorDep, AppContext, ContextDep
from microtrial.services import alerts
from microtrial.services.alerts import AlertRead, ListedAlert

SeverityQuery = Annotated[
    str, Query(max_length=12, description="Only this severity: urgent, high or info.")
]

router = APIRouter(tags=["alerts"])


class AlertFilter:
    """The alert lists' query filters: open alerts only (the default), one severity."""

    def __init__(self, open_only: bool = True, severity: SeverityQuery = "") -> None:
        """Keep the filters as the query gave them."""
        self.state = "open" if open_only else "all"
        self.severity = severity


FilterQuery = Annotated[AlertFilter, Depends()]


def _alerts(
    context: AppContext, actor: Actor, page: PageRequest, patient_id: int | None, only: AlertFilter
) -> Page[ListedAlert]:
    found = alerts.alert_page(
        context.db,
        actor,
        page.listing(),
        patient_id=patient_id,
        state=only.state,
        severity=only.severity,
        clock=context.clock,
    )
    return page.page(found)


@router.get("/alerts", openapi_extra=takes(Action.LIST_ALERTS))
def list_alerts(
    context: ContextDep, actor: ActorDep, page: PageQuery, only: FilterQuery
) -> Page[ListedAlert]:
    """Alerts of the caller's site, newest first (open ones only by default); sort: id,
    created_at, severity, code, patient."""
    return _alerts(context, actor, page, None, only)


@router.get("/patients/{patient_id}/alerts", openapi_extra=takes(Action.LIST_ALERTS))
def list_patient_alerts(
    context: ContextDep, actor: ActorDep, patient_id: int, page: PageQuery, only: FilterQuery
) -> Page[ListedAlert]:
    """One patient's alerts, newest first (sorts as ``GET /alerts``)."""
    return _alerts(context, actor, page, patient_id, only)


@router.post("/alerts/{alert_id}/acknowledge", openapi_extra=takes(Action.ACKNOWLEDGE_ALERT))
def acknowledge_alert(
    context: ContextDep, actor: ActorDep, alert_id: int, body: AlertAcknowledge
) -> AlertRead:
    """Acknowledge an alert with a note (clinicians); a second acknowledgement is 409."""
    return alerts.acknowledge_alert(context.db, actor, alert_id, body.note, clock=context.clock)
