"""The alert sweep: the rules that time alone sets off, and escalation of urgent alerts.

Missed diary days and a grade-2 adverse event that goes on are noticed by no new entry, so a
sweep looks for them, one site at a time. It is safe to run any number of times: every alert
it raises names its cause (the first missed day, the adverse-event episode) and a cause already
stored raises nothing. Urgent alerts left unacknowledged longer than the site allows (default
24 h) are marked escalated once; the caller e-mails the site's clinicians about those.
The server runs it once per site and day (claimed in ``sweep_runs``); ``microtrial alerts
sweep`` runs it for cron.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from microtrial.domain.access import Action, Scope, allowed_roles
from microtrial.domain.actors import Actor, system_actor
from microtrial.domain.alerts import check_missed_diary_days
from microtrial.domain.lifecycle import TrialStatus
from microtrial.domain.trend_rules import Cause
from microtrial.errors import NotFound
from microtrial.services.adaptive_looks import looks_for_site
from microtrial.services.alerts import AlertRead, Caused, overdue_query, raise_caused
from microtrial.services.common import Clock, audit_patient, patient_today, system_clock
from microtrial.services.diary_rules import ongoing_grade2_causes
from microtrial.services.unit import UnitOfWork
from microtrial.store.db import Database
from microtrial.store.models import (
    AlertRow,
    DiaryEntryRow,
    PatientRow,
    SiteRow,
    SweepRunRow,
    TrialRow,
    UserRow,
)


@dataclass
class SiteSweep:
    """What one site's sweep did: alerts raised, alerts escalated and whom to tell."""

    site_code: str
    day: dt.date
    ran: bool = True  # False: another worker had already claimed this site and day
    raised: list[AlertRead] = field(default_factory=list)
    escalated: list[AlertRead] = field(default_factory=list)
    recipients: list[str] = field(default_factory=list)  # the site's clinicians' e-mail
    looks: int = 0  # interim looks of adaptive trials made (services/adaptive.py)


def sweep_alerts(
    db: Database,
    actor: Actor,
    *,
    site_code: str | None = None,
    clock: Clock = system_clock,
) -> list[SiteSweep]:
    """Sweep the actor's site now (the operator: every site, or ``site_code``)."""
    work = UnitOfWork(db, actor, Action.SWEEP_ALERTS, clock=clock)
    with work as (session, now):
        query = select(SiteRow.id).order_by(SiteRow.id)
        if work.scope is not Scope.ALL:
            query = query.where(SiteRow.id == actor.site_id)
        if site_code is not None:
            query = query.where(SiteRow.code == site_code)
        site_ids = list(session.execute(query).scalars())
    if site_code is not None and not site_ids:
        raise NotFound(f"site: no site {site_code!r}")
    results = []
    for site_id in site_ids:
        with db.transaction() as session:
            site = session.get_one(SiteRow, site_id)
            results.append(sweep_site(session, actor, site, now))
        # Adaptive trials: look at every pair that has ended (each fitted outside a transaction).
        results[-1].looks += looks_for_site(db, actor, site_id, now)
    return results


def run_daily_sweeps(db: Database, *, clock: Clock = system_clock) -> list[SiteSweep]:
    """Sweep every site not yet swept today (UTC day), claiming each run in ``sweep_runs``.

    The claim and the sweep share one transaction: a second worker waits at the unique
    (site, day) index until the first commits and then skips, so a site is swept once a day.
    """
    actor = system_actor("sweep")
    now = clock()
    day = now.date()
    with db.transaction() as session:
        site_ids = list(session.execute(select(SiteRow.id).order_by(SiteRow.id)).scalars())
    results = []
    for site_id in site_ids:
        try:
            with db.transaction() as session:
                site = session.get_one(SiteRow, site_id)
                claimed = session.execute(
                    select(SweepRunRow.id).where(
                        SweepRunRow.site_id == site_id, SweepRunRow.day == day
                    )
                ).first()
                if claimed is not None:
                    results.append(SiteSweep(site.code, day, ran=False))
                    continue
                run = SweepRunRow(site_id=site_id, day=day, started_at=now)
                session.add(run)
                session.flush()
                result = sweep_site(session, actor, site, now)
                run.raised, run.escalated = len(result.raised), len(result.escalated)
                results.append(result)
        except IntegrityError:  # another worker claimed it between our read and insert
            results.append(SiteSweep(str(site_id), day, ran=False))
            continue
        if results[-1].ran:  # adaptive looks, each fitted outside a transaction
            results[-1].looks += looks_for_site(db, actor, site_id, now)
    return results


