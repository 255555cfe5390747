"""Binary and count outcomes against stored PyMC NUTS fits (tests/reference/pymc_discrete.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from microtrial.analysis import fit_trials
from microtrial.analysis.discrete import fit_discrete_arrays
from microtrial.errors import StatisticalWarning, ValidationError

REF = Path(__file__).resolve().parents[2] / "reference"


@pytest.mark.parametrize(("outcome", "kind"), [("headache", "binary"), ("attacks", "count")])
def test_matches_pymc(outcome: str, kind: str) -> None:
    diaries = pd.read_csv(REF / "discrete_trials.csv", dtype={"trial_id": str})
    pymc = pd.read_csv(REF / "discrete_pymc.csv", dtype={"trial_id": str})
    ours = fit_trials(diaries[diaries["outcome"] == outcome], outcome_type=kind)
    both = ours.merge(pymc, on=["trial_id", "outcome"], validate="1:1")
    assert len(both) == 20
    assert np.abs(both["effect_mean"] - both["beta_mean"]).max() < 0.02
    assert np.abs(both["effect_sd"] / both["beta_sd"] - 1.0).max() < 0.05
    assert np.abs(both["p_mcid"] - both["p_beta_lt_m1"]).max() < 0.02
    assert np.abs(both["p_benefit"] - both["p_beta_lt_0"]).max() < 0.02
    assert both["rho_mean"].isna().all()
    assert (both["ci95_low"] < both["effect_mean"]).all()


def test_difference_scale_and_relative_threshold() -> None:
    rng = np.random.default_rng(4)
    arm = np.tile(np.repeat(np.array([1, 0, 0, 1], dtype=np.int8), 14), (3, 1))
    rate = np.where(arm == 1, 1.0, 2.0)
    y = rng.poisson(rate).astype(float)
    fit = fit_discrete_arrays(y, arm, kind="count", trend=False)
    # Log rate ratio near log(1/2); rate difference near -1 attack per day.
    assert np.all(np.abs(fit.effect_mean - np.log(0.5)) < 0.4)
    assert np.all(np.abs(fit.difference_mean + 1.0) < 0.5)
    assert np.all(fit.p_mcid_rel > 0.5)  # P(rate ratio <= 0.7)


def test_bad_values_and_missing_arm() -> None:
    arm = np.repeat(np.array([[1, 0, 0, 1]], dtype=np.int8), 7, axis=1)
    with pytest.raises(ValidationError, match="0 or 1"):
        fit_discrete_arrays(np.full(arm.shape, 2.0), arm, kind="binary")
    with pytest.raises(ValidationError, match="whole numbers"):
        fit_discrete_arrays(np.full(arm.shape, 0.5), arm, kind="count")
    y = np.where(arm == 1, np.nan, 1.0)
    with pytest.warns(StatisticalWarning, match="no observed day"):
        fit = fit_discrete_arrays(y, arm, kind="binary")
    assert np.isnan(fit.effect_mean[0])
