"""The clinician's worklist: the site's patients ordered by urgency, searchable and paged.

Urgency tiers, most urgent first (computed in SQL, so that paging is done by the database):

0. an open urgent alert (the oldest first);
1. a dose hold (an open alert whose action forbids a capsule) or a paused trial;
2. a side effect awaiting review (an adverse event a patient reported that no clinician has
   confirmed, regraded or closed yet);
3. a missed diary (an open ``missed-diary-days`` alert, or no daily diary for
   ``MISSED_DIARY_DAYS`` days while a trial runs);
4. an overdue blinding guess (a finished period of a running or paused trial without one);
5. everyone else (by study code).

"Only patients needing action" (``open_alerts``) keeps those with an open alert or a side effect
awaiting review.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, case, exists, func, literal, literal_column, or_, select
from sqlalchemy.orm import Session

from microtrial.domain import lifecycle
from microtrial.domain.access import Action, Scope, authorize
from microtrial.domain.actors import Actor
from microtrial.domain.adverse_events import AWAITING_REVIEW
from microtrial.domain.catalog import load_catalog
from microtrial.domain.paging import ListRequest
from microtrial.errors import PermissionDenied, ValidationError
from microtrial.services.alerts import ACTIVE_TRIAL_STATUSES, DOSE_BLOCKING
from microtrial.services.common import Clock, audit_list, patient_today, scoped, system_clock
from microtrial.services.paging import Listing, fetch_page
from microtrial.services.reminder_settings import reminder_states
from microtrial.services.schemas import ReadModel
from microtrial.store.db import Database
from microtrial.store.models import (
    AdverseEventRow,
    AlertRow,
    BlindingGuessRow,
    ConditionRow,
    DiaryEntryRow,
    PatientRow,
    PeriodRow,
    TrialRow,
)

MISSED_DIARY_DAYS = 3  # as the missed-diary-days rule (catalog/alerts.yaml)
TREND_DAYS = 7
TREND_MIN_ENTRIES = 3  # fewer entries in either week: no trend
TREND_POINTS = 1.0  # a change of at least one point on the 0-10 scale counts
PAGE_SIZES = (10, 20, 50, 100)
DEFAULT_PAGE_SIZE = 20
NO_TRIAL = "none"
# Filter choices for the trial status (a patient's newest trial), in lifecycle order.
STATUS_CHOICES = (*(s.value for s in lifecycle.TrialStatus), NO_TRIAL)
URGENCY_REASONS = (
    "open urgent alert",
    "dose hold",
    "side effect awaiting review",
    "missed diary",
    "blinding guess overdue",
    "",
)
WORKLIST_LISTING = Listing(
    {"study_code": PatientRow.study_code}, default="study_code", tie=PatientRow.id
)
RUNNING_STATES = (lifecycle.TrialStatus.RUNNING.value, lifecycle.TrialStatus.PAUSED.value)


class WorklistQuery(ReadModel):
    """What the clinician asked for: search text, filters, page."""

    search: str = ""
    status: str = ""  # a trial status, "none" (no trial) or "" (any)
    open_alerts: bool = (
        False  # only patients needing action: an open alert or a side effect to review
    )
    page: int = 1
    page_size: int = DEFAULT_PAGE_SIZE


class PainTrend(ReadModel):
    """Mean daily average pain over the last 7 days against the 7 before."""

    recent: float | None
    before: float | None
    direction: str  # "worse", "better", "same" or "unknown"
    words: str


class WorklistRow(ReadModel):
    """One patient on the worklist."""

    id: int
    study_code: str
    birth_year: int
    sex: str
    tier: int
    reason: str
    open_alerts: int
    urgent_alerts: int
    oldest_urgent_at: dt.datetime | None
    trial_id: int | None
    trial_status: str | None
    conditions: list[str]
    current_period: int | None
    period_count: int | None
    last_entry: dt.date | None
    pain: PainTrend
    reminders: str = "off"  # the patient's reminders: on, paused or off
    # Side effects the patient reported that await a clinician's review: how many, the oldest
    # onset, and since when the longest-waiting one has waited.
    awaiting_review: int = 0
    awaiting_oldest_onset: dt.date | None = None
    awaiting_since: dt.datetime | None = None


class WorklistPage(ReadModel):
    """One page of the worklist with its totals."""

    rows: list[WorklistRow]
    total: int
    page: int
    page_size: int
    pages: int
    query: WorklistQuery


def check_query(query: WorklistQuery) -> WorklistQuery:
    """The query with its fields checked (ValidationError naming the field otherwise)."""
    if query.status and query.status not in STATUS_CHOICES:
        raise ValidationError(
            "status", "unknown trial status", value=query.status, allowed=list(STATUS_CHOICES)
        )
    if query.page_size not in PAGE_SIZES:
        raise ValidationError(
            "page_size",
            "choose a listed page size",
            value=query.page_size,
            allowed=[str(s) for s in PAGE_SIZES],
        )
    if query.page < 1:
        raise ValidationError("page", "pages start at 1", value=query.page, allowed=">= 1")
    return query.model_copy(update={"search": query.search.strip()[:40]})


def condition_name(code: str) -> str:
    """The catalog's name of the condition an ICD-10-CM code stands for, with the code."""
    condition = load_catalog().condition_by_code(code)
    if condition is None:
        return f"{code} (not in the catalog)"
    return f"{condition.title} ({code})"