def sweep_site(session: Session, actor: Actor, site: SiteRow, now: dt.datetime) -> SiteSweep:
    """One site's sweep inside the caller's transaction."""
    result = SiteSweep(site.code, now.date())
    running = session.execute(
        select(TrialRow, PatientRow)
        .join(PatientRow, PatientRow.id == TrialRow.patient_id)
        .where(PatientRow.site_id == site.id, TrialRow.status == TrialStatus.RUNNING.value)
    ).all()
    patients = {patient.id: patient for _, patient in running}
    found = ongoing_grade2_causes(session, patients, now)
    for pid, cause in _missed_diaries(session, [(t, p) for t, p in running], now):
        found.setdefault(pid, []).append(cause)
    trigger = {"sweep": now.date().isoformat()}
    caused = [Caused(actor, patients[pid], c, trigger) for pid, cs in found.items() for c in cs]
    result.raised += [AlertRead.model_validate(r) for r in raise_caused(session, caused, now)]
    result.escalated, result.recipients = escalate_site(session, actor, site, now)
    return result


def escalate_due(db: Database, *, clock: Clock = system_clock) -> list[SiteSweep]:
    """Escalate every site's overdue urgent alerts not escalated yet (each exactly once)."""
    actor = system_actor("sweep")
    now = clock()
    with db.transaction() as session:
        site_ids = list(session.execute(select(SiteRow.id).order_by(SiteRow.id)).scalars())
    results = []
    for site_id in site_ids:
        with db.transaction() as session:
            site = session.get_one(SiteRow, site_id)
            escalated, recipients = escalate_site(session, actor, site, now)
            if escalated:
                results.append(SiteSweep(site.code, now.date(), True, [], escalated, recipients))
    return results


def escalate_site(
    session: Session, actor: Actor, site: SiteRow, now: dt.datetime
) -> tuple[list[AlertRead], list[str]]:
    """Mark the site's overdue urgent alerts escalated; those alerts and whom to e-mail."""
    escalated = _escalate(session, actor, site, now)
    recipients: list[str] = []
    if escalated:
        recipients = [
            email
            for email in session.execute(
                select(UserRow.email)
                .where(
                    UserRow.site_id == site.id,
                    # those who can act on an alert: the roles that may acknowledge one
                    UserRow.role.in_(sorted(allowed_roles(Action.ACKNOWLEDGE_ALERT))),
                    UserRow.is_active.is_(True),
                    UserRow.email.is_not(None),
                )
                .order_by(UserRow.id)
            ).scalars()
            if email
        ]
    return escalated, recipients


def _missed_diaries(
    session: Session, running: list[tuple[TrialRow, PatientRow]], now: dt.datetime
) -> list[tuple[int, Cause]]:
    """Patients whose diary stopped: the alert and its cause, the first missed day."""
    if not running:
        return []
    rows = session.execute(
        select(DiaryEntryRow.patient_id, DiaryEntryRow.local_date)
        .where(
            DiaryEntryRow.patient_id.in_({p.id for _, p in running}),
            DiaryEntryRow.is_current.is_(True),
        )
        .distinct()
    )
    dates: dict[int, set[dt.date]] = {}
    for pid, day in rows:
        dates.setdefault(pid, set()).add(day)
    found = []
    for trial, patient in running:
        today = patient_today(patient, now)
        expected = trial.start_date or today
        for pause in trial.plan.get("pauses", []):  # days paused are not expected
            expected = max(expected, dt.date.fromisoformat(pause["to"]))
        entered = dates.get(patient.id, set())
        alert = check_missed_diary_days(entered, today, expected)
        if alert is None:
            continue
        first = today - dt.timedelta(days=1)
        while (
            first - dt.timedelta(days=1) >= expected and first - dt.timedelta(days=1) not in entered
        ):
            first -= dt.timedelta(days=1)
        found.append((patient.id, Cause(alert, f"{alert.code}:{first.isoformat()}")))
    return found


def _escalate(session: Session, actor: Actor, site: SiteRow, now: dt.datetime) -> list[AlertRead]:
    """Mark the site's overdue urgent alerts escalated (once each) and audit it."""
    rows = list(
        session.execute(
            overdue_query(site, now)
            .where(AlertRow.escalated_at.is_(None))
            # Another worker escalating the same alerts skips them (PostgreSQL; SQLite has
            # one writer at a time anyway): each alert is escalated, and e-mailed, once.
            .with_for_update(skip_locked=True)
        ).scalars()
    )
    if not rows:
        return []
    patients = {
        p.id: p
        for p in session.execute(
            select(PatientRow).where(PatientRow.id.in_({r.patient_id for r in rows}))
        ).scalars()
    }
    for row in rows:
        row.escalated_at = now
        audit_patient(session, actor, "escalate", "alert", row.id, patients[row.patient_id], at=now)
    return [AlertRead.model_validate(r) for r in rows]
