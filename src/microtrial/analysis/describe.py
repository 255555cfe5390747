"""A descriptive table of a cohort of unblinded trials, by condition group and overall.

One row per trial comes in (counts only, no identifiers); one row per group goes out with
adherence, completeness, adverse events by arm and how often the blind was guessed.
"""

from __future__ import annotations

import pandas as pd

__all__ = ["TRIAL_COUNTS", "describe_cohort"]

# What each trial contributes (all counts), summed per group.
TRIAL_COUNTS = (
    "doses_planned",
    "doses_taken",
    "pairs_planned",
    "pairs_complete",
    "days_active",
    "days_placebo",
    "ae_active",
    "ae_placebo",
    "ae_serious",
    "guesses",
    "guesses_correct",
)


def _share(numerator: float, denominator: float) -> float | None:
    return float(numerator) / float(denominator) if denominator else None


def describe_cohort(trials: pd.DataFrame, *, by: str = "condition") -> pd.DataFrame:
    """Sum ``TRIAL_COUNTS`` per ``by`` group and overall; add the shares a reader compares."""
    columns = ["group", "n_trials", *TRIAL_COUNTS]
    if trials.empty:
        return pd.DataFrame(columns=[*columns, "dose_share", "guess_correct_share"])
    parts = [("overall", trials)] + [(str(k), g) for k, g in trials.groupby(by, sort=True)]
    rows = []
    for name, group in parts:
        sums = {c: int(group[c].sum()) for c in TRIAL_COUNTS}
        rows.append(
            {
                "group": name,
                "n_trials": len(group),
                **sums,
                "dose_share": _share(sums["doses_taken"], sums["doses_planned"]),
                "guess_correct_share": _share(sums["guesses_correct"], sums["guesses"]),
            }
        )
    return pd.DataFrame(rows)
