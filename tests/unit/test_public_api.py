"""The curated public API is exactly what the docs promise, and each name works."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import microtrial
from microtrial.errors import StatisticalWarning


def test_public_names_are_exact() -> None:
    assert sorted(microtrial.__all__) == [
        "blinding",
        "fit_trials",
        "load_catalog",
        "pool",
        "power",
        "screen",
        "simulate_trials",
    ]
    for name in microtrial.__all__:
        assert callable(getattr(microtrial, name))


def test_public_names_do_their_job() -> None:
    rng = np.random.default_rng(3)
    arm = np.repeat(["active", "placebo", "placebo", "active"], 7)
    values = 6.0 - 1.5 * (arm == "active") + rng.normal(0, 1, arm.size)
    frame = pd.DataFrame({"trial_id": "A", "day": np.arange(28), "arm": arm, "value": values})
    # 28 days are too few to pin the day-to-day correlation down: the result says so.
    with pytest.warns(StatisticalWarning, match="day-to-day correlation"):
        result = microtrial.fit_trials(frame)
    assert round(float(result["effect_mean"].iloc[0]), 3) == -1.542
    assert microtrial.load_catalog().instrument("phq9").id == "phq9"