def pain_trend(points: Sequence[tuple[dt.date, float]], today: dt.date) -> PainTrend:
    """Compare the mean pain of the last 7 days with the 7 before, in words."""
    start = today - dt.timedelta(days=TREND_DAYS - 1)
    earlier = start - dt.timedelta(days=TREND_DAYS)
    recent = [v for d, v in points if start <= d <= today]
    before = [v for d, v in points if earlier <= d < start]
    if len(recent) < TREND_MIN_ENTRIES or len(before) < TREND_MIN_ENTRIES:
        mean = round(statistics.fmean(recent), 1) if recent else None
        return PainTrend(recent=mean, before=None, direction="unknown", words="too few entries")
    now, then = round(statistics.fmean(recent), 1), round(statistics.fmean(before), 1)
    change = now - then
    if change >= TREND_POINTS:
        direction, words = "worse", f"worse: {then:g} to {now:g}"
    elif change <= -TREND_POINTS:
        direction, words = "better", f"better: {then:g} to {now:g}"
    else:
        direction, words = "same", f"about the same: {then:g} to {now:g}"
    return PainTrend(recent=now, before=then, direction=direction, words=words)


def _newest_trial() -> Any:
    """The id of each patient's newest trial (correlated)."""
    return (
        select(func.max(TrialRow.id))
        .where(TrialRow.patient_id == PatientRow.id)
        .correlate(PatientRow)
        .scalar_subquery()
    )


def _awaiting_review() -> ColumnElement[bool]:
    """Whether the patient has an adverse event awaiting a clinician's review (correlated)."""
    a = AdverseEventRow
    return exists().where(
        a.patient_id == PatientRow.id, a.is_current.is_(True), a.status == AWAITING_REVIEW
    )


