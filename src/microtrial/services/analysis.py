"""From stored trials to the analysis engine's input, and back: per-trial and cohort results.

A trial is analysed only after unblinding (its analysis data are locked then). Cohort results
are de-identified: trials appear under a sequence label, with condition group but no patient
code, site, dates or free text.
"""

from __future__ import annotations

import datetime as dt
import warnings
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from microtrial.analysis import BlindingResult, PoolResult, blinding, fit_trials, pool
from microtrial.analysis.blinding import DONT_KNOW
from microtrial.analysis.completeness import Completeness, PeriodPlan, assess_completeness
from microtrial.analysis.describe import describe_cohort
from microtrial.analysis.pooling import TAU_SCALE_POINTS
from microtrial.domain.access import Action, authorize
from microtrial.domain.actors import Actor
from microtrial.domain.calendar import Adherence, Phase, summarise_adherence
from microtrial.domain.catalog import load_catalog
from microtrial.domain.lifecycle import TrialStatus
from microtrial.errors import ConflictError, StatisticalWarning, ValidationError
from microtrial.services.adverse_events import AdverseEventRead
from microtrial.services.common import Clock, audit, scoped, system_clock
from microtrial.services.dosing import adherence_through, dose_events
from microtrial.services.trial_loaders import allocation_of, calendar_for, load_trial
from microtrial.services.trial_views import TrialRead, read_trial
from microtrial.store.db import Database
from microtrial.store.models import (
    AdverseEventRow,
    BlindingGuessRow,
    ConditionRow,
    DiaryEntryRow,
    DoseEventRow,
    PatientRow,
    PeriodRow,
    TrialRow,
)

# Diary scores analysed per trial: (outcome name, daily_diary score id, higher is better).
OUTCOMES = (
    ("pain", "average_pain", False),
    ("worst_pain", "worst_pain", False),
    ("sleep", "sleep_quality", True),
)
OFF_PROTOCOL = (
    Phase.PAUSED.value
)  # the arm label of paused days: no arm, left out of every analysis
MCID_POINTS = 1.0  # REFERENCE.md C.3 (IMMPACT): 1 point on the 0-10 NRS
RELATIVE_MCID = 0.3  # IMMPACT: 30 % reduction is moderately important
# Condition primary endpoints analysed with the engine's discrete model, by their instrument:
# a migraine day is yes/no (binary), cluster attacks are counted per day (count). The value
# analysed is the instrument's catalog primary_score (migraine_day, attacks).
DISCRETE_ENDPOINTS = {"migraine_diary": "binary", "cluster_attack_log": "count"}


@dataclass(frozen=True)
class EndpointAnalysis:
    """A condition group's primary endpoint fitted with the binary or count model.

    ``days`` holds every calendar day with its ``arm`` (as in ``TrialAnalysis.days``) and the
    analysed ``value`` (NaN = missing) and its ``source``: ``entry`` (the instrument's entry of
    the day), ``diary`` (no entry, but the daily diary was kept: counted as 0) or ``none``.
    ``result`` is the engine's row (``fit_trials`` columns) or {} with ``reason`` saying why not.
    """

    endpoint_id: str
    description: str
    instrument: str
    score: str
    outcome_type: str
    entries: int
    days: pd.DataFrame
    result: dict[str, Any] = field(default_factory=dict)
    reason: str = ""


@dataclass(frozen=True)
class TrialAnalysis:
    """Everything a trial report shows, computed by the analysis engine."""

    trial: TrialRead
    conditions: list[str]
    condition_group: str | None
    days: pd.DataFrame
    results: pd.DataFrame
    period_means: pd.DataFrame
    guesses: pd.DataFrame
    blinding: BlindingResult | None
    adverse_events: list[AdverseEventRead]
    doses_planned: int
    doses_taken: int
    doses_through: dt.date
    completeness: Completeness
    warnings: list[str] = field(default_factory=list)
    # The condition's primary endpoint through the discrete model (migraine and cluster only).
    endpoint: EndpointAnalysis | None = None

    @property
    def primary(self) -> dict[str, Any]:
        """The primary outcome's result row (daily average pain)."""
        if self.results.empty:
            return {}
        rows = self.results[self.results["outcome"] == "pain"]
        return {str(k): _plain(v) for k, v in rows.iloc[0].to_dict().items()} if len(rows) else {}


@dataclass(frozen=True)
class CohortAnalysis:
    """De-identified per-trial results, pooled effects and blinding across trials."""

    results: pd.DataFrame
    pooled: PoolResult | None
    blinding: BlindingResult | None
    effect_by_guess: pd.DataFrame
    n_trials: int
    descriptive: pd.DataFrame


