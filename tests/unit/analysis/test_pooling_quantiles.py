"""The pooled posterior's quantiles by safeguarded Newton agree with sixty-step bisection."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from microtrial.analysis import pooling


def three_groups(n: int = 300, seed: int = 19) -> pd.DataFrame:
    """``n`` trials' effects in three condition groups with different typical effects."""
    rng = np.random.default_rng(seed)
    group = np.array(["migraine", "back", "neuropathic"])[np.arange(n) % 3]
    typical = {"migraine": -1.2, "back": -0.3, "neuropathic": 0.4}
    sd = rng.uniform(0.2, 1.5, n)
    effect = np.array([typical[g] for g in group]) + rng.normal(0, 0.8, n) + rng.normal(0, sd)
    return pd.DataFrame(
        {
            "trial_id": [f"t{i}" for i in range(n)],
            "group": group,
            "effect_mean": effect,
            "effect_sd": sd,
            "p_mcid": rng.uniform(0, 1, n),
        }
    )


QUANTILES = ["ci95_low", "ci95_high", "pi95_low", "pi95_high"]
SHRUNK = ["shrunk_low", "shrunk_high"]


def test_newton_quantiles_equal_bisection_on_a_300_trial_three_group_pool(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = three_groups()
    newton = pooling.pool(data, by="group")
    monkeypatch.setattr(pooling, "_mixture_quantiles", pooling._bisected_quantiles)
    bisected = pooling.pool(data, by="group")
    assert list(newton.groups["group"]) == ["overall", "back", "migraine", "neuropathic"]
    np.testing.assert_allclose(
        newton.groups[QUANTILES].to_numpy(float),
        bisected.groups[QUANTILES].to_numpy(float),
        rtol=0,
        atol=1e-10,
    )
    np.testing.assert_allclose(
        newton.forest[SHRUNK].to_numpy(float),
        bisected.forest[SHRUNK].to_numpy(float),
        rtol=0,
        atol=1e-10,
        equal_nan=True,
    )
    # every trial appears once overall and once in its group, each with its interval
    assert int(newton.forest[SHRUNK].notna().all(axis=1).sum()) == 2 * 300


# (not 1 - 1e-6: there the cdf's rounding near 1, not the method, sets both roots' last digits)
@pytest.mark.parametrize("p", [1e-6, 0.025, 0.5, 0.975, 0.9999])
def test_newton_quantiles_of_awkward_mixtures(p: float) -> None:
    rng = np.random.default_rng(7)
    # bimodal, very unequal sds, near-degenerate weights: where a plain Newton step overshoots
    m = np.stack([rng.normal(0, 5, 50), rng.normal(0, 0.01, 50), rng.normal(20, 1, 50)])
    s = np.stack([rng.uniform(0.01, 0.02, 50), rng.uniform(3, 9, 50), rng.uniform(0.1, 1, 50)])
    w = np.array([0.49, 0.02, 0.49])
    got = pooling._mixture_quantiles(p, w, m, s)
    want = pooling._bisected_quantiles(p, w, m, s)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-10)


def test_shrunken_effects_in_chunks_over_the_weighty_cells_equal_one_pass_over_every_cell(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 1,300 trials: three chunks of _COLUMNS, the last one short
    data = three_groups(n=1300, seed=5)
    fast = pooling.pool(data, warn=False).forest
    monkeypatch.setattr(pooling, "_COLUMNS", 10**9)
    monkeypatch.setattr(pooling, "_SHRUNK_CELLS", 0.0)
    full = pooling.pool(data, warn=False).forest
    columns = ["shrunk_mean", "shrunk_sd", "shrunk_low", "shrunk_high", "p_responder_shrunk"]
    assert len(fast) == len(full) == 1301  # every trial and the pooled row
    # the cells left out weigh under 1e-10 of the heaviest: far below a shown digit
    np.testing.assert_allclose(
        fast[columns].to_numpy(float),
        full[columns].to_numpy(float),
        rtol=0,
        atol=1e-8,
        equal_nan=True,
    )
    assert int(fast["shrunk_low"].notna().sum()) == 1300