def _tier(today: dt.date) -> tuple[ColumnElement[Any], ColumnElement[Any]]:
    """The urgency tier of each patient and the age of their oldest open urgent alert (SQL)."""
    open_alert = and_(AlertRow.patient_id == PatientRow.id, AlertRow.acknowledged_at.is_(None))
    oldest_urgent = (
        select(func.min(AlertRow.created_at))
        .where(open_alert, AlertRow.severity == "urgent")
        .correlate(PatientRow)
        .scalar_subquery()
    )
    held = or_(
        exists().where(open_alert, AlertRow.action.in_(sorted(DOSE_BLOCKING))),
        exists().where(
            TrialRow.patient_id == PatientRow.id,
            TrialRow.status == lifecycle.TrialStatus.PAUSED.value,
        ),
    )
    running = and_(
        TrialRow.patient_id == PatientRow.id,
        TrialRow.status == lifecycle.TrialStatus.RUNNING.value,
    )
    last_diary = (
        select(func.max(DiaryEntryRow.local_date))
        .where(
            DiaryEntryRow.patient_id == PatientRow.id,
            DiaryEntryRow.instrument_id == "daily_diary",
            DiaryEntryRow.is_current.is_(True),
        )
        .correlate(PatientRow)
        .scalar_subquery()
    )
    cutoff = today - dt.timedelta(days=MISSED_DIARY_DAYS)
    missed = or_(
        exists().where(open_alert, AlertRow.code == "missed-diary-days"),
        and_(exists().where(running), or_(last_diary.is_(None), last_diary <= cutoff)),
    )
    guess_overdue = exists().where(
        PeriodRow.trial_id == TrialRow.id,
        TrialRow.patient_id == PatientRow.id,
        TrialRow.status.in_(RUNNING_STATES),
        PeriodRow.end_date < today,
        ~exists().where(
            BlindingGuessRow.period_id == PeriodRow.id, BlindingGuessRow.is_current.is_(True)
        ),
    )
    tier = case(
        (oldest_urgent.is_not(None), 0),
        (held, 1),
        (_awaiting_review(), 2),
        (missed, 3),
        (guess_overdue, 4),
        else_=5,
    )
    return tier, oldest_urgent


def worklist(
    db: Database, actor: Actor, query: WorklistQuery, *, clock: Clock = system_clock
) -> WorklistPage:
    """One page of the actor's site's patients, most urgent first (audited as a list read)."""
    if authorize(actor, Action.LIST_PATIENTS) is not Scope.SITE:
        raise PermissionDenied("the worklist is for site staff", actor=actor)
    query = check_query(query)
    now = clock()
    tier, oldest_urgent = _tier(now.date())
    newest = _newest_trial()
    status = select(TrialRow.status).where(TrialRow.id == newest).scalar_subquery()
    base = scoped(
        select(PatientRow.id, tier.label("tier"), oldest_urgent.label("oldest")),
        actor,
        Action.LIST_PATIENTS,
        PatientRow.site_id,
    )
    if query.search:
        wanted = query.search.lower()
        base = base.where(func.lower(PatientRow.study_code).contains(wanted, autoescape=True))
    if query.status == NO_TRIAL:
        base = base.where(newest.is_(None))
    elif query.status:
        base = base.where(status == query.status)
    if query.open_alerts:
        base = base.where(
            or_(
                exists().where(
                    AlertRow.patient_id == PatientRow.id, AlertRow.acknowledged_at.is_(None)
                ),
                _awaiting_review(),
            )
        )
    with db.transaction() as session:
        # Urgency first (tier, then the oldest open urgent alert), then by study code.
        lead: tuple[ColumnElement[Any], ...] = (
            literal_column("tier"),
            case((oldest_urgent.is_(None), literal(1)), else_=literal(0)),
            oldest_urgent,
        )
        request = ListRequest(offset=(query.page - 1) * query.page_size, size=query.page_size)
        found, info = fetch_page(session, base, request, WORKLIST_LISTING, clamp=True, lead=lead)
        total, pages, page = info.total, info.pages, info.page
        rows = _rows(session, [(r.id, r.tier, r.oldest) for r in found], now)
        audit_list(
            session,
            actor,
            "patient",
            [r.id for r in rows],
            at=now,
            site_id=actor.site_id,
            view="worklist",
            total=total,
            page=page,
        )
        return WorklistPage(
            rows=rows,
            total=total,
            page=page,
            page_size=query.page_size,
            pages=pages,
            query=query.model_copy(update={"page": page}),
        )


