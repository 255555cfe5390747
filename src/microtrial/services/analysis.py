"""From stored trials to the analysis engine's input, and back: per-trial and cohort results.

A trial is analysed only after unblinding (its analysis data are locked then). Cohort results
are de-identified: trials appear under a sequence label, with condition group but no patient
code, site, dates or free text.
"""

from __future__ import annotations

import datetime as dt
import warnings
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from microtrial.analysis import BlindingResult, PoolResult, blinding, fit_trials, pool
from microtrial.domain.actors import Actor, Role
from microtrial.domain.catalog import load_catalog
from microtrial.domain.lifecycle import TrialStatus
from microtrial.errors import ConflictError, StatisticalWarning, ValidationError
from microtrial.services.common import Clock, audit, require_role, system_clock
from microtrial.services.records import AdverseEventRead
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
MCID_POINTS = 1.0  # REFERENCE.md C.3 (IMMPACT): 1 point on the 0-10 NRS
RELATIVE_MCID = 0.3  # IMMPACT: 30 % reduction is moderately important


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
    warnings: list[str] = field(default_factory=list)

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


def analyse_trial(
    db: Database, actor: Actor, trial_id: int, *, clock: Clock = system_clock
) -> TrialAnalysis:
    """Analyse one unblinded trial (refused while the trial is still blinded)."""
    require_role(actor, {Role.CLINICIAN, Role.UNBLINDED_STAFF, Role.PATIENT}, "analyse trials")
    with db.transaction() as session:
        trial, patient = load_trial(session, actor, trial_id)
        if trial.status != TrialStatus.UNBLINDED:
            raise ConflictError(
                f"status: trial {trial_id} is still blinded ({trial.status}); "
                "results are available after unblinding"
            )
        analysis = _analyse(session, trial, patient)
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
        return analysis


def cohort_analysis(
    db: Database,
    actor: Actor,
    *,
    condition_group: str | None = None,
    clock: Clock = system_clock,
) -> CohortAnalysis:
    """Pool every unblinded trial (the actor's site for clinicians; all sites for researchers)."""
    require_role(actor, {Role.RESEARCHER, Role.CLINICIAN}, "read cohort results")
    groups = sorted({c.group for c in load_catalog().conditions.values()})
    if condition_group is not None and condition_group not in groups:
        raise ValidationError("condition", f"unknown group {condition_group!r}", allowed=groups)
    with db.transaction() as session:
        query = (
            select(TrialRow, PatientRow)
            .join(PatientRow, PatientRow.id == TrialRow.patient_id)
            .where(TrialRow.status == TrialStatus.UNBLINDED.value)
            .order_by(TrialRow.id)
        )
        if actor.role is Role.CLINICIAN:
            query = query.where(PatientRow.site_id == actor.site_id)
        results: list[pd.DataFrame] = []
        guesses: list[pd.DataFrame] = []
        label = 0
        for trial, patient in session.execute(query).tuples():
            group = _condition_group(session, patient.id)
            if condition_group is not None and group != condition_group:
                continue
            label += 1
            one = _analyse(session, trial, patient)
            name = f"trial-{label:03d}"
            res = one.results.assign(
                trial_id=name, condition=group or "other", unblinded_early=trial.unblinded_early
            )
            results.append(res)
            if not one.guesses.empty:
                guesses.append(one.guesses.assign(trial_id=name))
        audit(
            session,
            actor,
            "read",
            "cohort",
            None,
            at=clock(),
            site_id=actor.site_id,
            detail={"trials": label, "condition": condition_group},
        )
    table = pd.concat(results, ignore_index=True) if results else pd.DataFrame()
    pain = table[table["outcome"] == "pain"] if len(table) else table
    pooled = None
    if len(pain) >= 2:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", StatisticalWarning)
            pooled = pool(pain, by="condition", mcid=MCID_POINTS)
    all_guesses = pd.concat(guesses, ignore_index=True) if guesses else pd.DataFrame()
    blind = blinding(all_guesses) if len(all_guesses) else None
    return CohortAnalysis(
        results=table,
        pooled=pooled,
        blinding=blind,
        effect_by_guess=blind.effect_by_guess if blind else pd.DataFrame(),
        n_trials=label,
    )


def _analyse(session: Session, trial: TrialRow, patient: PatientRow) -> TrialAnalysis:
    arms = allocation_of(session, trial)
    calendar = calendar_for(session, trial, patient)
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
    effect_days = days[days["phase"] != "paused"]
    results, problems = _fit(trial.id, effect_days)
    periods = (
        days[days["period"].notna() & ~days["wash_in"]]
        .groupby(["period", "arm"], as_index=False)
        .agg(mean_pain=("pain", "mean"), days_observed=("pain", "count"))
    )
    periods["period"] = periods["period"].astype(int)
    guess_frame = _guesses(session, trial, arms, periods)
    blind = blinding(guess_frame) if len(guess_frame) else None
    conditions = sorted(
        session.execute(
            select(ConditionRow.icd10_code).where(
                ConditionRow.patient_id == patient.id, ConditionRow.is_current.is_(True)
            )
        ).scalars()
    )
    planned = int(days["dose_day"].sum())
    return TrialAnalysis(
        trial=read_trial(session, trial, patient),
        conditions=conditions,
        condition_group=_condition_group(session, patient.id),
        days=days,
        results=results,
        period_means=periods,
        guesses=guess_frame,
        blinding=blind,
        adverse_events=events,
        doses_planned=planned,
        doses_taken=int((days["dose_day"] & days["dose_taken"]).sum()),
        warnings=problems,
    )


def _fit(trial_id: int, days: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    frames = []
    problems: list[str] = []
    for name, _, higher in OUTCOMES:
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
            problems.append(f"{name}: no observed day in one arm; not analysed")
            continue
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", StatisticalWarning)
            result = fit_trials(
                long, mcid=MCID_POINTS, relative_mcid=RELATIVE_MCID, higher_is_better=higher
            )
        problems.extend(f"{name}: {w.message}" for w in caught)
        frames.append(result.assign(outcome=name))
    return (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()), problems


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
