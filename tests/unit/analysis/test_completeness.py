"""Completeness of a trial's evidence: complete pairs, analysed days per arm, paused days."""

from __future__ import annotations

import numpy as np
import pandas as pd

from microtrial.analysis.completeness import PeriodPlan, assess_completeness, count_completeness

PLANS = {1: PeriodPlan(1, 10), 2: PeriodPlan(1, 10), 3: PeriodPlan(2, 10), 4: PeriodPlan(2, 10)}
ARMS = {1: "active", 2: "placebo", 3: "placebo", 4: "active"}


def frame(observed: dict[int, int], paused: int = 0) -> pd.DataFrame:
    """Ten analysable days per period, the first ``observed[p]`` with a pain score."""
    rows = []
    for period, arm in ARMS.items():
        for i in range(10):
            pain = 5.0 if i < observed.get(period, 10) else None
            rows.append(
                {"period": period, "arm": arm, "wash_in": False, "phase": "period", "pain": pain}
            )
    rows += [
        {"period": 2, "arm": "paused", "wash_in": False, "phase": "paused", "pain": 4.0}
        for _ in range(paused)
    ]
    return pd.DataFrame(rows)


def test_a_complete_trial_has_no_warning() -> None:
    found = assess_completeness(frame({}), PLANS)
    assert (found.pairs_complete, found.pairs_planned) == (2, 2)
    assert found.analysed_days == {"active": 20, "placebo": 20}
    assert found.warnings == ()


def test_an_incomplete_pair_and_a_thin_arm_are_named() -> None:
    # period 3 half empty is still complete (5 of 10); period 4 with 4 of 10 is not
    found = assess_completeness(frame({3: 5, 4: 4, 1: 2}), PLANS)
    assert found.pairs_complete == 0  # period 1 (2 of 10) breaks pair 1, period 4 pair 2
    assert "Only 0 of 2 pairs of periods are complete" in found.warnings[0]
    assert found.analysed_days == {"active": 6, "placebo": 15}
    assert any("The active periods have only 6 analysed diary day(s)" in w for w in found.warnings)
    assert not any("placebo periods have only" in w for w in found.warnings)


def test_paused_days_count_for_no_arm() -> None:
    found = assess_completeness(frame({}, paused=49), PLANS)
    assert found.paused_days == 49
    assert found.analysed_days == {"active": 20, "placebo": 20}
    assert any(
        "paused for 49 day(s)" in w and "not counted as either arm" in w for w in found.warnings
    )


def test_counting_in_one_pass_gives_what_the_frame_gives() -> None:
    rng = np.random.default_rng(5)
    for seed in range(40):
        observed = {p: int(rng.integers(0, 11)) for p in ARMS}
        days = frame(observed, paused=int(rng.integers(0, 5)))
        days.loc[rng.random(len(days)) < 0.1, "wash_in"] = True
        days.loc[rng.random(len(days)) < 0.05, "pain"] = float("nan")
        days.loc[days.index[:3], "period"] = None  # run-in days: no period
        want = assess_completeness(days, PLANS)
        got = count_completeness(days.to_dict("records"), PLANS)
        assert got == want, seed