@dataclass(frozen=True)
class _Stored:
    """What analysing one trial reads from the database, loaded inside the transaction."""

    trial: TrialRead
    conditions: list[str]
    condition_group: str | None
    days: pd.DataFrame
    period_means: pd.DataFrame
    guesses: pd.DataFrame
    adverse_events: list[AdverseEventRead]
    adherence: Adherence
    doses_through: dt.date
    completeness: Completeness
    endpoint: EndpointAnalysis | None = None


def analyse_trial(
    db: Database, actor: Actor, trial_id: int, *, clock: Clock = system_clock
) -> TrialAnalysis:
    """Analyse one unblinded trial (refused while the trial is still blinded)."""
    authorize(actor, Action.ANALYSE_TRIAL)
    with db.transaction() as session:
        trial, patient = load_trial(session, actor, trial_id)
        if trial.status != TrialStatus.UNBLINDED:
            raise ConflictError(
                f"status: trial {trial_id} is still blinded ({trial.status}); "
                "results are available after unblinding"
            )
        stored = _load(session, trial, patient, clock())
        audit(
            session,
            actor,
            "analyse",
            "trial",
            trial.id,
            at=clock(),
            site_id=patient.site_id,
            patient_id=patient.id,
        )
    # Fitted after the commit: the engine never runs inside the write transaction.
    return _analyse([stored])[0]


def cohort_analysis(
    db: Database,
    actor: Actor,
    *,
    condition_group: str | None = None,
    clock: Clock = system_clock,
) -> CohortAnalysis:
    """Pool every unblinded trial (the actor's site for clinicians; all sites for researchers)."""
    authorize(actor, Action.READ_COHORT)
    groups = sorted({c.group for c in load_catalog().conditions.values()})
    if condition_group is not None and condition_group not in groups:
        raise ValidationError("condition", f"unknown group {condition_group!r}", allowed=groups)
    now = clock()
    with db.transaction() as session:
        query = (
            select(TrialRow, PatientRow)
            .join(PatientRow, PatientRow.id == TrialRow.patient_id)
            .where(TrialRow.status == TrialStatus.UNBLINDED.value)
            .order_by(TrialRow.id)
        )
        query = scoped(query, actor, Action.READ_COHORT, PatientRow.site_id)
        stored: list[_Stored] = []
        early: list[bool] = []
        for trial, patient in session.execute(query).tuples():
            group = _condition_group(session, patient.id)
            if condition_group is not None and group != condition_group:
                continue
            stored.append(_load(session, trial, patient, now))
            early.append(trial.unblinded_early)
        audit(
            session,
            actor,
            "read",
            "cohort",
            None,
            at=clock(),
            site_id=actor.site_id,
            detail={"trials": len(stored), "condition": condition_group},
        )
    results: list[pd.DataFrame] = []
    guesses: list[pd.DataFrame] = []
    counts: list[dict[str, Any]] = []
    # One batched engine call per outcome for the whole cohort, after the commit.
    for label, (one, unblinded_early) in enumerate(
        zip(_analyse(stored, endpoints=False), early, strict=True), start=1
    ):
        name = f"trial-{label:03d}"
        counts.append(_counts(one))
        res = one.results.assign(
            trial_id=name, condition=one.condition_group or "other", unblinded_early=unblinded_early
        )
        results.append(res)
        if not one.guesses.empty:
            guesses.append(one.guesses.assign(trial_id=name))
    table = pd.concat(results, ignore_index=True) if results else pd.DataFrame()
    pain = table[table["outcome"] == "pain"] if len(table) else table
    pooled = None
    if len(pain) >= 2:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", StatisticalWarning)
            pooled = pool(pain, by="condition", mcid=MCID_POINTS, tau_scale=TAU_SCALE_POINTS)
    all_guesses = pd.concat(guesses, ignore_index=True) if guesses else pd.DataFrame()
    blind = blinding(all_guesses) if len(all_guesses) else None
    return CohortAnalysis(
        results=table,
        pooled=pooled,
        blinding=blind,
        effect_by_guess=blind.effect_by_guess if blind else pd.DataFrame(),
        n_trials=len(stored),
        descriptive=describe_cohort(pd.DataFrame(counts)),
    )


