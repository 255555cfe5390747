"""The continuous engine against stored PyMC NUTS fits (``tests/reference/pymc_continuous.py``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from microtrial.analysis import UNIFORM_RHO_PRIOR, fit_trials

REF = Path(__file__).resolve().parents[2] / "reference"


# The reference trials are short (2 pairs of 10 days): their results carry the short-series warning.
@pytest.mark.filterwarnings("ignore:.*day-to-day correlation:microtrial.errors.StatisticalWarning")
def test_continuous_model_matches_pymc() -> None:
    diaries = pd.read_csv(REF / "continuous_trials.csv", dtype={"trial_id": str})
    pymc = pd.read_csv(REF / "continuous_pymc.csv", dtype={"trial_id": str})
    assert len(pymc) >= 20
    assert diaries["value"].isna().mean() > 0.1  # the trials have gaps
    # The reference was fitted with the uniform prior of rho, so the engine is asked for it too.
    ours = fit_trials(diaries, mcid=1.0, rho_prior=UNIFORM_RHO_PRIOR)
    ours = ours.merge(pymc, on="trial_id", validate="1:1")
    assert len(ours) == len(pymc)
    # Tolerances from the acceptance criteria; NUTS Monte-Carlo error is ~0.005 on these.
    assert np.abs(ours["effect_mean"] - ours["beta_mean"]).max() < 0.02
    assert np.abs(ours["effect_sd"] / ours["beta_sd"] - 1.0).max() < 0.05
    assert np.abs(ours["p_mcid"] - ours["p_beta_lt_m1"]).max() < 0.02
    assert np.abs(ours["p_benefit"] - ours["p_beta_lt_0"]).max() < 0.02
