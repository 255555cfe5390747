"""Random-effects pooling against a brute-force 2-D integration, and its summaries."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from microtrial.analysis import pool
from microtrial.analysis.pooling import pool_effects
from microtrial.errors import StatisticalWarning, ValidationError

Y = np.array([-1.8, -0.2, -1.1, -2.5, 0.4, -1.0])
S = np.array([0.5, 0.6, 0.4, 0.8, 0.5, 0.3])


def joint_grid(
    y: np.ndarray, s: np.ndarray, scale: float, n: int = 1201
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """p(mu, tau | y) on a brute (mu, tau) grid: the full joint, nothing integrated analytically."""
    reach = 6 * scale + 4 * float(s.max())
    mu = np.linspace(float(y.min()) - reach, float(y.max()) + reach, n)
    tau = np.linspace(0, 7 * scale + float(np.ptp(y)), n)[1:]
    m, t = np.meshgrid(mu, tau, indexing="ij")
    logp = stats.halfnorm.logpdf(t, scale=scale)
    for yi, si in zip(y, s, strict=True):
        logp = logp + stats.norm.logpdf(yi, m, np.sqrt(si**2 + t**2))
    p = np.exp(logp - logp.max())
    return mu, tau, p / p.sum()


def reference(y: np.ndarray, s: np.ndarray, scale: float) -> dict[str, float]:
    """Posterior summaries of mu and tau from the brute grid (quantiles interpolated)."""
    mu, tau, p = joint_grid(y, s, scale)
    p_mu = p.sum(axis=1)
    mean = float((p_mu * mu).sum())
    cdf = np.cumsum(p_mu) - p_mu / 2  # the cdf at each node, half its own cell counted
    return {
        "pooled_effect": mean,
        "pooled_sd": float(np.sqrt((p_mu * (mu - mean) ** 2).sum())),
        "ci95_low": float(np.interp(0.025, cdf, mu)),
        "ci95_high": float(np.interp(0.975, cdf, mu)),
        "tau_mean": float((p.sum(axis=0) * tau).sum()),
    }


# Two and three trials (where a bounded-uniform tau prior let the bound decide the answer), then
# a dozen; effects and sds on the pain scale's points.
CASES = {
    "k=2": (np.array([-1.0, 0.5]), np.array([0.4, 0.5])),
    "k=2 wide": (np.array([-2.2, 1.0]), np.array([1.0, 1.5])),
    "k=3": (np.array([-2.0, 0.5, -1.0]), np.array([1.0, 1.0, 1.5])),
    "k=12": (np.concatenate([Y, Y + 0.7]), np.concatenate([S, S * 1.5])),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_agrees_with_an_independent_grid(case: str, scale: float) -> None:
    y, s = CASES[case]
    summary, _ = pool_effects(y, s, tau_scale=scale)
    ref = reference(y, s, scale)
    # within 2 %: of the value itself, or of the posterior sd where the value is near zero
    for key in ["pooled_effect", "ci95_low", "ci95_high"]:
        assert summary[key] == pytest.approx(
            ref[key], abs=0.02 * max(abs(ref[key]), ref["pooled_sd"])
        ), key
    for key in ["pooled_sd", "tau_mean"]:
        assert summary[key] == pytest.approx(ref[key], rel=0.02), key


def test_two_trials_against_nested_quadrature() -> None:
    # a second, grid-free reference for the smallest pool: adaptive quadrature over (mu, tau)
    y, s = CASES["k=2"]

    def joint(mu: float, tau: float) -> float:
        # unnormalised: half-normal(1) prior on tau, normal likelihood of each trial
        dens = math.exp(-0.5 * tau**2)
        for yi, si in zip(y.tolist(), s.tolist(), strict=True):
            v = si**2 + tau**2
            dens *= math.exp(-0.5 * (yi - mu) ** 2 / v) / math.sqrt(v)
        return dens

    def moment(mu_power: int, tau_power: int) -> float:
        val, _ = integrate.dblquad(
            lambda mu, tau: mu**mu_power * tau**tau_power * joint(mu, tau), 0, 8, -12, 12
        )
        return float(val)

    z = moment(0, 0)
    mean = moment(1, 0) / z
    sd = np.sqrt(moment(2, 0) / z - mean**2)
    summary, _ = pool_effects(y, s)
    assert summary["pooled_effect"] == pytest.approx(mean, abs=0.02 * sd)
    assert summary["pooled_sd"] == pytest.approx(sd, rel=0.02)
    assert summary["tau_mean"] == pytest.approx(moment(0, 1) / z, rel=0.02)


def test_shrunken_responder_probability_matches_the_grid() -> None:
    summary, shrunk = pool_effects(Y, S)
    mu, tau, p = joint_grid(Y, S, 1.0)
    m, t = np.meshgrid(mu, tau, indexing="ij")
    # theta_1 | mu, tau, y is normal (precision-weighted).
    prec = 1 / S[0] ** 2 + 1 / t**2
    th = (Y[0] / S[0] ** 2 + m / t**2) / prec
    p1 = float((p * stats.norm.cdf((-1 - th) * np.sqrt(prec))).sum())
    assert shrunk["p_responder_shrunk"].iloc[0] == pytest.approx(p1, abs=5e-3)
    assert summary["p_benefit"] == pytest.approx(float(p.sum(axis=1)[mu < 0].sum()), abs=5e-3)


def test_the_bound_no_longer_decides_two_trial_pools() -> None:
    # Two trials far apart: the pooled interval is set by the data and the half-normal prior,
    # within a few points, not stretched to +-7 as under Uniform(0, 10 x spread).
    summary, _ = pool_effects([-1.0, 0.5], [0.4, 0.5])
    assert summary["ci95_high"] - summary["ci95_low"] < 4.0
    assert summary["pi95_high"] - summary["pi95_low"] < 6.0


def test_sharp_posterior_of_many_trials_is_resolved() -> None:
    rng = np.random.default_rng(5)
    s = rng.uniform(0.3, 1.0, 200)
    y = rng.normal(rng.normal(-1.0, 0.8, 200), s)  # true effects spread by tau = 0.8, then noise
    summary, _ = pool_effects(y, s)
    # with 200 trials the data dominate: tau's posterior mean lands near the true 0.8
    assert summary["tau_mean"] == pytest.approx(0.8, abs=0.15)
    assert summary["pooled_sd"] < 0.1
    assert summary["ci95_low"] < summary["pooled_effect"] < summary["ci95_high"]


def test_tau_scale_must_be_positive() -> None:
    with pytest.raises(ValidationError, match="tau_scale"):
        pool_effects(Y, S, tau_scale=0.0)


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
    with pytest.warns(StatisticalWarning, match="Only 3 trials: too few") as caught:
        out = pool(res, by="condition")
    assert sorted(str(w.message).split(":")[0] for w in caught) == [
        "group 'back'",
        "group 'migraine'",
    ]
    table = out.summary().set_index("group")
    assert list(table.index) == ["overall", "back", "migraine"]
    assert table.loc["overall", "n_trials"] == 6
    # enough trials overall: no caveat and a prediction interval; three per condition: the
    # plain caveat and no prediction interval
    assert not table.loc["overall", "few_trials"]
    assert table.loc["overall", "caveat"] == ""
    assert table.loc["overall", "pi95_low"] < table.loc["overall", "ci95_low"]
    assert table.loc["back", "few_trials"]
    assert table.loc["back", "caveat"] == (
        "Only 3 trials: too few to estimate a typical effect; read the individual trials."
    )
    assert np.isnan(table.loc["migraine", "pi95_low"])
    assert np.isnan(table.loc["migraine", "pi95_high"])
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