def _counts(one: TrialAnalysis) -> dict[str, Any]:
    """What one unblinded trial adds to the cohort's descriptive table (counts only)."""
    arm_on = dict(zip(one.days["date"], one.days["arm"], strict=True))
    onset_arms = [arm_on.get(e.onset_date) for e in one.adverse_events]
    # the correct share over named guesses ("don't know" left out), as analysis.blinding counts it
    guessed = one.guesses[one.guesses["guess"] != DONT_KNOW] if len(one.guesses) else one.guesses
    return {
        "condition": one.condition_group or "other",
        "doses_planned": one.doses_planned,
        "doses_taken": one.doses_taken,
        "pairs_planned": one.completeness.pairs_planned,
        "pairs_complete": one.completeness.pairs_complete,
        "days_active": one.completeness.analysed_days["active"],
        "days_placebo": one.completeness.analysed_days["placebo"],
        "ae_active": onset_arms.count("active"),
        "ae_placebo": onset_arms.count("placebo"),
        "ae_serious": sum(1 for e in one.adverse_events if e.serious),
        "guesses": len(guessed),
        "guesses_correct": int(guessed["correct"].sum()) if len(guessed) else 0,
    }


def _load(session: Session, trial: TrialRow, patient: PatientRow, now: dt.datetime) -> _Stored:
    """Read one trial's days, doses, adverse events, guesses and conditions (no fitting)."""
    arms = allocation_of(session, trial)
    calendar = calendar_for(session, trial, patient)
    doses = dose_events(session, trial)
    through = adherence_through(trial, patient, calendar, now)
    entries = {
        e.local_date: e
        for e in session.execute(
            select(DiaryEntryRow).where(
                DiaryEntryRow.patient_id == patient.id,
                DiaryEntryRow.instrument_id == "daily_diary",
                DiaryEntryRow.is_current.is_(True),
                DiaryEntryRow.local_date >= calendar.first_date,
                DiaryEntryRow.local_date <= calendar.last_date,
            )
        ).scalars()
    }
    dosed = set(
        session.execute(
            select(DoseEventRow.local_date).where(
                DoseEventRow.trial_id == trial.id, DoseEventRow.is_current.is_(True)
            )
        ).scalars()
    )
    events = [
        AdverseEventRead.model_validate(r)
        for r in session.execute(
            select(AdverseEventRow)
            .where(AdverseEventRow.trial_id == trial.id, AdverseEventRow.is_current.is_(True))
            .order_by(AdverseEventRow.onset_date)
        ).scalars()
    ]
    grades = {e.onset_date: e.grade for e in events}
    rows = []
    for day in calendar.days:
        entry = entries.get(day.date)
        scores = entry.scores["scores"] if entry is not None else {}
        arm = "baseline" if day.period is None else arms[day.period - 1]
        if day.phase == Phase.PAUSED:
            arm = OFF_PROTOCOL  # a paused day belongs to no arm, whatever was taken
        rows.append(
            {
                "date": day.date,
                "study_day": (day.date - calendar.first_date).days,
                "phase": day.phase.value,
                "period": day.period,
                "arm": arm,
                "wash_in": day.is_wash_in,
                "dose_day": day.is_dose_day,
                "dose_taken": day.date in dosed,
                "ae_grade": grades.get(day.date),
                **{
                    name: (scores.get(score_id) or {}).get("value")
                    for name, score_id, _ in OUTCOMES
                },
            }
        )
    days = pd.DataFrame(rows)
    periods = (
        days[days["period"].notna() & ~days["wash_in"] & (days["phase"] != Phase.PAUSED.value)]
        .groupby(["period", "arm"], as_index=False)
        .agg(mean_pain=("pain", "mean"), days_observed=("pain", "count"))
    )
    periods["period"] = periods["period"].astype(int)
    conditions = sorted(
        session.execute(
            select(ConditionRow.icd10_code).where(
                ConditionRow.patient_id == patient.id, ConditionRow.is_current.is_(True)
            )
        ).scalars()
    )
    group = _condition_group(session, patient.id)
    view = read_trial(session, trial, patient)
    plans = {
        p.number: PeriodPlan(p.block, (p.end_date - p.start_date).days + 1 - p.wash_in_days)
        for p in view.periods
    }
    return _Stored(
        trial=view,
        conditions=conditions,
        condition_group=group,
        days=days,
        period_means=periods,
        guesses=_guesses(session, trial, arms, periods),
        adverse_events=events,
        adherence=summarise_adherence(calendar, doses, through=through),
        doses_through=through,
        completeness=assess_completeness(days, plans),
        endpoint=_endpoint_days(session, patient, days, group, set(entries)),
    )


