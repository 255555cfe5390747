"""How complete a trial's evidence is: complete pairs, analysed days per arm, days off protocol.

A result computed from one complete pair of three, or from an arm with a handful of diary days,
can still print a confident posterior probability. These checks turn that into warnings that every
result page and report shows beside the numbers.

A period counts as complete when at least half of its days after wash-in have an analysed pain
score (``COMPLETE_SHARE``); a pair (block) is complete when every period in it is. An arm has
"few analysed days" when it has fewer than one period's days after wash-in: less than the design
meant a single period to contribute.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

import pandas as pd

from microtrial.analysis.continuous import N_

__all__ = [
    "COMPLETE_SHARE",
    "WARNINGS",
    "Completeness",
    "PeriodPlan",
    "assess_completeness",
    "assess_counts",
    "count_completeness",
]

COMPLETE_SHARE = 0.5  # a period with diary scores on at least half its analysable days


# The warnings as %-templates: a reader in another language gets them translated
# (reports.trial_prose.analysis_note matches a stored English warning to its template).
FEW_PAIRS = N_(
    "Only %(complete)s of %(planned)s pairs of periods are complete (a period needs diary "
    "scores on at least half of its days after wash-in): the result rests on less evidence "
    "than planned and may change with more data."
)
FEW_DAYS = {
    "active": N_(
        "The active periods have only %(count)s analysed diary day(s), fewer than one full "
        "period (%(period)s): read the probabilities with great care."
    ),
    "placebo": N_(
        "The placebo periods have only %(count)s analysed diary day(s), fewer than one full "
        "period (%(period)s): read the probabilities with great care."
    ),
}
PAUSED_DAYS = N_(
    "The trial was paused for %(paused)s day(s); those days are off protocol, left out of the "
    "analysis and not counted as either arm."
)
WARNINGS = (FEW_PAIRS, *FEW_DAYS.values(), PAUSED_DAYS)
ARMS = ("active", "placebo")


@dataclass(frozen=True, slots=True)
class PeriodPlan:
    """What the plan expects of one period: its pair (block) and its days after wash-in."""

    block: int
    analysable_days: int


@dataclass(frozen=True, slots=True)
class Completeness:
    """Complete pairs, analysed days per arm and days off protocol, with plain-words warnings."""

    pairs_planned: int
    pairs_complete: int
    analysed_days: Mapping[str, int]
    paused_days: int
    warnings: tuple[str, ...]


def assess_completeness(
    days: pd.DataFrame, periods: Mapping[int, PeriodPlan], *, outcome: str = "pain"
) -> Completeness:
    """Assess a trial's days frame (columns period, arm, wash_in, phase and ``outcome``)."""
    analysed = days[
        (days["phase"] != "paused")
        & ~days["wash_in"].astype(bool)
        & days["period"].notna()
        & days[outcome].notna()
    ]
    counts = analysed.groupby("period")[outcome].count()
    per_period = {int(cast(float, k)): int(v) for k, v in counts.items()}
    by_arm = {arm: int((analysed["arm"] == arm).sum()) for arm in ARMS}
    paused = int((days["phase"] == "paused").sum())
    return assess_counts(per_period, by_arm, paused, periods)


def count_completeness(
    days: Iterable[Mapping[str, Any]], periods: Mapping[int, PeriodPlan], *, outcome: str = "pain"
) -> Completeness:
    """``assess_completeness`` of the days as row dicts, counted in one pass (no frame).

    What a batch load uses: the pandas masks and group-by cost about a millisecond a trial.
    """
    per_period: dict[int, int] = {}
    by_arm = dict.fromkeys(ARMS, 0)
    paused = 0
    for day in days:
        if day["phase"] == "paused":
            paused += 1
            continue
        value, period = day[outcome], day["period"]
        if day["wash_in"] or period is None or period != period or value is None or value != value:
            continue  # (x != x: NaN)
        number = int(period)
        per_period[number] = per_period.get(number, 0) + 1
        if day["arm"] in by_arm:
            by_arm[day["arm"]] += 1
    return assess_counts(per_period, by_arm, paused, periods)


def assess_counts(
    per_period: Mapping[int, int],
    by_arm: Mapping[str, int],
    paused: int,
    periods: Mapping[int, PeriodPlan],
) -> Completeness:
    """Completeness from the analysed days per period and per arm and the paused days.

    What the two functions above count, for a caller that counted them itself (the refresh
    counts every trial's days at once, as arrays).
    """
    complete_periods = {
        number
        for number, plan in periods.items()
        if per_period.get(number, 0) >= COMPLETE_SHARE * plan.analysable_days
    }
    blocks: dict[int, list[int]] = {}
    for number, plan in periods.items():
        blocks.setdefault(plan.block, []).append(number)
    complete_pairs = sum(
        1 for members in blocks.values() if all(n in complete_periods for n in members)
    )
    one_period = min((p.analysable_days for p in periods.values()), default=0)
    warnings = []
    if complete_pairs < len(blocks):
        warnings.append(FEW_PAIRS % {"complete": complete_pairs, "planned": len(blocks)})
    for arm, count in by_arm.items():
        if count < one_period:
            warnings.append(FEW_DAYS[arm] % {"count": count, "period": one_period})
    if paused:
        warnings.append(PAUSED_DAYS % {"paused": paused})
    return Completeness(
        pairs_planned=len(blocks),
        pairs_complete=complete_pairs,
        analysed_days=by_arm,
        paused_days=paused,
        warnings=tuple(warnings),
    )