def _rows(
    session: Session, found: list[tuple[int, int, dt.datetime | None]], now: dt.datetime
) -> list[WorklistRow]:
    """Details of one page's patients (a handful of queries for the whole page)."""
    ids = [pid for pid, _, _ in found]
    patients = {
        p.id: p for p in session.execute(select(PatientRow).where(PatientRow.id.in_(ids))).scalars()
    }
    alerts: dict[int, tuple[int, int]] = defaultdict(lambda: (0, 0))
    for pid, severity, count in session.execute(
        select(AlertRow.patient_id, AlertRow.severity, func.count(AlertRow.id))
        .where(AlertRow.patient_id.in_(ids), AlertRow.acknowledged_at.is_(None))
        .group_by(AlertRow.patient_id, AlertRow.severity)
    ).tuples():
        total, urgent = alerts[pid]
        alerts[pid] = (total + count, urgent + (count if severity == "urgent" else 0))
    trials: dict[int, TrialRow] = {}
    for row in session.execute(
        select(TrialRow).where(TrialRow.patient_id.in_(ids)).order_by(TrialRow.id)
    ).scalars():
        trials[row.patient_id] = row  # the newest wins
    periods: dict[int, list[PeriodRow]] = defaultdict(list)
    for period in session.execute(
        select(PeriodRow)
        .where(PeriodRow.trial_id.in_([t.id for t in trials.values()]))
        .order_by(PeriodRow.number)
    ).scalars():
        periods[period.trial_id].append(period)
    conditions: dict[int, list[str]] = defaultdict(list)
    for pid, code in session.execute(
        select(ConditionRow.patient_id, ConditionRow.icd10_code)
        .where(
            ConditionRow.patient_id.in_(ids),
            ConditionRow.is_current.is_(True),
            ConditionRow.status == "active",
        )
        .order_by(ConditionRow.id)
    ).tuples():
        conditions[pid].append(condition_name(code))
    earliest = now.date() - dt.timedelta(days=2 * TREND_DAYS + 1)
    pain: dict[int, list[tuple[dt.date, float]]] = defaultdict(list)
    for pid, day, answers in session.execute(
        select(DiaryEntryRow.patient_id, DiaryEntryRow.local_date, DiaryEntryRow.answers).where(
            DiaryEntryRow.patient_id.in_(ids),
            DiaryEntryRow.instrument_id == "daily_diary",
            DiaryEntryRow.is_current.is_(True),
            DiaryEntryRow.local_date >= earliest,
        )
    ).tuples():
        value = answers.get("average_pain")
        if isinstance(value, int | float):
            pain[pid].append((day, float(value)))
    newest_entry = (
        select(DiaryEntryRow.patient_id, func.max(DiaryEntryRow.local_date))
        .where(DiaryEntryRow.patient_id.in_(ids), DiaryEntryRow.is_current.is_(True))
        .group_by(DiaryEntryRow.patient_id)
    )
    last: dict[int, dt.date] = dict(list(session.execute(newest_entry).tuples()))
    reminders = reminder_states(session, ids)  # one query for the page
    a = AdverseEventRow
    awaiting = {
        pid: (count, onset, since)
        for pid, count, onset, since in session.execute(
            select(a.patient_id, func.count(a.id), func.min(a.onset_date), func.min(a.recorded_at))
            .where(a.patient_id.in_(ids), a.is_current.is_(True), a.status == AWAITING_REVIEW)
            .group_by(a.patient_id)
        ).tuples()
    }
    out = []
    for pid, tier, oldest in found:
        patient = patients[pid]
        today = patient_today(patient, now)
        trial = trials.get(pid)
        own = periods.get(trial.id, []) if trial is not None else []
        current = next((p.number for p in own if p.start_date <= today <= p.end_date), None)
        if trial is not None and trial.status not in ACTIVE_TRIAL_STATUSES:
            current = None
        total, urgent = alerts[pid]
        waiting, onset, since = awaiting.get(pid, (0, None, None))
        out.append(
            WorklistRow(
                id=pid,
                study_code=patient.study_code,
                birth_year=patient.birth_year,
                sex=patient.sex,
                tier=tier,
                reason=URGENCY_REASONS[tier],
                open_alerts=total,
                urgent_alerts=urgent,
                oldest_urgent_at=oldest,
                trial_id=trial.id if trial else None,
                trial_status=trial.status if trial else None,
                conditions=conditions[pid],
                current_period=current,
                period_count=len(own) or None,
                last_entry=last.get(pid),
                pain=pain_trend(pain[pid], today),
                reminders=reminders.get(pid, "off"),
                awaiting_review=waiting,
                awaiting_oldest_onset=onset,
                awaiting_since=since,
            )
        )
    return out
