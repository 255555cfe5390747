"""Power simulator and trial simulator."""

from __future__ import annotations

import numpy as np
import pytest

from microtrial.analysis import power, simulate_trials
from microtrial.errors import ValidationError


def test_design_layout() -> None:
    sim = simulate_trials(
        3, rng=np.random.default_rng(0), run_in=4, pairs=2, period_length=5, wash_in=2
    )
    assert sim.values.shape == (3, 24)
    assert (sim.arm[:, :4] == 2).all()
    periods = sim.arm[:, 4:].reshape(3, 4, 5)
    assert (periods[:, :, :2] == -1).all()
    # Each pair holds one active and one placebo period.
    kinds = periods[:, :, 2].reshape(3, 2, 2)
    assert (np.sort(kinds, axis=2) == [0, 1]).all()


def test_power_grows_with_effect_and_is_small_without_one() -> None:
    rng = np.random.default_rng(11)
    null = power(effect=0.0, n_sim=400, rng=rng)
    small = power(effect=-0.5, n_sim=400, rng=rng)
    large = power(effect=-1.5, n_sim=400, rng=rng)
    assert null.power < 0.1
    assert null.power < small.power < large.power
    assert large.power > 0.8
    assert small.expected_width == pytest.approx(large.expected_width, rel=0.1)


def test_bad_design() -> None:
    with pytest.raises(ValidationError, match="wash_in"):
        simulate_trials(1, rng=np.random.default_rng(0), period_length=3, wash_in=3)
    with pytest.raises(ValidationError, match="n_sim"):
        power(n_sim=0, rng=np.random.default_rng(0))