def _endpoint_days(
    session: Session,
    patient: PatientRow,
    days: pd.DataFrame,
    group: str | None,
    diary_kept: set[dt.date],
) -> EndpointAnalysis | None:
    """The group's primary endpoint per calendar day, when the discrete model analyses it."""
    catalog = load_catalog()
    found = catalog.groups.get(group or "")
    if found is None or found.endpoints.primary[0].instrument not in DISCRETE_ENDPOINTS:
        return None
    endpoint = found.endpoints.primary[0]
    score = catalog.instrument(endpoint.instrument).primary_score
    first, last = days["date"].min(), days["date"].max()
    logged = {
        e.local_date: ((e.scores or {}).get("scores") or {}).get(score) or {}
        for e in session.execute(
            select(DiaryEntryRow).where(
                DiaryEntryRow.patient_id == patient.id,
                DiaryEntryRow.instrument_id == endpoint.instrument,
                DiaryEntryRow.is_current.is_(True),
                DiaryEntryRow.local_date >= first,
                DiaryEntryRow.local_date <= last,
            )
        ).scalars()
    }
    values: list[float] = []
    sources: list[str] = []
    for day in days["date"]:
        if day in logged:
            value = logged[day].get("value")
            values.append(float(value) if value is not None else float("nan"))
            sources.append("entry")
        elif logged and day in diary_kept:
            # Why 0 and not missing: the day's entry of a headache instrument is written when
            # the patient logs an attack (services.attacks), so a day without a headache or an
            # attack has no entry of its own. A day on which the daily diary was kept but
            # nothing was logged is therefore a day without one. A day with neither entry is
            # missing, and a trial without a single entry of the instrument is not analysed
            # at all (an unused log says nothing about attacks).
            values.append(0.0)
            sources.append("diary")
        else:
            values.append(float("nan"))
            sources.append("none")
    frame = days[["date", "study_day", "phase", "period", "arm", "wash_in"]].assign(
        value=values, source=sources
    )
    return EndpointAnalysis(
        endpoint_id=endpoint.id,
        description=endpoint.description,
        instrument=endpoint.instrument,
        score=score,
        outcome_type=DISCRETE_ENDPOINTS[endpoint.instrument],
        entries=len(logged),
        days=frame,
    )


def _analyse(stored: list[_Stored], *, endpoints: bool = True) -> list[TrialAnalysis]:
    """Fit all the loaded trials together and assemble each trial's analysis.

    ``endpoints=False`` leaves the condition endpoints unfitted (the cohort pools pain only, and
    the period model costs tens of milliseconds a trial).
    """
    fitted = _fit([(s.trial.id, s.days[s.days["phase"] != "paused"]) for s in stored])
    fitted_endpoints = (
        _fit_endpoints([(s.trial.id, s.endpoint) for s in stored])
        if endpoints
        else [None] * len(stored)
    )
    return [
        TrialAnalysis(
            trial=s.trial,
            conditions=s.conditions,
            condition_group=s.condition_group,
            days=s.days,
            results=results,
            period_means=s.period_means,
            guesses=s.guesses,
            blinding=blinding(s.guesses) if len(s.guesses) else None,
            adverse_events=s.adverse_events,
            doses_planned=s.adherence.planned,
            doses_taken=s.adherence.taken,
            doses_through=s.doses_through,
            completeness=s.completeness,
            warnings=[*s.completeness.warnings, *problems, *(e[1] if e else [])],
            endpoint=e[0] if e else None,
        )
        for s, (results, problems), e in zip(stored, fitted, fitted_endpoints, strict=True)
    ]


