"""``fit_trials`` on long frames: validation names row and column; dates, exclusions, outcomes."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from microtrial.analysis import RESULT_COLUMNS, UNIFORM_RHO_PRIOR, fit_trials, simulate_trials
from microtrial.analysis.frames import trials_from_frame
from microtrial.errors import StatisticalWarning, ValidationError

# The 28-day diaries here are short: their results carry the short-series warning on rho.
pytestmark = pytest.mark.filterwarnings(
    "ignore:.*day-to-day correlation:microtrial.errors.StatisticalWarning"
)


def diary(trial: str = "A", n_days: int = 28, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    arm = np.repeat(["active", "placebo", "placebo", "active"], n_days // 4)
    y = 6.0 - 1.5 * (arm == "active") + rng.normal(0, 1, arm.size)
    return pd.DataFrame({"trial_id": trial, "day": np.arange(arm.size), "arm": arm, "value": y})


def test_result_columns_and_values() -> None:
    frame = pd.concat([diary("A"), diary("B", seed=1)], ignore_index=True)
    res = fit_trials(frame)
    assert list(res.columns[: len(RESULT_COLUMNS)]) == RESULT_COLUMNS
    assert res["trial_id"].tolist() == ["A", "B"]
    assert res["outcome"].tolist() == ["pain", "pain"]
    assert res["n_active"].tolist() == [14, 14]
    assert (res["effect_mean"] < -0.5).all()
    assert (res["ci95_low"] < res["effect_mean"]).all()
    assert (res["effect_mean"] < res["ci95_high"]).all()


def test_iso_dates_and_mixed_case_arms_equal_integer_days() -> None:
    frame = diary()
    dated = frame.assign(
        day=(pd.Timestamp("2026-01-05") + pd.to_timedelta(frame["day"], unit="D")).dt.strftime(
            "%Y-%m-%d"
        ),
        arm=frame["arm"].str.upper(),
    )
    a, b = fit_trials(frame), fit_trials(dated)
    np.testing.assert_allclose(a["effect_mean"], b["effect_mean"], rtol=1e-12)
    np.testing.assert_allclose(a["p_benefit"], b["p_benefit"], rtol=1e-12)


def test_excluded_and_baseline_days_stay_out_of_the_effect_model() -> None:
    frame = diary()
    frame["exclude"] = False
    frame.loc[[0, 7], "exclude"] = True
    base = pd.DataFrame({"trial_id": "A", "day": [-3, -2, -1], "arm": "baseline", "value": 9.0})
    res = fit_trials(pd.concat([base, frame], ignore_index=True))
    assert res.loc[0, "n_active"] == 13
    assert res.loc[0, "n_placebo"] == 13
    assert res.loc[0, "n_baseline"] == 3
    assert res.loc[0, "baseline_mean"] == 9.0
    dropped = frame.drop(index=[0, 7]).drop(columns="exclude")
    ref = fit_trials(pd.concat([base, dropped], ignore_index=True))
    assert res.loc[0, "effect_mean"] == pytest.approx(ref.loc[0, "effect_mean"], abs=1e-12)


def test_one_row_per_trial_and_outcome() -> None:
    pain = diary().assign(outcome="pain")
    sleep = diary(seed=5).assign(outcome="sleep")
    res = fit_trials(pd.concat([pain, sleep], ignore_index=True))
    assert list(zip(res["trial_id"], res["outcome"], strict=True)) == [
        ("A", "pain"),
        ("A", "sleep"),
    ]


def test_frame_round_trip_of_simulated_trials() -> None:
    sim = simulate_trials(3, rng=np.random.default_rng(4), missing=0.2)
    arrays = trials_from_frame(sim.to_frame())
    np.testing.assert_array_equal(arrays.arm, sim.arm)
    np.testing.assert_array_equal(np.isnan(arrays.values), np.isnan(sim.values))


@pytest.mark.parametrize(
    ("change", "pattern"),
    [
        (lambda f: f.drop(columns="value"), "missing column 'value'"),
        (lambda f: f.assign(arm=f["arm"].where(f.index != 4, "drug")), r"row 5, column 'arm'"),
        (
            lambda f: f.assign(value=f["value"].astype(object).where(f.index != 2, "high")),
            r"row 3, column 'value'",
        ),
        (lambda f: f.assign(value=f["value"].where(f.index != 2, np.inf)), "must be finite"),
        (lambda f: f.assign(arm="placebo"), "has no active day"),
        (lambda f: pd.concat([f, f.iloc[[3]]], ignore_index=True), r"row 29, column 'day'"),
        (lambda f: f.assign(day=f["day"] + 0.5), "integer day number or an ISO date"),
        (lambda f: f.assign(exclude="maybe"), r"row 1, column 'exclude'"),
    ],
)
def test_malformed_input_is_rejected(change, pattern: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError, match=pattern):
        fit_trials(change(diary()))


def test_unknown_outcome_type_and_backend() -> None:
    with pytest.raises(ValidationError, match="outcome_type"):
        fit_trials(diary(), outcome_type="ordinal")
    with pytest.raises(ValidationError, match="backend"):
        fit_trials(diary(), backend="cuda")


def test_short_series_warning_reaches_the_result_frame() -> None:
    with pytest.warns(StatisticalWarning, match="day-to-day correlation"):
        res = fit_trials(diary("A"))
    assert "too few days to estimate the day-to-day correlation" in res["warning"].iloc[0]


@pytest.mark.parametrize("outcome_type", ["continuous", "binary"])
def test_warn_false_leaves_flags_to_the_warning_column(outcome_type: str) -> None:
    """``warn=False`` emits no StatisticalWarning (services need no process-global filter)."""
    frame = diary("A")
    if outcome_type == "binary":
        # no observed active day: the discrete model flags the trial
        frame["value"] = np.where(frame["arm"] == "active", np.nan, 1.0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet = fit_trials(frame, outcome_type=outcome_type, warn=False)
    assert [w for w in caught if issubclass(w.category, StatisticalWarning)] == []
    assert quiet["warning"].iloc[0]  # the flag is still in the result
    with pytest.warns(StatisticalWarning):
        loud = fit_trials(frame, outcome_type=outcome_type)
    pd.testing.assert_frame_equal(quiet, loud)


def test_rho_prior_only_for_continuous_outcomes() -> None:
    frame = diary("A")
    frame["value"] = (frame["value"] > 5.5).astype(float)
    with pytest.raises(ValidationError, match="rho_prior"):
        fit_trials(frame, outcome_type="binary", rho_prior=UNIFORM_RHO_PRIOR)
