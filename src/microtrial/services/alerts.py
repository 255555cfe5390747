"""Storing alerts, applying their actions to trials, listing and acknowledging them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple, TypeVar, get_args

from sqlalchemy import ColumnElement, Select, and_, case, select
from sqlalchemy.orm import Session

from microtrial.domain import lifecycle
from microtrial.domain.access import Action, allows, sees_site
from microtrial.domain.actors import Actor
from microtrial.domain.alerts import Alert, trial_ending_codes
from microtrial.domain.catalog_files import AlertSeverity
from microtrial.domain.lifecycle import TrialAction, TrialStatus
from microtrial.domain.paging import ListRequest, check_choice
from microtrial.domain.trend_rules import Cause
from microtrial.domain.trial_plan import TrialPlan
from microtrial.errors import ConflictError, NotFound, PermissionDenied
from microtrial.services.common import (
    Clock,
    add_audited,
    audit_list,
    audit_patient,
    patient_for,
    patient_rows,
    patient_today,
    row_by_id,
    scoped,
    system_clock,
)
from microtrial.services.paging import Listing, Paged, fetch_page
from microtrial.services.schemas import ReadModel
from microtrial.services.unit import UnitOfWork
from microtrial.store.db import Database
from microtrial.store.models import AlertRow, PatientRow, SiteRow, TrialRow

# Alert actions (catalog/alerts.yaml) that stop doses until a clinician acts.
# Alerts during which the patient must not take a capsule (the Today notice, the API status and
# the dose-during-hold deviation all read this set): a withheld dose included.
DOSE_BLOCKING = frozenset({"stop", "pause-trial", "hold-dosing", "withhold-dose"})
PAUSING = frozenset({"stop", "pause-trial"})
ACTIVE_TRIAL_STATUSES = tuple(sorted(s.value for s in lifecycle.ACTIVE))
# Rules that would fire again every day while the condition lasts: one open alert is enough.
DEDUPLICATED = frozenset({"missed-diary-days", "pain-flare", "persistent-perceptual-disturbance"})
# Hours an urgent alert may stay unacknowledged before it is escalated, unless the site says.
DEFAULT_ESCALATE_AFTER_HOURS = 24
Q = TypeVar("Q", bound=Select[Any])
# The list filters: which alerts by acknowledgement, and the catalog's severities.
ALERT_STATES = ("open", "acknowledged", "all")
SEVERITIES: tuple[str, ...] = get_args(AlertSeverity)
ALERT_LISTING = Listing.of(
    AlertRow, "id", "created_at", "severity", "code", default="-id", patient=PatientRow.study_code
)


class AlertRead(ReadModel):
    """A stored alert."""

    id: int
    site_id: int
    patient_id: int
    trial_id: int | None
    code: str
    severity: str
    action: str
    message: str
    source: str
    trigger: dict[str, Any]
    created_at: dt.datetime
    acknowledged_at: dt.datetime | None
    acknowledged_by: str | None
    acknowledgement_note: str | None
    escalated_at: dt.datetime | None = None


def active_trial(session: Session, patient_id: int) -> TrialRow | None:
    """The patient's scheduled, running or paused trial, if any."""
    return session.execute(
        select(TrialRow)
        .where(TrialRow.patient_id == patient_id, TrialRow.status.in_(ACTIVE_TRIAL_STATUSES))
        .order_by(TrialRow.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def active_trial_ids(session: Session, patient_ids: Iterable[int]) -> dict[int, int]:
    """Each patient's newest scheduled, running or paused trial id (patients without: absent)."""
    rows = session.execute(
        select(TrialRow.patient_id, TrialRow.id)
        .where(TrialRow.patient_id.in_(set(patient_ids)))
        .where(TrialRow.status.in_(ACTIVE_TRIAL_STATUSES))
        .order_by(TrialRow.id)
    )
    return {row.patient_id: row.id for row in rows}


def raise_alerts(
    session: Session,
    actor: Actor,
    patient: PatientRow,
    alerts: Iterable[Alert],
    *,
    trigger: dict[str, Any],
    now: dt.datetime,
) -> list[AlertRow]:
    """Store alerts and apply their actions: a pausing alert pauses the running trial."""
    trial = active_trial(session, patient.id)
    stored: list[AlertRow] = []
    for alert in alerts:
        if alert.code in DEDUPLICATED and _open_alert(session, patient.id, alert.code):
            continue
        row = AlertRow(
            site_id=patient.site_id,
            patient_id=patient.id,
            trial_id=trial.id if trial else None,
            code=alert.code,
            severity=alert.severity,
            action=alert.action,
            message=alert.message + (f" ({alert.detail})" if alert.detail else ""),
            source="; ".join(alert.sources),
            trigger=trigger,
            created_at=now,
        )
        add_audited(
            session, actor, row, patient, "alert", at=now, code=alert.code, action=alert.action
        )
        stored.append(row)
        if trial is not None and alert.action in PAUSING and trial.status == TrialStatus.RUNNING:
            mark_paused(trial, f"paused by alert {alert.code}", patient_today(patient, now))
            audit_patient(session, actor, "pause", "trial", trial.id, patient, at=now, alert=row.id)
    return stored


class Caused(NamedTuple):
    """An alert a rule raised for a named cause, with who raised it and what set it off."""

    actor: Actor
    patient: PatientRow
    cause: Cause
    trigger: dict[str, Any]


def raise_caused(session: Session, caused: Iterable[Caused], now: dt.datetime) -> list[AlertRow]:
    """Raise each alert whose cause is not stored yet for its patient (a cause raises once)."""
    found = list(caused)
    if not found:
        return []
    seen = _stored_causes(session, {c.patient.id for c in found})
    raised: list[AlertRow] = []
    for actor, patient, cause, trigger in found:
        if (patient.id, cause.cause) in seen:
            continue
        seen.add((patient.id, cause.cause))
        with_cause = {**trigger, "cause": cause.cause}
        raised += raise_alerts(session, actor, patient, [cause.alert], trigger=with_cause, now=now)
    return raised


def _stored_causes(session: Session, patient_ids: Iterable[int]) -> set[tuple[int, str]]:
    """(patient, cause) of every stored alert that names its cause."""
    rows = session.execute(
        select(AlertRow.patient_id, AlertRow.trigger).where(
            AlertRow.patient_id.in_(set(patient_ids))
        )
    )
    return {
        (pid, str(trigger["cause"]))
        for pid, trigger in rows
        if isinstance(trigger, dict) and "cause" in trigger
    }


def mark_paused(trial: TrialRow, reason: str, today: dt.date) -> None:
    """Set a trial paused from ``today`` (the calendar shifts when it resumes)."""
    trial.status = lifecycle.next_status(trial.status, TrialAction.PAUSE).value
    trial.status_reason = reason
    trial.plan = TrialPlan.from_json(trial.plan).paused(today).to_json()
    trial.lock_version += 1


def dose_holds(session: Session, patient_id: int) -> list[AlertRow]:
    """Open alerts that forbid taking a dose (oldest first)."""
    return [a for a in open_alerts(session, patient_id) if a.action in DOSE_BLOCKING]


def open_alerts(session: Session, patient_id: int) -> list[AlertRow]:
    """The patient's unacknowledged alerts, oldest first."""
    return patient_rows(session, AlertRow, patient_id, AlertRow.acknowledged_at.is_(None))


def blocks_resume(alert: AlertRow) -> bool:
    """Whether an open alert must be acknowledged before its patient's trial starts or resumes."""
    return alert.action in DOSE_BLOCKING or alert.severity == "urgent"


def ends_trial(alert: AlertRow, trial: TrialRow) -> bool:
    """Whether ``alert`` ends ``trial`` for good: a stop-for-good rule (``ends_trial`` in
    catalog/alerts.yaml) raised during it (alerts before scheduling carry no trial)."""
    if alert.code not in trial_ending_codes():
        return False
    if alert.trial_id is None:
        return alert.created_at >= trial.created_at
    return alert.trial_id == trial.id


def start_blockers(session: Session, trial: TrialRow) -> list[AlertRow]:
    """The alerts that keep ``trial`` from starting or resuming, oldest first: its patient's
    open holding or urgent alerts, and any alert that ends the trial for good (acknowledged
    too: a clinician's review does not undo a stop for good)."""
    return _blocking(patient_rows(session, AlertRow, trial.patient_id), trial)


def _blocking(alerts: Iterable[AlertRow], trial: TrialRow) -> list[AlertRow]:
    """Of a patient's ``alerts``, those that keep ``trial`` from starting or resuming."""
    return [
        a
        for a in alerts
        if (a.acknowledged_at is None and blocks_resume(a)) or ends_trial(a, trial)
    ]


# Why a trial's patient may take no capsule now (``dosing_hold``), worded for the pharmacy without
# any clinical detail: unblinded staff see it, and an alert's code or message is an outcome.
HOLD_ENDED = "ended"  # completed, unblinded or withdrawn
HOLD_ALERT = "alert"  # an alert that keeps the trial from starting or resuming
HOLD_PAUSED = "trial-paused"  # (a hold code, not the status itself)


def dosing_hold(session: Session, trial: TrialRow) -> str | None:
    """Why ``trial``'s patient may not take a capsule now (None: nothing stops them): the trial
    ended or was withdrawn, an alert that would refuse Start and Resume stands (the test of
    :func:`start_blockers`), or it is paused."""
    return dosing_holds(session, [trial])[trial.id]


def dosing_holds(session: Session, trials: Sequence[TrialRow]) -> dict[int, str | None]:
    """:func:`dosing_hold` of each trial by id, their patients' alerts read in one query."""
    alerts: dict[int, list[AlertRow]] = {}
    if trials:
        query = select(AlertRow).where(AlertRow.patient_id.in_({t.patient_id for t in trials}))
        for alert in session.execute(query.order_by(AlertRow.id)).scalars():
            alerts.setdefault(alert.patient_id, []).append(alert)
    return {t.id: _hold(t, _blocking(alerts.get(t.patient_id, []), t)) for t in trials}


def _hold(trial: TrialRow, blockers: list[AlertRow]) -> str | None:
    if trial.status not in lifecycle.OPEN:
        return HOLD_ENDED
    if blockers:
        return HOLD_ALERT
    if trial.status == TrialStatus.PAUSED:
        return HOLD_PAUSED
    return None


def _reach(
    session: Session, actor: Actor, query: Q, patient_id: int | None
) -> tuple[Q, int | None]:
    """``query`` confined to one patient's alerts (if in reach) or to the actor's site's, and
    the site the list is audited under."""
    if patient_id is not None:
        patient = patient_for(session, actor, patient_id)
        return query.where(AlertRow.patient_id == patient.id), patient.site_id
    return scoped(query, actor, Action.LIST_ALERTS, AlertRow.site_id), actor.site_id


def list_alerts(
    db: Database,
    actor: Actor,
    *,
    patient_id: int | None = None,
    open_only: bool = True,
    clock: Clock = system_clock,
) -> list[AlertRead]:
    """Alerts of the actor's site (or of one patient), newest first."""
    with UnitOfWork(db, actor, Action.LIST_ALERTS, clock=clock) as (session, now):
        query, site_id = _reach(
            session, actor, select(AlertRow).order_by(AlertRow.id.desc()), patient_id
        )
        if open_only:
            query = query.where(AlertRow.acknowledged_at.is_(None))
        rows = [AlertRead.model_validate(r) for r in session.execute(query).scalars()]
        ids = [r.id for r in rows]
        audit_list(session, actor, "alert", ids, at=now, site_id=site_id, patient_id=patient_id)
        return rows


class ListedAlert(AlertRead):
    """An alert with its patient's study code (lists and the escalation banner)."""

    study_code: str


def _listed(row: AlertRow, study_code: str) -> ListedAlert:
    fields = AlertRead.model_validate(row).model_dump()
    return ListedAlert.model_validate({**fields, "study_code": study_code})


def alert_page(
    db: Database,
    actor: Actor,
    request: ListRequest,
    *,
    patient_id: int | None = None,
    state: str = "open",
    severity: str = "",
    clamp: bool = False,
    escalated_first: bool = False,
    clock: Clock = system_clock,
) -> Paged[ListedAlert]:
    """One page of the site's (or one patient's) alerts, filtered and sorted in SQL (audited).

    ``escalated_first`` puts the actor's site's escalated alerts (urgent, unacknowledged too
    long) before the requested order, oldest first, as the clinic's alert page shows them.
    """
    work = UnitOfWork(db, actor, Action.LIST_ALERTS, clock=clock)
    check_choice("state", state, ALERT_STATES)
    check_choice("severity", severity, SEVERITIES)
    with work as (session, now):
        query, site_id = _reach(
            session,
            actor,
            select(AlertRow, PatientRow.study_code).join(
                PatientRow, PatientRow.id == AlertRow.patient_id
            ),
            patient_id,
        )
        if state == "open":
            query = query.where(AlertRow.acknowledged_at.is_(None))
        elif state == "acknowledged":
            query = query.where(AlertRow.acknowledged_at.is_not(None))
        if severity:
            query = query.where(AlertRow.severity == severity)
        lead = _escalated_first(session, actor, now) if escalated_first else ()
        rows, info = fetch_page(session, query, request, ALERT_LISTING, clamp=clamp, lead=lead)
        items = [_listed(row, code) for row, code in rows]
        audit_list(
            session,
            actor,
            "alert",
            [a.id for a in items],
            at=now,
            site_id=site_id,
            patient_id=patient_id,
            total=info.total,
            offset=info.offset,
        )
        return Paged(items, info)


def acknowledge_alert(
    db: Database, actor: Actor, alert_id: int, note: str, *, clock: Clock = system_clock
) -> AlertRead:
    """A clinician acknowledges an alert with a note (audited)."""
    work = UnitOfWork(db, actor, Action.ACKNOWLEDGE_ALERT, clock=clock)
    with work.needs_text("note", note, "an acknowledgement needs a note") as (session, now):
        row = row_by_id(session, AlertRow, alert_id)
        if row is None:
            raise NotFound(f"alert: no alert {alert_id}")
        patient = patient_for(session, actor, row.patient_id, missing=f"alert: no alert {alert_id}")
        if row.acknowledged_at is not None:
            raise ConflictError(f"alert: {alert_id} is already acknowledged")
        acknowledge_rows(session, actor, [row], note, now, patient)
        return AlertRead.model_validate(row)


def acknowledge_rows(
    session: Session,
    actor: Actor,
    rows: Sequence[AlertRow],
    note: str,
    now: dt.datetime,
    patient: PatientRow,
) -> None:
    """Mark alerts acknowledged inside an open transaction, one audit event each."""
    if not allows(actor, Action.ACKNOWLEDGE_ALERT):
        raise PermissionDenied("only clinicians acknowledge alerts", actor=actor)
    for row in rows:
        row.acknowledged_at = now
        row.acknowledged_by_user_id = actor.user_id
        row.acknowledged_by = actor.label
        row.acknowledgement_note = note.strip()
        audit_patient(
            session, actor, "acknowledge", "alert", row.id, patient, at=now, code=row.code
        )


def _open_alert(session: Session, patient_id: int, code: str) -> bool:
    return (
        session.execute(
            select(AlertRow.id).where(
                AlertRow.patient_id == patient_id,
                AlertRow.code == code,
                AlertRow.acknowledged_at.is_(None),
            )
        ).first()
        is not None
    )


def _overdue(site: SiteRow, now: dt.datetime) -> ColumnElement[bool]:
    """The site's urgent alerts unacknowledged for longer than it allows (SQL condition)."""
    hours = site.escalate_after_hours or DEFAULT_ESCALATE_AFTER_HOURS
    return and_(
        AlertRow.site_id == site.id,
        AlertRow.severity == "urgent",
        AlertRow.acknowledged_at.is_(None),
        AlertRow.created_at <= now - dt.timedelta(hours=hours),
    )


def _escalated_first(session: Session, actor: Actor, now: dt.datetime) -> tuple[Any, ...]:
    """Order keys putting the actor's site's escalated alerts first, oldest first."""
    site = session.get(SiteRow, actor.site_id) if actor.site_id is not None else None
    if site is None:
        return ()
    overdue = _overdue(site, now)
    return (case((overdue, 0), else_=1), case((overdue, AlertRow.id), else_=0))


def overdue_query(site: SiteRow, now: dt.datetime) -> Select[tuple[AlertRow]]:
    """The site's urgent alerts unacknowledged for longer than it allows, oldest first."""
    return select(AlertRow).where(_overdue(site, now)).order_by(AlertRow.created_at, AlertRow.id)


class OverdueAlert(ListedAlert):
    """An escalated alert with its patient's study code, for the banner on clinician pages."""


def overdue_alerts(
    db: Database, actor: Actor, *, clock: Clock = system_clock
) -> list[OverdueAlert]:
    """Escalated alerts of the actor's site (urgent, unacknowledged too long), oldest first."""
    work = UnitOfWork(db, actor, Action.LIST_ALERTS, clock=clock)
    if actor.site_id is None or not sees_site(actor, Action.LIST_ALERTS, actor.site_id):
        return []
    with work as (session, now):
        site = session.get(SiteRow, actor.site_id)
        if site is None:
            return []
        found = session.execute(
            overdue_query(site, now)
            .join(PatientRow, PatientRow.id == AlertRow.patient_id)
            .add_columns(PatientRow.study_code)
        ).all()
        rows = [OverdueAlert.model_validate(_listed(r, c).model_dump()) for r, c in found]
        if rows:  # shown on every page: audited only when there is something to show
            ids = [r.id for r in rows]
            audit_list(session, actor, "alert", ids, at=now, site_id=site.id, escalated=True)
        return rows
