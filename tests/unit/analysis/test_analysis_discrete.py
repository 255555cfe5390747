"""Binary and count outcomes against stored PyMC NUTS fits (tests/reference/pymc_discrete.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from microtrial.analysis import fit_trials
from microtrial.analysis.continuous import BatchFit, BetaPrior, FitOptions
from microtrial.analysis.discrete import fit_discrete_arrays
from microtrial.analysis.fit import fit_batch
from microtrial.errors import StatisticalWarning, ValidationError

REF = Path(__file__).resolve().parents[2] / "reference"
RENAMED = {"p_mcid": "p_log_ratio_mcid", "p_mcid_rel": "p_ratio_reduction"}


@pytest.mark.parametrize(("outcome", "kind"), [("headache", "binary"), ("attacks", "count")])
def test_matches_pymc(outcome: str, kind: str) -> None:
    diaries = pd.read_csv(REF / "discrete_trials.csv", dtype={"trial_id": str})
    pymc = pd.read_csv(REF / "discrete_pymc.csv", dtype={"trial_id": str})
    ours = fit_trials(diaries[diaries["outcome"] == outcome], outcome_type=kind, serial="none")
    both = ours.merge(pymc, on=["trial_id", "outcome"], validate="1:1")
    assert len(both) == 20
    assert np.abs(both["effect_mean"] - both["beta_mean"]).max() < 0.02
    assert np.abs(both["effect_sd"] / both["beta_sd"] - 1.0).max() < 0.05
    assert np.abs(both["p_log_ratio_mcid"] - both["p_beta_lt_m1"]).max() < 0.02
    assert np.abs(both["p_benefit"] - both["p_beta_lt_0"]).max() < 0.02
    assert "rho_mean" not in both.columns
    assert "p_mcid" not in both.columns
    assert (both["ci95_low"] < both["effect_mean"]).all()


def test_difference_scale_and_relative_threshold() -> None:
    rng = np.random.default_rng(4)
    arm = np.tile(np.repeat(np.array([1, 0, 0, 1], dtype=np.int8), 14), (3, 1))
    rate = np.where(arm == 1, 1.0, 2.0)
    y = rng.poisson(rate).astype(float)
    fit = fit_discrete_arrays(y, arm, FitOptions(trend=False), kind="count")
    # Log rate ratio near log(1/2); rate difference near -1 attack per day.
    assert np.all(np.abs(fit.effect_mean - np.log(0.5)) < 0.4)
    assert np.all(np.abs(fit.difference_mean + 1.0) < 0.5)
    assert np.all(fit.p_ratio_reduction > 0.5)  # P(rate ratio <= 0.7)
    assert np.isnan(fit.p_mcid).all()
    assert np.isnan(fit.p_mcid_rel).all()


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


def test_same_numbers_as_the_per_trial_loop_version() -> None:
    """The batched engine reproduces the stored output of the earlier per-trial-loop code."""
    diaries = pd.read_csv(REF / "discrete_trials.csv", dtype={"trial_id": str})
    expected = pd.read_csv(REF / "discrete_engine_expected.csv", dtype={"trial_id": str})
    # The stored file predates the ratio-scale names; same numbers, named for what they mean.
    expected = expected.drop(columns="rho_mean").rename(columns=RENAMED)
    numbers = [c for c in expected.columns if expected[c].dtype == float and c != "warning"]
    for (kind, trend, higher), want in expected.groupby(["kind", "trend", "higher_is_better"]):
        outcome = "headache" if kind == "binary" else "attacks"
        got = fit_trials(
            diaries[diaries["outcome"] == outcome],
            outcome_type=str(kind),
            trend=bool(trend),
            higher_is_better=bool(higher),
            relative_mcid=0.5 if higher else 0.3,
            serial="none",
        )
        assert list(got["trial_id"]) == list(want["trial_id"])
        assert list(got["warning"].fillna("")) == list(want["warning"].fillna(""))
        for column in numbers:
            a, b = got[column].to_numpy(float), want[column].to_numpy(float)
            assert np.array_equal(np.isnan(a), np.isnan(b)), column
            # 1e-7: the conditional Newton steps are damped now (the period model needs it),
            # which moves one separated trial's numbers by about 1e-8; all others by < 1e-15.
            assert np.nanmax(np.abs(a - b), initial=0.0) < 1e-7, column


def test_chunks_give_the_same_numbers() -> None:
    diaries = pd.read_csv(REF / "discrete_trials.csv", dtype={"trial_id": str})
    one = fit_trials(diaries[diaries["outcome"] == "attacks"], outcome_type="count")
    arm = np.tile(np.repeat(np.array([1, 0, 0, 1], dtype=np.int8), 14), (7, 1))
    y = np.random.default_rng(5).poisson(np.where(arm == 1, 1.0, 2.0)).astype(float)
    whole = fit_discrete_arrays(y, arm, kind="count")
    seen: list[int] = []
    parts = fit_discrete_arrays(
        y, arm, FitOptions(chunk_size=3), kind="count", progress=seen.append
    )
    assert seen == [3, 3, 1]
    assert np.allclose(whole.effect_mean, parts.effect_mean, rtol=0, atol=1e-12)
    assert len(one) == 20


def test_same_result_type_and_options_as_continuous() -> None:
    arm = np.repeat(np.array([[1, 0, 0, 1]], dtype=np.int8), 14, axis=1)
    y = (np.arange(56) % 14 < np.where(arm == 1, 3, 9)).astype(float)
    fit = fit_batch(y, arm, FitOptions(mcid=0.5), outcome_type="binary")
    assert isinstance(fit, BatchFit)
    assert np.isnan(fit.rho_mean).all()


@pytest.mark.parametrize(
    ("options", "field"),
    [
        (FitOptions(prior=BetaPrior(0.0, 1.0)), "prior"),
        (FitOptions(rho_nodes=40), "rho_nodes"),
        (FitOptions(threads=2), "threads"),
    ],
)
def test_unsupported_options_are_refused(options: FitOptions, field: str) -> None:
    arm = np.repeat(np.array([[1, 0, 0, 1]], dtype=np.int8), 14, axis=1)
    y = np.zeros(arm.shape)
    with pytest.raises(ValidationError, match=f"^{field}: not supported for binary"):
        fit_batch(y, arm, options, outcome_type="binary")


def test_unsupported_backend_and_prior_through_fit_trials() -> None:
    diaries = pd.read_csv(REF / "discrete_trials.csv", dtype={"trial_id": str})
    headache = diaries[diaries["outcome"] == "headache"]
    with pytest.raises(ValidationError, match=r"backend: .*numpy only \(allowed: numpy\)"):
        fit_trials(headache, outcome_type="binary", backend="jax")
    with pytest.raises(ValidationError, match="prior"):
        fit_trials(headache, outcome_type="count", prior=BetaPrior(-0.5, 0.5))


def _clustered_trial(kind: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """One A B B A B A trial (14-day periods, 2 wash-in days) with bouts of headache / attacks."""
    rng = np.random.default_rng(seed)
    arm = np.repeat(np.array([1, 0, 0, 1, 0, 1], dtype=np.int8), 14)
    arm[np.arange(arm.size) % 14 < 2] = -1
    bout = np.repeat(rng.normal(0.0, 1.0, 6), 14)
    if kind == "binary":
        y = (rng.random(arm.size) < 1 / (1 + np.exp(-(-0.5 - 0.8 * (arm == 1) + bout)))) * 1.0
    else:
        y = rng.poisson(np.exp(0.3 - 0.6 * (arm == 1) + bout)).astype(float)
    y[rng.random(arm.size) < 0.1] = np.nan
    return y[None, :], arm[None, :]


def _dense_within(
    kind: str, days: list[np.ndarray], c: np.ndarray, n: float, module: object
) -> np.ndarray:
    """Log-likelihood of the within-period contrasts at each ``c`` written with dense matrices:
    each period's observed days (their day numbers in ``days``' index, values in the array),
    covariance (1 - a) I + a phi^|i - j|, REML by generalised least squares, no Kalman filter."""
    from scipy.special import logsumexp

    def reml(a: float, phi: float) -> tuple[float, float, float]:
        log_det = quad = df = 0.0
        for index, values in days:
            lag = np.abs(index[:, None] - index[None, :])
            cov = (1 - a) * np.eye(index.size) + a * phi**lag
            inv = np.linalg.inv(cov)
            one = np.ones(index.size)
            s11 = one @ inv @ one
            resid = values - (one @ inv @ values) / s11
            log_det += np.linalg.slogdet(cov)[1] + np.log(s11)
            quad += resid @ inv @ resid
            df += index.size - 1
        return log_det, quad, df

    def closed_form(phi: float, days: float) -> float:
        return float(phi / (1 - phi) - phi * (1 - phi**days) / (days * (1 - phi) ** 2))

    def s_n(phi: float) -> float:
        # sum_{k<n} (1 - k/n) phi^k, in closed form so that a median of 10.5 days works too;
        # the closed form is checked against the sum at the whole numbers either side.
        for whole in (np.floor(n), np.ceil(n)):
            lag = np.arange(1, whole)
            assert abs(((1 - lag / whole) * phi**lag).sum() - closed_form(phi, whole)) < 1e-12
        return closed_form(phi, n)

    vf = 1 / (1 - c)
    out = np.empty(c.size)
    if kind == "binary":
        phis = module._PHI  # type: ignore[attr-defined]
        for j, v in enumerate(vf):
            terms = []
            for phi in phis:
                a = (v - 1) / (2 * s_n(phi))
                if a <= 1:
                    log_det, quad, df = reml(a, phi)
                    terms.append(-0.5 * log_det - 0.5 * df * np.log(quad))
            out[j] = logsumexp(terms) - np.log(len(terms)) if terms else -np.inf
    else:
        mean = np.mean(np.concatenate([values for _, values in days]))
        grid = [(p, a) for p in module._PHI_COUNT for a in module._SHARE_COUNT]  # type: ignore[attr-defined]
        pieces = [(reml(a, p), 1 + 2 * a * s_n(p)) for p, a in grid]
        for j, v in enumerate(vf):
            terms = []
            for (log_det, quad, df), persist in pieces:
                sigma2 = v / persist * mean
                terms.append(-0.5 * log_det - 0.5 * df * np.log(sigma2) - 0.5 * quad / sigma2)
            out[j] = logsumexp(terms) - np.log(len(terms))
    return out


@pytest.mark.parametrize(("kind", "seed"), [("binary", 1), ("binary", 2), ("count", 3)])
def test_period_model_matches_brute_force(kind: str, seed: int) -> None:
    """The period model's posterior of beta equals a brute-force grid over (mu, beta) and the
    same dispersion nodes, written with scipy's own beta-binomial / negative-binomial, the
    nodes weighted by a dense-matrix computation of the within-period likelihood."""
    from scipy import stats

    from microtrial.analysis import discrete, discrete_within

    y, arm = _clustered_trial(kind, seed)
    fit = fit_discrete_arrays(y, arm, FitOptions(trend=False), kind=kind)
    # Period totals by hand: runs of one arm between wash-in days.
    treated = arm[0] >= 0
    ids = np.cumsum(np.r_[True, arm[0][1:] != arm[0][:-1]])[treated]
    vals, arms = y[0][treated], arm[0][treated]
    day = np.arange(arm.shape[1])[treated]
    periods = np.unique(ids)
    k = np.array([np.nansum(vals[ids == i]) for i in periods])
    n = np.array([np.isfinite(vals[ids == i]).sum() for i in periods], dtype=float)
    active = np.array([arms[ids == i][0] == 1 for i in periods], dtype=float)
    within = [
        (day[(ids == i) & np.isfinite(vals)], vals[(ids == i) & np.isfinite(vals)]) for i in periods
    ]
    c = discrete._C_NODES
    typical = max(float(np.median(n)), 2.0)
    if kind == "binary":
        n1 = typical - 1.0
        c = c * (0.8 * n1) / (1 + 0.8 * n1)
        disp = c / ((1 - c) * n1)
    else:
        disp = c / ((1 - c) * max(k.mean(), 0.5))
    log_within = _dense_within(kind, within, c, typical, discrete_within)
    weights = discrete.c_weights(kind) * np.exp(log_within - log_within.max())
    mu = np.linspace(-8.0, 6.0, 701)
    beta = np.linspace(-7.0, 7.0, 701)
    mm, bb = np.meshgrid(mu, beta, indexing="ij")
    eta = mm[..., None] + bb[..., None] * active
    prior = stats.norm.logpdf(mm, 0, 10) + stats.norm.logpdf(bb, 0, 2.5)
    post = np.zeros_like(beta)
    for d, w in zip(disp, weights, strict=True):
        if kind == "binary":
            p, s = 1 / (1 + np.exp(-eta)), (1 - d) / d
            ll = stats.betabinom.logpmf(k, n, p * s, (1 - p) * s).sum(-1)
        else:
            r = 1 / d
            ll = stats.nbinom.logpmf(k, r, r / (r + n * np.exp(eta))).sum(-1)
        post += w * np.exp(ll + prior).sum(axis=0)
    post /= np.trapezoid(post, beta)
    mean = np.trapezoid(post * beta, beta)
    sd = np.sqrt(np.trapezoid(post * (beta - mean) ** 2, beta))
    p_benefit = np.trapezoid(np.where(beta < 0, post, 0.0), beta)
    # The within-period weights move the posterior: without them the check would fail.
    assert np.ptp(log_within[np.isfinite(log_within)]) > 1.0
    assert abs(fit.effect_mean[0] - mean) < 0.01
    assert abs(fit.effect_sd[0] / sd - 1.0) < 0.02
    assert abs(fit.p_benefit[0] - p_benefit) < 0.01


def test_within_period_filter_equals_dense_reml() -> None:
    """The Kalman-filter REML pieces equal generalised least squares with dense covariances."""
    from microtrial.analysis.discrete_within import _reml_pieces

    rng = np.random.default_rng(0)
    y = rng.poisson(1.0, (3, 4, 12)).astype(float)
    m = (rng.random(y.shape) > 0.2).astype(float)
    y *= m
    a = np.tile([0.0, 0.3, 0.9], (3, 1))
    phi = np.tile([0.5, 0.7, 0.2], (3, 1))
    log_det, quad, df = _reml_pieces(y, m, a, phi)
    for t in range(3):
        for g in range(3):
            want_det = want_quad = 0.0
            for p in range(4):
                idx = np.flatnonzero(m[t, p])
                lag = np.abs(idx[:, None] - idx[None, :])
                cov = (1 - a[t, g]) * np.eye(idx.size) + a[t, g] * phi[t, g] ** lag
                inv = np.linalg.inv(cov)
                one = np.ones(idx.size)
                s11 = one @ inv @ one
                resid = y[t, p, idx] - (one @ inv @ y[t, p, idx]) / s11
                want_det += np.linalg.slogdet(cov)[1] + np.log(s11)
                want_quad += resid @ inv @ resid
            assert abs(log_det[t, g] - want_det) < 1e-10
            assert abs(quad[t, g] - want_quad) < 1e-10
    assert np.array_equal(df, (m.sum(axis=2) - 1).sum(axis=1))
