"""Random-effects pooling against a brute-force 2-D integration, and its summaries."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from microtrial.analysis import pool
from microtrial.analysis.pooling import pool_effects
from microtrial.errors import StatisticalWarning, ValidationError

Y = np.array([-1.8, -0.2, -1.1, -2.5, 0.4, -1.0])
S = np.array([0.5, 0.6, 0.4, 0.8, 0.5, 0.3])


def brute(tau_max: float) -> tuple[float, float, float]:
    """Posterior mean of mu, of tau and P(theta_1 <= -1) on a dense (mu, tau, theta_1) grid."""
    mu = np.linspace(-5, 3, 801)
    tau = np.linspace(0, tau_max, 801)[1:]
    m, t = np.meshgrid(mu, tau, indexing="ij")
    like = np.ones_like(m)
    for y, s in zip(Y, S, strict=True):
        like *= stats.norm.pdf(y, m, np.sqrt(s**2 + t**2))
    like /= like.sum()
    # theta_1 | mu, tau, y is normal (precision-weighted).
    prec = 1 / S[0] ** 2 + 1 / t**2
    th = (Y[0] / S[0] ** 2 + m / t**2) / prec
    p1 = float((like * stats.norm.cdf((-1 - th) * np.sqrt(prec))).sum())
    return float((like * m).sum()), float((like * t).sum()), p1


def test_matches_brute_force_integration() -> None:
    summary, shrunk = pool_effects(Y, S, tau_max=4.0)
    mu, tau, p1 = brute(4.0)
    assert summary["pooled_effect"] == pytest.approx(mu, abs=2e-3)
    assert summary["tau_mean"] == pytest.approx(tau, abs=5e-3)
    assert shrunk["p_responder_shrunk"].iloc[0] == pytest.approx(p1, abs=5e-3)


def test_summaries_are_consistent() -> None:
    summary, shrunk = pool_effects(Y, S)
    assert summary["ci95_low"] < summary["pooled_effect"] < summary["ci95_high"]
    # A new patient's interval includes the between-patient spread.
    assert summary["pi95_low"] < summary["ci95_low"]
    assert summary["pi95_high"] > summary["ci95_high"]
    # Shrinkage pulls every estimate towards the pooled mean.
    moved = np.abs(shrunk["shrunk_mean"] - summary["pooled_effect"])
    assert np.all(moved < np.abs(Y - summary["pooled_effect"]) + 1e-12)


def test_pool_by_condition_and_forest() -> None:
    res = pd.DataFrame(
        {
            "trial_id": [f"t{i}" for i in range(6)],
            "condition": ["migraine"] * 3 + ["back"] * 3,
            "effect_mean": Y,
            "effect_sd": S,
            "ci95_low": Y - 2 * S,
            "ci95_high": Y + 2 * S,
            "p_mcid": [0.9, 0.1, 0.6, 0.95, 0.01, 0.5],
        }
    )
    out = pool(res, by="condition")
    table = out.summary().set_index("group")
    assert list(table.index) == ["overall", "back", "migraine"]
    assert table.loc["overall", "n_trials"] == 6
    assert table.loc["overall", "responder_share"] == pytest.approx(3 / 6)
    assert table.loc["migraine", "responder_share"] == pytest.approx(2 / 3)
    forest = out.forest
    assert len(forest) == 6 + 1 + 3 + 1 + 3 + 1
    assert (forest["label"] == "pooled").sum() == 3


def test_bad_input() -> None:
    with pytest.raises(ValidationError, match="effect_sd"):
        pool(pd.DataFrame({"effect_mean": [1.0]}))
    frame = pd.DataFrame({"effect_mean": [1.0, np.nan, 0.5], "effect_sd": [1.0, 1.0, 1.0]})
    with pytest.warns(StatisticalWarning):
        out = pool(frame)
    assert out.summary()["n_trials"].iloc[0] == 2


def two_outcomes() -> pd.DataFrame:
    """Six trials with a pain row (benefit: lower) and a sleep row (benefit: higher) each."""
    pain = pd.DataFrame(
        {"trial_id": [f"t{i}" for i in range(6)], "outcome": "pain", "effect_mean": Y}
    )
    sleep = pain.assign(outcome="sleep", effect_mean=-Y)
    return pd.concat([pain, sleep], ignore_index=True).assign(effect_sd=np.tile(S, 2))


def test_pool_refuses_to_mix_outcomes() -> None:
    with pytest.raises(ValidationError, match=r"outcome: .*2 different outcomes \(pain, sleep\)"):
        pool(two_outcomes())


def test_pool_selects_one_outcome() -> None:
    rows = two_outcomes()
    pain = pool(rows, outcome="pain").summary().iloc[0]
    alone = pool(rows[rows["outcome"] == "pain"]).summary().iloc[0]
    assert pain["n_trials"] == 6
    assert pain["pooled_effect"] == pytest.approx(alone["pooled_effect"])
    sleep = pool(rows, outcome="sleep").summary().iloc[0]
    assert sleep["pooled_effect"] == pytest.approx(-pain["pooled_effect"])
    with pytest.raises(ValidationError, match=r"no rows of this outcome.*allowed: pain, sleep"):
        pool(rows, outcome="mood")


def test_pool_direction_sets_the_responders() -> None:
    rows = two_outcomes()
    # sleep improves by the mirror image of pain: same shrunken responders once the direction
    # says higher is better, none the wrong way round
    pain = pool(rows, outcome="pain").summary().iloc[0]
    sleep_up = pool(rows, outcome="sleep", higher_is_better=True).summary().iloc[0]
    sleep_down = pool(rows, outcome="sleep").summary().iloc[0]
    assert sleep_up["responder_share_shrunk"] == pytest.approx(pain["responder_share_shrunk"])
    assert pain["responder_share_shrunk"] == 0.5
    assert sleep_down["responder_share_shrunk"] == 0.0
