"""What the reports show, read once: typed read models the ``reports`` package renders.

The reports never open the database; the edges call these loaders and pass the result to
``reports.trial_report``, ``reports.cohort_report`` or ``reports.demo``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select

from microtrial.domain.actors import Actor, system_actor
from microtrial.domain.lifecycle import TrialStatus
from microtrial.services.adaptive import LookRead, interim_looks
from microtrial.services.adverse_events import AdverseEventRead, list_adverse_events
from microtrial.services.analysis import (
    CohortAnalysis,
    TrialAnalysis,
    analyse_trial,
    cohort_analysis,
)
from microtrial.services.common import Clock, system_clock
from microtrial.services.demo import DEMO_SITE, DEMO_SITE_NAME
from microtrial.services.records import DiaryEntryRead, list_diary_entries
from microtrial.services.trial_views import list_trials
from microtrial.store.db import Database
from microtrial.store.models import PatientRow, SiteRow

__all__ = [
    "CohortReportData",
    "DemoReportData",
    "ReportSource",
    "TrialReportData",
    "cohort_report_data",
    "demo_report_data",
    "is_demo_database",
    "trial_report_data",
]

# The storage handle the loaders read from, named here so that reports never import the store.
ReportSource = Database


@dataclass(frozen=True)
class TrialReportData:
    """One unblinded trial's analysis with the patient's diary entries and adverse events."""

    analysis: TrialAnalysis
    entries: tuple[DiaryEntryRead, ...]
    adverse_events: tuple[AdverseEventRead, ...]
    generated_at: dt.datetime
    simulated: bool = False  # the patient belongs to the demo clinic: simulated data
    looks: tuple[LookRead, ...] = ()  # an adaptive trial's interim looks (unblinded only)


@dataclass(frozen=True)
class CohortReportData:
    """The pooled, de-identified analysis of the unblinded trials an actor may see."""

    cohort: CohortAnalysis
    condition: str | None
    generated_at: dt.datetime
    simulated: bool = False  # the database holds the demo clinic: simulated data


@dataclass(frozen=True)
class DemoReportData:
    """The demo's sample reports: one unblinded trial (if any) and the whole cohort."""

    trial: TrialReportData | None
    cohort: CohortReportData


def trial_report_data(
    db: Database, actor: Actor, trial_id: int, *, clock: Clock = system_clock
) -> TrialReportData:
    """Analyse a trial and read its patient's entries and events (ConflictError while blinded)."""
    analysis = analyse_trial(db, actor, trial_id, clock=clock)
    entries = list_diary_entries(db, actor, analysis.trial.patient_id, clock=clock)
    events = list_adverse_events(db, actor, analysis.trial.patient_id, clock=clock)
    simulated = analysis.trial.patient_id in _demo_patient_ids(db)
    looks = interim_looks(db, actor, trial_id, clock=clock) if analysis.trial.adaptive else []
    return TrialReportData(
        analysis, tuple(entries), tuple(events), clock(), simulated, tuple(looks)
    )


def cohort_report_data(
    db: Database, actor: Actor, *, condition: str | None = None, clock: Clock = system_clock
) -> CohortReportData:
    """Pool the unblinded trials the actor may see, optionally of one condition group."""
    cohort = cohort_analysis(db, actor, condition_group=condition, clock=clock)
    return CohortReportData(cohort, condition, clock(), is_demo_database(db))


def is_demo_database(db: Database) -> bool:
    """Whether ``db`` holds the demo clinic (simulated data), as ``services.demo`` builds it."""
    return bool(_demo_site_ids(db))


def _demo_site_ids(db: Database) -> set[int]:
    """Ids of the demo clinic's site (code and name as ``services.demo`` creates it), if any."""
    with db.transaction() as session:
        query = select(SiteRow.id).where(SiteRow.code == DEMO_SITE, SiteRow.name == DEMO_SITE_NAME)
        return set(session.execute(query).scalars())


def _demo_patient_ids(db: Database) -> set[int]:
    """Ids of the patients of the demo clinic (none in a real clinic's database)."""
    sites = _demo_site_ids(db)
    if not sites:
        return set()
    with db.transaction() as session:
        query = select(PatientRow.id).where(PatientRow.site_id.in_(sites))
        return set(session.execute(query).scalars())


def demo_report_data(db: Database) -> DemoReportData:
    """The demo's report data: its first trial unblinded on schedule (else any unblinded one)."""
    actor = system_actor("demo")
    unblinded = [t for t in list_trials(db, actor) if t.status == TrialStatus.UNBLINDED]
    trial = None
    if unblinded:
        chosen = next((t for t in unblinded if not t.unblinded_early), unblinded[0])
        trial = trial_report_data(db, actor, chosen.id)
    return DemoReportData(trial, cohort_report_data(db, actor))
