"""Fitting loaded trials with the batched engine: one engine call per outcome for all trials.

No database here: the callers load (``analysis_load``) in a transaction and fit after it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from microtrial.analysis import blinding, fit_trials
from microtrial.analysis.blinding import DONT_KNOW
from microtrial.domain.calendar import Phase
from microtrial.services.analysis_model import (
    DISCRETE_ENDPOINTS,
    MCID_POINTS,
    OUTCOMES,
    RELATIVE_MCID,
    EndpointAnalysis,
    TrialAnalysis,
    TrialInputs,
    plain,
)


def fit_loaded(stored: list[TrialInputs], *, cohort: bool = False) -> list[TrialAnalysis]:
    """Fit all the loaded trials together and assemble each trial's analysis.

    ``cohort=True`` computes only what the cohort stores: the condition endpoints stay unfitted
    (the cohort pools pain only, and the period model costs tens of milliseconds a trial) and
    no per-trial blinding is computed (``blinding`` None; the cohort's comes from the guesses).
    """
    fitted = _fit([(s.trial.id, s.days[s.days["phase"] != Phase.PAUSED.value]) for s in stored])
    fitted_endpoints = (
        _fit_endpoints([(s.trial.id, s.endpoint) for s in stored])
        if not cohort
        else [None] * len(stored)
    )
    return [
        TrialAnalysis(
            results=results,
            trial=s.trial,
            conditions=s.conditions,
            blinding=blinding(s.guesses) if len(s.guesses) and not cohort else None,
            condition_group=s.condition_group,
            days=s.days,
            warnings=[*s.completeness.warnings, *problems, *(e[1] if e else [])],
            period_means=s.period_means,
            guesses=s.guesses,
            endpoint=e[0] if e else None,
            adverse_events=s.adverse_events,
            doses_planned=s.adherence.planned,
            doses_taken=s.adherence.taken,
            doses_through=s.doses_through,
            completeness=s.completeness,
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
        # warn=False: flags are reported per trial below, from each trial's own 'warning' column
        # (not warnings.catch_warnings: its filter is process-global and races other threads).
        result = fit_trials(
            pd.concat([long for _, long in longs.values()], ignore_index=True),
            relative_mcid=RELATIVE_MCID,
            higher_is_better=False,
            outcome_type=kind,
            warn=False,
        )
        for i, (e, _) in longs.items():
            row = result[result["trial_id"] == str(trials[i][0])].iloc[0]
            found = {str(k): plain(v) for k, v in row.to_dict().items()}
            problems = []
            if found.get("warning"):
                problems.append(f"{e.endpoint_id}: model warning ({found['warning']})")
            out[i] = (replace(e, result=found), problems)
    return out


def _fit(trials: list[tuple[int, pd.DataFrame]]) -> list[tuple[pd.DataFrame, list[str]]]:
    """Results and problems per trial; one batched engine call per outcome for all trials.

    The trials' days are joined into one set of arrays once (no frame per trial and outcome:
    that cost a batch of thousands of trials more than the engine itself).
    """
    if not trials:
        return []
    fitted = fit_days(
        JoinedDays(
            names=np.array([str(trial_id) for trial_id, _ in trials], dtype=object),
            index=np.concatenate([np.full(len(days), i) for i, (_, days) in enumerate(trials)]),
            day=np.concatenate([days["study_day"].to_numpy() for _, days in trials]),
            arm=np.concatenate([days["arm"].to_numpy(dtype=object) for _, days in trials]),
            exclude=np.concatenate([days["wash_in"].to_numpy(dtype=bool) for _, days in trials]),
            values={
                name: np.concatenate([days[name].astype(float).to_numpy() for _, days in trials])
                for name, _, _ in OUTCOMES
            },
        )
    )
    frames: list[list[pd.DataFrame]] = [[] for _ in trials]
    for result in fitted.results.values():
        for k, trial_id in enumerate(result["trial_id"]):
            frames[fitted.position[trial_id]].append(result.iloc[[k]])
    return [
        (pd.concat(f, ignore_index=True) if f else pd.DataFrame(), p)
        for f, p in zip(frames, fitted.problems, strict=True)
    ]


@dataclass(frozen=True)
class JoinedDays:
    """The (non-paused) days of many trials joined: one entry per day, ``index`` its trial.

    ``names`` holds each trial's id as the engine's ``trial_id`` (a string); ``values`` each
    outcome's daily value (NaN: missing); ``exclude`` the wash-in days.
    """

    names: np.ndarray
    index: np.ndarray
    day: np.ndarray
    arm: np.ndarray
    exclude: np.ndarray
    values: dict[str, np.ndarray]


@dataclass(frozen=True)
class FittedDays:
    """Each outcome's engine result (rows of the trials it fitted, in trial order, with an
    ``outcome`` column), each trial's problems, and each trial's position by engine id."""

    results: dict[str, pd.DataFrame]
    problems: list[list[str]]
    position: dict[str, int]


def fit_days(joined: JoinedDays) -> FittedDays:
    """Fit every outcome of the joined days with one engine call each."""
    n = len(joined.names)
    index, arm = joined.index, joined.arm
    problems: list[list[str]] = [[] for _ in range(n)]
    results: dict[str, pd.DataFrame] = {}
    for name, _, higher in OUTCOMES:
        value = joined.values[name]
        observed = ~np.isnan(value)
        both = np.ones(n, dtype=bool)
        for side in ("active", "placebo"):
            both &= np.bincount(index[observed & (arm == side)], minlength=n) > 0
        for i in np.flatnonzero(~both):
            problems[i].append(f"{name}: no observed day in one arm; not analysed")
        if not both.any():
            continue
        keep = both[index]
        long = pd.DataFrame(
            {
                "trial_id": joined.names[index[keep]],
                "day": joined.day[keep],
                "arm": arm[keep],
                "value": value[keep],
                "exclude": joined.exclude[keep],
            }
        )
        # warn=False: flags are reported per trial below, from each trial's own 'warning' column.
        result = fit_trials(
            long, mcid=MCID_POINTS, relative_mcid=RELATIVE_MCID, higher_is_better=higher, warn=False
        ).assign(outcome=name)
        # in trial order (the engine's own order is not promised)
        order = {trial_id: k for k, trial_id in enumerate(result["trial_id"])}
        result = result.iloc[[order[joined.names[i]] for i in np.flatnonzero(both)]]
        results[name] = result.reset_index(drop=True)
        for i, flagged in zip(np.flatnonzero(both), result["warning"].astype(str), strict=True):
            if flagged:
                # The text fit_trials warns with for a single flagged trial.
                problems[i].append(
                    f"{name}: 1 of 1 trial(s) flagged ({flagged}); see the 'warning' column"
                )
    position = {str(name): i for i, name in enumerate(joined.names)}
    return FittedDays(results, problems, position)


def trial_counts(one: TrialAnalysis) -> dict[str, Any]:
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