def _fit_endpoints(
    trials: list[tuple[int, EndpointAnalysis | None]],
) -> list[tuple[EndpointAnalysis, list[str]] | None]:
    """Each trial's endpoint with its discrete fit; one batched engine call per outcome type."""
    out: list[tuple[EndpointAnalysis, list[str]] | None] = [
        (e, []) if e is not None else None for _, e in trials
    ]
    for kind in sorted(set(DISCRETE_ENDPOINTS.values())):
        longs: dict[int, tuple[EndpointAnalysis, pd.DataFrame]] = {}
        for i, (trial_id, e) in enumerate(trials):
            if e is None or e.outcome_type != kind:
                continue
            days = e.days[e.days["phase"] != Phase.PAUSED.value]
            observed = days[days["value"].notna() & ~days["wash_in"]]
            if not e.entries:
                reason = f"no {e.instrument.replace('_', '-')} entries during the trial"
            elif observed[observed["arm"] == "active"].empty:
                reason = "no observed day in the active periods"
            elif observed[observed["arm"] == "placebo"].empty:
                reason = "no observed day in the placebo periods"
            else:
                long = pd.DataFrame(
                    {
                        "trial_id": str(trial_id),
                        "day": days["study_day"],
                        "arm": days["arm"],
                        "value": days["value"],
                        "exclude": days["wash_in"],
                    }
                )
                longs[i] = (e, long)
                continue
            out[i] = (replace(e, reason=reason), [f"{e.endpoint_id}: {reason}; not analysed"])
        if not longs:
            continue
        with warnings.catch_warnings():
            # Flags are reported per trial below, from each trial's own 'warning' column.
            warnings.simplefilter("ignore", StatisticalWarning)
            result = fit_trials(
                pd.concat([long for _, long in longs.values()], ignore_index=True),
                relative_mcid=RELATIVE_MCID,
                higher_is_better=False,
                outcome_type=kind,
            )
        for i, (e, _) in longs.items():
            row = result[result["trial_id"] == str(trials[i][0])].iloc[0]
            found = {str(k): _plain(v) for k, v in row.to_dict().items()}
            problems = []
            if found.get("warning"):
                problems.append(f"{e.endpoint_id}: model warning ({found['warning']})")
            out[i] = (replace(e, result=found), problems)
    return out


def _fit(trials: list[tuple[int, pd.DataFrame]]) -> list[tuple[pd.DataFrame, list[str]]]:
    """Results and problems per trial; one batched engine call per outcome for all trials."""
    frames: list[list[pd.DataFrame]] = [[] for _ in trials]
    problems: list[list[str]] = [[] for _ in trials]
    for name, _, higher in OUTCOMES:
        longs: dict[int, pd.DataFrame] = {}
        for i, (trial_id, days) in enumerate(trials):
            long = pd.DataFrame(
                {
                    "trial_id": str(trial_id),
                    "day": days["study_day"],
                    "arm": days["arm"],
                    "value": days[name].astype(float),
                    "exclude": days["wash_in"],
                }
            )
            observed = long.dropna(subset=["value"])
            if (
                observed[observed["arm"] == "active"].empty
                or observed[observed["arm"] == "placebo"].empty
            ):
                problems[i].append(f"{name}: no observed day in one arm; not analysed")
                continue
            longs[i] = long
        if not longs:
            continue
        with warnings.catch_warnings():
            # Flags are reported per trial below, from each trial's own 'warning' column.
            warnings.simplefilter("ignore", StatisticalWarning)
            result = fit_trials(
                pd.concat(list(longs.values()), ignore_index=True),
                mcid=MCID_POINTS,
                relative_mcid=RELATIVE_MCID,
                higher_is_better=higher,
            ).assign(outcome=name)
        for i in longs:
            row = result[result["trial_id"] == str(trials[i][0])]
            flagged = str(row["warning"].iloc[0])
            if flagged:
                # The text fit_trials warns with for a single flagged trial.
                problems[i].append(
                    f"{name}: 1 of 1 trial(s) flagged ({flagged}); see the 'warning' column"
                )
            frames[i].append(row)
    return [
        (pd.concat(f, ignore_index=True) if f else pd.DataFrame(), p)
        for f, p in zip(frames, problems, strict=True)
    ]


def _guesses(
    session: Session, trial: TrialRow, arms: list[str], periods: pd.DataFrame
) -> pd.DataFrame:
    rows = session.execute(
        select(PeriodRow.number, BlindingGuessRow.guess, BlindingGuessRow.confidence)
        .join(PeriodRow, PeriodRow.id == BlindingGuessRow.period_id)
        .where(BlindingGuessRow.trial_id == trial.id, BlindingGuessRow.is_current.is_(True))
        .order_by(PeriodRow.number)
    ).all()
    means = dict(zip(periods["period"], periods["mean_pain"], strict=True))
    frame = pd.DataFrame(
        [
            {
                "trial_id": str(trial.id),
                "period": number,
                "arm": arms[number - 1],
                "guess": guess,
                "confidence": confidence,
                "correct": guess == arms[number - 1],
                "value": means.get(number),
            }
            for number, guess, confidence in rows
        ],
        columns=["trial_id", "period", "arm", "guess", "confidence", "correct", "value"],
    )
    return frame


def _condition_group(session: Session, patient_id: int) -> str | None:
    catalog = load_catalog()
    for code in session.execute(
        select(ConditionRow.icd10_code).where(
            ConditionRow.patient_id == patient_id, ConditionRow.is_current.is_(True)
        )
    ).scalars():
        condition = catalog.condition_by_code(code)
        if condition is not None:
            return condition.group
    return None


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value
