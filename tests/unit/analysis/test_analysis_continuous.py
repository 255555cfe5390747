"""The continuous n-of-1 engine against an independent dense GLS computation, and edge cases."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize, special

from microtrial.analysis import (
    DEFAULT_RHO_PRIOR,
    UNIFORM_RHO_PRIOR,
    BetaPrior,
    FitOptions,
    RhoPrior,
    fit_arrays,
    simulate_trials,
)
from microtrial.analysis._tdist import t_cdf, table_for
from microtrial.analysis.continuous import FLAG_RHO_UNCERTAIN
from microtrial.errors import StatisticalWarning, ValidationError

# Most trials here are short on purpose (fast, exact checks); their results carry the
# short-series warning, which is tested on its own below.
pytestmark = pytest.mark.filterwarnings(
    "ignore:.*day-to-day correlation:microtrial.errors.StatisticalWarning"
)


def dense_reference(
    y: np.ndarray,
    arm: np.ndarray,
    *,
    trend: bool = True,
    prior: BetaPrior | None = None,
    rho_ab: tuple[float, float] = (DEFAULT_RHO_PRIOR.a, DEFAULT_RHO_PRIOR.b),
) -> dict[str, float]:
    """Posterior of beta by brute force: full AR(1) covariance of the observed days.

    Independent of the engine: GLS with the exact correlation matrix rho^|d_i - d_j| (no
    prewhitening, no sufficient statistics), marginal likelihood
    |Sigma|^-1/2 |X'Sigma^-1 X|^-1/2 SSR^-(n-p)/2, times the prior density of rho
    (1 + rho)^(a - 1) (1 - rho)^(b - 1) written out here.
    """
    idx = np.flatnonzero(((arm == 0) | (arm == 1)) & np.isfinite(y))
    cols = [np.ones(idx.size)] + ([idx / 10.0] if trend else []) + [(arm[idx] == 1) * 1.0]
    x = np.column_stack(cols)
    yy = y[idx]
    b = x.shape[1] - 1
    gl_x, gl_w = np.polynomial.legendre.leggauss(240)
    nodes = 0.95 * gl_x
    lw, bh, sc = [], [], []
    nu = idx.size - x.shape[1] + (1 if prior else 0)
    for r in nodes:
        sigma = r ** np.abs(idx[:, None] - idx[None, :])
        chol = np.linalg.cholesky(sigma)
        xw = np.linalg.solve(chol, x)
        yw = np.linalg.solve(chol, yy)
        if prior is not None:
            row = np.zeros(x.shape[1])
            row[b] = 1.0 / prior.sd_in_sigma
            xw = np.vstack([xw, row])
            yw = np.append(yw, prior.mean / prior.sd_in_sigma)
        a = xw.T @ xw
        coef = np.linalg.solve(a, xw.T @ yw)
        ssr = float(((yw - xw @ coef) ** 2).sum())
        logdet_sigma = 2 * np.log(np.diag(chol)).sum()
        lw.append(-0.5 * logdet_sigma - 0.5 * np.linalg.slogdet(a)[1] - 0.5 * nu * np.log(ssr))
        bh.append(coef[b])
        sc.append(np.sqrt(ssr / nu * np.linalg.inv(a)[b, b]))
    lwa = np.array(lw)
    a_rho, b_rho = rho_ab
    w = np.exp(lwa - lwa.max()) * gl_w * (1 + nodes) ** (a_rho - 1) * (1 - nodes) ** (b_rho - 1)
    w /= w.sum()
    bha, sca = np.array(bh), np.array(sc)
    mean = float((w * bha).sum())
    var = float((w * (sca**2 * nu / (nu - 2) + bha**2)).sum()) - mean**2

    def cdf(v: float) -> float:
        return float((w * special.stdtr(nu, (v - bha) / sca)).sum())

    return {
        "mean": mean,
        "sd": float(np.sqrt(var)),
        "p0": cdf(0.0),
        "p1": cdf(-1.0),
        "lo": optimize.brentq(lambda v: cdf(v) - 0.025, -50, 50, xtol=1e-12),
        "hi": optimize.brentq(lambda v: cdf(v) - 0.975, -50, 50, xtol=1e-12),
        "rho": float((w * nodes).sum()),
    }


@pytest.fixture(scope="module")
def trials() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    sim = simulate_trials(
        4,
        rng=rng,
        effect=[-1.0, 0.0, -2.0, 0.5],
        sd=[1.0, 2.0, 1.5, 0.7],
        rho=[0.2, 0.6, -0.2, 0.85],
        run_in=5,
        pairs=2,
        period_length=8,
        wash_in=1,
        missing=0.2,
        trend=[0.0, 1.0, -1.0, 0.5],
    )
    return sim.values, sim.arm


@pytest.mark.parametrize(
    ("trend", "rho_prior"),
    [(True, None), (False, None), (True, UNIFORM_RHO_PRIOR), (False, RhoPrior(3.0, 2.0))],
)
def test_matches_dense_gls_reference(
    trials: tuple[np.ndarray, np.ndarray], trend: bool, rho_prior: RhoPrior | None
) -> None:
    values, arm = trials
    fit = fit_arrays(values, arm, FitOptions(trend=trend, rho_prior=rho_prior))
    used = rho_prior or DEFAULT_RHO_PRIOR
    for i in range(values.shape[0]):
        ref = dense_reference(values[i], arm[i], trend=trend, rho_ab=(used.a, used.b))
        assert fit.effect_mean[i] == pytest.approx(ref["mean"], abs=1e-5)
        assert fit.effect_sd[i] == pytest.approx(ref["sd"], rel=1e-5)
        assert fit.p_benefit[i] == pytest.approx(ref["p0"], abs=1e-5)
        assert fit.p_mcid[i] == pytest.approx(ref["p1"], abs=1e-5)
        assert fit.ci95_low[i] == pytest.approx(ref["lo"], abs=1e-4)
        assert fit.ci95_high[i] == pytest.approx(ref["hi"], abs=1e-4)
        assert fit.rho_mean[i] == pytest.approx(ref["rho"], abs=1e-5)


def test_informative_prior_matches_dense_reference(trials: tuple[np.ndarray, np.ndarray]) -> None:
    values, arm = trials
    prior = BetaPrior(mean=-0.5, sd_in_sigma=0.4)
    fit = fit_arrays(values[:2], arm[:2], FitOptions(prior=prior))
    for i in range(2):
        ref = dense_reference(values[i], arm[i], prior=prior)
        assert fit.effect_mean[i] == pytest.approx(ref["mean"], abs=1e-5)
        assert fit.effect_sd[i] == pytest.approx(ref["sd"], rel=1e-5)
        assert fit.p_benefit[i] == pytest.approx(ref["p0"], abs=1e-5)
    flat = fit_arrays(values[:2], arm[:2])
    # The prior pulls the estimate towards -0.5 and narrows it.
    assert np.all(np.abs(fit.effect_mean + 0.5) < np.abs(flat.effect_mean + 0.5))
    assert np.all(fit.effect_sd < flat.effect_sd)


def test_default_grid_is_converged(trials: tuple[np.ndarray, np.ndarray]) -> None:
    values, arm = trials
    a = fit_arrays(values, arm)
    b = fit_arrays(values, arm, FitOptions(rho_nodes=300))
    for name in ("effect_mean", "effect_sd", "ci95_low", "ci95_high", "p_benefit", "rho_mean"):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), atol=1e-7)


def test_t_table_matches_scipy() -> None:
    nus = np.array([5, 12, 60, 350])
    tab = table_for(nus)
    x = np.linspace(-40, 40, 40001)
    for row, nu in enumerate(tab.nus):
        got = t_cdf(x, np.array(row), tab, np.array(nu))
        np.testing.assert_allclose(got, special.stdtr(nu, x), atol=1e-10)


def test_higher_is_better_flips_probabilities(trials: tuple[np.ndarray, np.ndarray]) -> None:
    values, arm = trials
    low = fit_arrays(values, arm, FitOptions(mcid=0.0))
    high = fit_arrays(values, arm, FitOptions(mcid=0.0, higher_is_better=True))
    np.testing.assert_allclose(high.p_benefit, 1.0 - low.p_benefit, atol=1e-12)
    np.testing.assert_allclose(high.p_mcid, 1.0 - low.p_mcid, atol=1e-12)


def test_relative_threshold_uses_baseline_mean(trials: tuple[np.ndarray, np.ndarray]) -> None:
    values, arm = trials
    fit = fit_arrays(values[:1], arm[:1])
    base = values[0][(arm[0] == 2) & np.isfinite(values[0])].mean()
    assert fit.baseline_mean[0] == pytest.approx(base)
    same = fit_arrays(values[:1], arm[:1], FitOptions(mcid=0.3 * base))
    assert fit.p_mcid_rel[0] == pytest.approx(same.p_mcid[0], abs=1e-9)


def test_arm_with_all_days_missing_gives_nan_and_warning() -> None:
    arm = np.tile(np.repeat(np.array([1, 0], dtype=np.int8), 10), (2, 1))
    values = np.random.default_rng(0).normal(5, 1, arm.shape)
    values[1, arm[1] == 1] = np.nan
    with pytest.warns(StatisticalWarning, match="no observed day in an arm"):
        fit = fit_arrays(values, arm)
    assert np.isfinite(fit.effect_mean[0])
    assert np.isnan(fit.effect_mean[1])
    assert np.isnan(fit.p_benefit[1])
    assert fit.n_active[1] == 0
    assert "no observed day in an arm" in fit.to_frame()["warning"].iloc[1]


def test_constant_values_give_point_mass() -> None:
    arm = np.repeat(np.array([1, 0, 0, 1], dtype=np.int8), 7)[None, :]
    with pytest.warns(StatisticalWarning, match="zero residual variance"):
        fit = fit_arrays(np.full(arm.shape, 3.0), arm)
    assert fit.effect_mean[0] == 0.0
    assert fit.effect_sd[0] == 0.0
    assert fit.ci95_low[0] == fit.ci95_high[0] == 0.0
    assert fit.p_benefit[0] == 0.0


def test_few_days_warn() -> None:
    arm = np.array([[1, 1, 0, 0, 0, 1, 1, 0, 0, 1]], dtype=np.int8)
    values = np.array([[4.0, 3.5, 5.0, 5.5, 4.9, 3.9, 4.1, 5.2, 5.1, np.nan]])
    with pytest.warns(StatisticalWarning, match="few observed days"):
        fit = fit_arrays(values, arm)
    assert fit.flags[0] & 1
    assert fit.effect_mean[0] < 0


def test_nan_input_is_missing_and_inf_rejected() -> None:
    rng = np.random.default_rng(2)
    arm = np.repeat(np.array([1, 0, 0, 1], dtype=np.int8), 8)[None, :]
    values = rng.normal(5, 1, arm.shape)
    values[0, [3, 12, 20]] = np.nan
    fit = fit_arrays(values, arm)
    assert fit.n_active[0] + fit.n_placebo[0] == 29
    values[0, 5] = np.inf
    with pytest.raises(ValidationError, match="finite"):
        fit_arrays(values, arm)


@pytest.mark.slow
def test_one_trial_and_many_tiny_trials() -> None:
    rng = np.random.default_rng(3)
    sim = simulate_trials(1, rng=rng, effect=-3.0, sd=0.5, rho=0.0, missing=0.0)
    fit = fit_arrays(sim.values, sim.arm)
    assert fit.effect_mean.shape == (1,)
    assert fit.p_benefit[0] > 0.999
    assert fit.ci95_low[0] < -3.0 < fit.ci95_high[0]
    many = simulate_trials(
        100_000, rng=rng, run_in=0, pairs=1, period_length=6, wash_in=0, missing=0.0
    )
    fit = fit_arrays(many.values, many.arm, FitOptions(min_days_per_arm=3, chunk_size=50_000))
    assert fit.effect_mean.shape == (100_000,)
    assert np.isfinite(fit.effect_mean).all()
    assert np.isfinite(fit.ci95_low).all()
    # Wide but honest: the true effect -1 lies inside most intervals.
    covered = (fit.ci95_low <= -1.0) & (fit.ci95_high >= -1.0)
    assert 0.93 < covered.mean() < 0.97


def test_shape_and_code_validation() -> None:
    with pytest.raises(ValidationError, match="same shape"):
        fit_arrays(np.zeros((2, 3)), np.zeros((2, 4), dtype=np.int8))
    with pytest.raises(ValidationError, match="unknown arm code"):
        fit_arrays(np.zeros((1, 3)), np.array([[1, 0, 7]], dtype=np.int8))
    with pytest.raises(ValidationError, match="mcid"):
        FitOptions(mcid=-1.0)


def test_progress_and_threads_do_not_change_results(trials: tuple[np.ndarray, np.ndarray]) -> None:
    values, arm = np.tile(trials[0], (5, 1)), np.tile(trials[1], (5, 1))
    seen: list[int] = []
    one = fit_arrays(values, arm, FitOptions(chunk_size=3, threads=1), progress=seen.append)
    two = fit_arrays(values, arm, FitOptions(chunk_size=3, threads=2))
    assert sum(seen) == 20
    np.testing.assert_array_equal(one.effect_mean, two.effect_mean)
    np.testing.assert_array_equal(one.ci95_low, two.ci95_low)


def test_rho_prior_validation_and_shape() -> None:
    with pytest.raises(ValidationError, match=r"rho_prior\.b"):
        RhoPrior(1.0, float("nan"))
    with pytest.raises(ValidationError, match=r"rho_prior\.a"):
        RhoPrior(-3.0, 1.0)  # too steep for the default grid
    rho = np.linspace(-0.9, 0.9, 7)
    np.testing.assert_allclose(UNIFORM_RHO_PRIOR.log_density(rho), 0.0)
    # The default leans towards positive autocorrelation: its density rises with rho.
    assert np.all(np.diff(DEFAULT_RHO_PRIOR.log_density(rho)) > 0)


def test_short_autocorrelated_trial_gets_wider_interval_and_warning() -> None:
    """A 2 x 7-day trial with rho 0.8: the default prior widens the interval and says so."""
    rng = np.random.default_rng(11)
    sim = simulate_trials(
        200, rng=rng, effect=0.0, rho=0.8, run_in=7, pairs=2, period_length=7, wash_in=1
    )
    with pytest.warns(StatisticalWarning, match="day-to-day correlation"):
        fit = fit_arrays(sim.values, sim.arm)
    with pytest.warns(StatisticalWarning, match="day-to-day correlation"):
        flat = fit_arrays(sim.values, sim.arm, FitOptions(rho_prior=UNIFORM_RHO_PRIOR))
    assert np.all(fit.flags & FLAG_RHO_UNCERTAIN)
    assert "too few days to estimate the day-to-day correlation" in fit.warning_text()[0]
    assert np.mean(fit.rho_mean) > np.mean(flat.rho_mean) + 0.1
    width = fit.ci95_high - fit.ci95_low
    assert np.median(width / (flat.ci95_high - flat.ci95_low)) > 1.05


def test_long_trial_pins_rho_down_without_warning() -> None:
    rng = np.random.default_rng(12)
    sim = simulate_trials(50, rng=rng, rho=0.3, run_in=7, pairs=3, period_length=28, wash_in=2)
    fit = fit_arrays(sim.values, sim.arm)  # an unexpected warning fails the test
    assert not np.any(fit.flags & FLAG_RHO_UNCERTAIN)
    # With this much data the prior of rho hardly matters.
    flat = fit_arrays(sim.values, sim.arm, FitOptions(rho_prior=UNIFORM_RHO_PRIOR))
    np.testing.assert_allclose(fit.effect_sd, flat.effect_sd, rtol=0.05)
