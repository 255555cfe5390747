"""Binary (headache day yes/no) and count (attacks per day) n-of-1 outcomes, batched over trials.

Model per trial: ``y_t ~ Bernoulli(expit(eta_t))`` or ``y_t ~ Poisson(exp(eta_t))`` with
``eta_t = mu + beta * active_t + delta * trend_t``; days independent given eta (no
autocorrelation; document any strong day-to-day dependence separately).  ``trend_t`` is in units
of 28 days, centred on the trial's mean in-model day.  Priors: ``mu ~ N(0, 10^2)``,
``beta ~ N(0, 2.5^2)``, ``delta ~ N(0, 2.5^2)`` (weakly informative; Gelman et al. 2008,
Ann Appl Stat 2:1360, for the 2.5 scale), which keeps the posterior proper under separation.

Computation: the marginal posterior density of ``beta`` is evaluated on a 121-point grid spanning
the joint mode ± 8 posterior sd, integrating out ``(mu, delta)`` by a Laplace approximation
conditional on each ``beta`` (Tierney & Kadane 1986, JASA 81:82 — the "integrated nested Laplace"
device).  Moments, tail probabilities and quantiles come from that density (trapezoid rule).
Checked against PyMC NUTS in ``tests/reference/pymc_discrete.py``.

Effect: ``beta`` is the log odds ratio (binary) or log rate ratio (count), active vs placebo;
``difference_*`` is the risk (or rate per day) difference at the trial's centre, from
``mu | beta`` as normal.  The continuous model's ``p_mcid``/``p_mcid_rel`` mean points on the
outcome's scale and have no meaning here, so they are NaN; instead ``p_ratio_reduction`` is
P(ratio ≤ 1 - relative_mcid), e.g. at least 30 % fewer headache days' odds or attacks, and
``p_log_ratio_mcid`` is P(log ratio ≤ -mcid) with ``mcid`` given on the log-ratio scale.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import special

from microtrial.analysis.continuous import (
    ACTIVE,
    BASELINE,
    FLAG_FEW_DAYS,
    FLAG_NO_ARM,
    PLACEBO,
    BatchFit,
    FitOptions,
    warn_flags,
)
from microtrial.errors import ValidationError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

KINDS = ("binary", "count")
POINT_SCALE_COLUMNS = ("p_mcid", "p_mcid_rel", "rho_mean")
PRIOR_SD = np.array([10.0, 2.5, 2.5])  # mu, beta, delta
TREND_UNIT_DAYS = 28.0
N_GRID = 121
GRID_HALF_WIDTH = 8.0
AGHQ_NODES = 3
# Cells of the largest (trials, grid, nodes, days) temporary per chunk: about 160 MB of float64.
CHUNK_CELLS = 20_000_000
_GH_X, _GH_W = np.polynomial.hermite_e.hermegauss(20)
_GH_W = _GH_W / _GH_W.sum()


@dataclass(frozen=True)
class DiscreteFit(BatchFit):
    """A ``BatchFit`` on the log-ratio scale plus the risk or rate difference.

    ``rho_mean``, ``p_mcid`` and ``p_mcid_rel`` are NaN (they are point-scale summaries);
    ``p_ratio_reduction`` and ``p_log_ratio_mcid`` are the ratio-scale ones.
    """

    difference_mean: FloatArray
    difference_sd: FloatArray
    p_ratio_reduction: FloatArray
    p_log_ratio_mcid: FloatArray

    def to_frame(self) -> pd.DataFrame:
        """Tidy results without the point-scale columns that do not apply to ratios."""
        return super().to_frame().drop(columns=list(POINT_SCALE_COLUMNS))


@dataclass(frozen=True)
class _Design:
    """One chunk's model inputs: masked outcome, in-model mask and design matrix."""

    y: FloatArray  # (T, D) outcome, 0 where not in the model
    m: FloatArray  # (T, D) 1.0 on in-model days
    x: FloatArray  # (T, D, q) columns mu, beta[, delta]


def _loglik(kind: str, y: FloatArray, eta: FloatArray, m: FloatArray) -> FloatArray:
    if kind == "binary":
        return np.asarray((m * (y * eta - np.logaddexp(0.0, eta))).sum(axis=-1), np.float64)
    return np.asarray((m * (y * eta - np.exp(np.minimum(eta, 50.0)))).sum(axis=-1), np.float64)


def _mean_weight(kind: str, eta: FloatArray) -> tuple[FloatArray, FloatArray]:
    if kind == "binary":
        p = special.expit(eta)
        return p, p * (1.0 - p)
    lam = np.exp(np.minimum(eta, 50.0))
    return lam, lam


def _joint_mode(kind: str, d: _Design) -> tuple[FloatArray, FloatArray]:
    """Posterior mode and covariance of (mu, beta[, delta]) per trial by damped Newton."""
    y, x, m = d.y, d.x, d.m
    n_trials, q = y.shape[0], x.shape[2]
    prec = 1.0 / PRIOR_SD[:q] ** 2
    theta = np.zeros((n_trials, q))
    if kind == "count":
        rate = (m * y).sum(axis=1) / np.maximum(m.sum(axis=1), 1.0)
        theta[:, 0] = np.log(np.maximum(rate, 0.05))
    hess = np.zeros((n_trials, q, q))
    for _ in range(50):
        eta = np.einsum("tdk,tk->td", x, theta)
        mean, w = _mean_weight(kind, eta)
        grad = np.einsum("tdk,td->tk", x, m * (y - mean)) - prec * theta
        hess = np.einsum("tdk,td,tdl->tkl", x, m * w, x) + np.diag(prec)
        step = np.linalg.solve(hess, grad[:, :, None])[:, :, 0]
        step *= np.minimum(1.0, 3.0 / np.maximum(np.abs(step).max(axis=1, keepdims=True), 1e-300))
        theta += step
        if np.abs(step).max(initial=0.0) < 1e-10:
            break
    return theta, np.asarray(np.linalg.inv(hess), dtype=np.float64)


def _validate(kind: str, vals: FloatArray, arms: npt.NDArray[np.int8], opts: FitOptions) -> None:
    """Refuse unknown kinds, mismatched arrays, impossible values and options this model lacks."""
    if kind not in KINDS:
        raise ValidationError("kind", "unknown outcome kind", value=kind, allowed=KINDS)
    unsupported = {
        "prior": "no informative prior on the log ratio",
        "rho_nodes": "no autocorrelation (no rho grid)",
        "threads": "one thread",
    }
    for name, why in unsupported.items():
        if getattr(opts, name) is not None:
            raise ValidationError(
                name,
                f"not supported for {kind} outcomes ({why})",
                value=getattr(opts, name),
                allowed="None (unset)",
            )
    if vals.shape != arms.shape or vals.ndim != 2:
        raise ValidationError("values", "values and arm must be 2-D of the same shape")
    obs = vals[np.isfinite(vals)]
    if kind == "binary" and not np.isin(obs, (0.0, 1.0)).all():
        raise ValidationError("value", "binary outcomes must be 0 or 1", allowed="0, 1")
    if kind == "count" and not ((obs >= 0) & (obs == np.round(obs))).all():
        raise ValidationError("value", "counts must be whole numbers >= 0")


def _design(vals: FloatArray, arms: npt.NDArray[np.int8], trend: bool) -> _Design:
    """The in-model mask and the ``[1, active[, trend]]`` columns, trend centred per trial."""
    in_model = ((arms == ACTIVE) | (arms == PLACEBO)) & np.isfinite(vals)
    m = in_model.astype(np.float64)
    day = np.arange(vals.shape[1], dtype=np.float64)
    centre = (m * day).sum(axis=1) / np.maximum(m.sum(axis=1), 1.0)
    cols = [m, m * (arms == ACTIVE)]
    if trend:
        cols.append(m * (day[None, :] - centre[:, None]) / TREND_UNIT_DAYS)
    return _Design(y=np.where(in_model, vals, 0.0), m=m, x=np.stack(cols, axis=2))


def _conditional_modes(
    kind: str, d: _Design, theta: FloatArray, cov: FloatArray, grid: FloatArray, nuis: list[int]
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Mode and Hessian of the nuisance parameters at each beta on the grid (Newton, batched)."""
    pn = 1.0 / PRIOR_SD[nuis] ** 2
    c_nb = cov[:, nuis][:, :, [1]][:, :, 0]  # cov(nuisance, beta)
    eta_n = (
        theta[:, nuis][:, None, :]
        + (grid - theta[:, 1:2])[:, :, None] * (c_nb / cov[:, 1, 1][:, None])[:, None, :]
    )  # (T, G, k) start
    xn = d.x[:, :, nuis]  # (T, D, k)
    off = grid[:, :, None] * d.x[:, None, :, 1]  # (T, G, D)
    m, y = d.m[:, None, :], d.y[:, None, :]
    h = np.zeros((*grid.shape, len(nuis), len(nuis)))
    for _ in range(30):
        eta = np.einsum("tdk,tgk->tgd", xn, eta_n) + off
        mean, w = _mean_weight(kind, eta)
        grad = np.einsum("tdk,tgd->tgk", xn, m * (y - mean)) - pn * eta_n
        h = np.einsum("tdk,tgd,tdl->tgkl", xn, m * w, xn) + np.diag(pn)
        step = np.linalg.solve(h, grad[..., None])[..., 0]
        eta_n = eta_n + step
        if np.abs(step).max(initial=0.0) < 1e-10:
            break
    return eta_n, h, off


def _log_marginal(
    kind: str,
    d: _Design,
    grid: FloatArray,
    nuis: list[int],
    eta_n: FloatArray,
    h: FloatArray,
    off: FloatArray,
) -> FloatArray:
    """Unnormalised log posterior of beta on the grid, nuisance integrated out.

    Adaptive Gauss-Hermite quadrature (3 nodes per nuisance dimension) around the conditional
    mode: exact for the Gaussian part and corrects the Laplace error from skewness.
    """
    pn = 1.0 / PRIOR_SD[nuis] ** 2
    k = len(nuis)
    gh_x, gh_w = np.polynomial.hermite_e.hermegauss(AGHQ_NODES)
    mesh = np.stack(np.meshgrid(*([gh_x] * k), indexing="ij"), axis=-1).reshape(-1, k)
    log_wz = np.log(np.prod(np.meshgrid(*([gh_w] * k), indexing="ij"), axis=0).ravel())
    log_wz += 0.5 * (mesh**2).sum(axis=1)
    chol = np.linalg.cholesky(np.linalg.inv(h))  # (T, G, k, k)
    points = eta_n[:, :, None, :] + np.einsum("tgkl,jl->tgjk", chol, mesh)  # (T, G, J, k)
    eta_j = np.einsum("tdk,tgjk->tgjd", d.x[:, :, nuis], points) + off[:, :, None, :]
    logf = (
        _loglik(kind, d.y[:, None, None, :], eta_j, d.m[:, None, None, :])
        - 0.5 * (pn * points**2).sum(axis=3)
        + log_wz
    )
    top = logf.max(axis=2, keepdims=True)
    log_int = np.log(np.exp(logf - top).sum(axis=2)) + top[:, :, 0]
    prec_beta = 1.0 / PRIOR_SD[1] ** 2
    return np.asarray(log_int - 0.5 * grid**2 * prec_beta - 0.5 * np.linalg.slogdet(h)[1])


def interp_rows(x: FloatArray, xp: FloatArray, fp: FloatArray) -> FloatArray:
    """``np.interp(x[i], xp[i], fp[i])`` for every row ``i`` at once (``xp`` rows increasing)."""
    n, size = xp.shape
    rows = np.arange(n)
    # np.interp's bracket: the last j with xp[j] <= x (clipped to the ends).
    j = (xp <= x[:, None]).sum(axis=1) - 1
    j = np.clip(j, 0, size - 2)
    x0, x1, f0, f1 = xp[rows, j], xp[rows, j + 1], fp[rows, j], fp[rows, j + 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = (f1 - f0) / (x1 - x0)
        out = slope * (x - x0) + f0
        retry = slope * (x - x1) + f1
    out = np.where(np.isnan(out), retry, out)
    out = np.where(np.isnan(out) & (f0 == f1), f0, out)
    out = np.where(x == x0, f0, out)
    out = np.where(x >= xp[:, -1], fp[:, -1], out)
    return np.asarray(np.where(x < xp[:, 0], fp[:, 0], out), dtype=np.float64)


def _fit_chunk(
    kind: str, vals: FloatArray, arms: npt.NDArray[np.int8], opts: FitOptions
) -> DiscreteFit:
    """Posterior summaries for one chunk of trials (all trials batched in numpy)."""
    obs = np.isfinite(vals)
    n_act = ((arms == ACTIVE) & obs).sum(axis=1).astype(np.int64)
    n_pl = ((arms == PLACEBO) & obs).sum(axis=1).astype(np.int64)
    base = (arms == BASELINE) & obs
    n_base = base.sum(axis=1).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        base_mean = np.where(base, vals, 0.0).sum(axis=1) / np.where(n_base > 0, n_base, np.nan)
    d = _design(vals, arms, opts.trend)
    theta, cov = _joint_mode(kind, d)
    sd_b = np.sqrt(cov[:, 1, 1])
    z = np.linspace(-GRID_HALF_WIDTH, GRID_HALF_WIDTH, N_GRID)
    grid = theta[:, 1:2] + sd_b[:, None] * z[None, :]  # (T, G)
    # Conditional Laplace over the nuisance parameters (mu[, delta]) at each beta on the grid.
    nuis = [0] + ([2] if opts.trend else [])
    eta_n, h, off = _conditional_modes(kind, d, theta, cov, grid, nuis)
    logpost = _log_marginal(kind, d, grid, nuis, eta_n, h, off)
    dens = np.exp(logpost - logpost.max(axis=1, keepdims=True))
    wts = np.full(N_GRID, 1.0)
    wts[[0, -1]] = 0.5
    dens = dens / (dens * wts).sum(axis=1)[:, None]  # density in units of grid steps
    mean_b = (dens * wts * grid).sum(axis=1)
    sd_post = np.sqrt(np.maximum((dens * wts * grid**2).sum(axis=1) - mean_b**2, 0.0))
    cdf = np.concatenate(
        [np.zeros((grid.shape[0], 1)), np.cumsum(0.5 * (dens[:, 1:] + dens[:, :-1]), axis=1)],
        axis=1,
    )
    cdf /= cdf[:, -1:]
    n = grid.shape[0]
    sign = 1.0 if opts.higher_is_better else -1.0
    rel = opts.relative_mcid
    thr_rel = np.log(1.0 + sign * rel) if rel < 1.0 or sign > 0 else -np.inf
    probs = [interp_rows(np.full(n, c), grid, cdf) for c in (0.0, sign * opts.mcid, thr_rel)]
    if opts.higher_is_better:
        probs = [1.0 - p for p in probs]
    diff_mean, diff_sd = _difference(kind, grid, eta_n, h, dens * wts)

    bad = (n_act == 0) | (n_pl == 0)
    few = (n_act < opts.min_days_per_arm) | (n_pl < opts.min_days_per_arm)
    flags = np.where(few, FLAG_FEW_DAYS, 0) | np.where(bad, FLAG_NO_ARM, 0)
    nan = np.full(n, np.nan)

    def masked(a: FloatArray) -> FloatArray:
        return np.where(bad, nan, a)

    return DiscreteFit(
        n_active=n_act,
        n_placebo=n_pl,
        n_baseline=n_base,
        baseline_mean=base_mean,
        effect_mean=masked(mean_b),
        effect_sd=masked(sd_post),
        ci95_low=masked(interp_rows(np.full(n, 0.025), cdf, grid)),
        ci95_high=masked(interp_rows(np.full(n, 0.975), cdf, grid)),
        p_benefit=masked(probs[0]),
        p_mcid=nan,
        p_mcid_rel=nan,
        rho_mean=nan,
        difference_mean=masked(diff_mean),
        difference_sd=masked(diff_sd),
        p_ratio_reduction=masked(probs[2]),
        p_log_ratio_mcid=masked(probs[1]),
        flags=flags.astype(np.int64),
    )


def _difference(
    kind: str, grid: FloatArray, eta_n: FloatArray, h: FloatArray, weights: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Mean and sd of the risk (rate) difference at the trial centre, mu | beta as normal."""
    var_mu = np.linalg.inv(h)[..., 0, 0]  # (T, G)
    mu_nodes = eta_n[..., 0][..., None] + np.sqrt(var_mu)[..., None] * _GH_X  # (T, G, H)
    if kind == "binary":
        diff = special.expit(mu_nodes + grid[..., None]) - special.expit(mu_nodes)
    else:
        diff = np.exp(mu_nodes + grid[..., None]) - np.exp(mu_nodes)
    d1 = (diff * _GH_W).sum(axis=2)
    d2 = (diff**2 * _GH_W).sum(axis=2)
    mean = (weights * d1).sum(axis=1)
    return mean, np.sqrt(np.maximum((weights * d2).sum(axis=1) - mean**2, 0.0))


def fit_discrete_arrays(
    values: npt.ArrayLike,
    arm: npt.ArrayLike,
    options: FitOptions | None = None,
    *,
    kind: str,
    progress: Callable[[int], None] | None = None,
    warn: bool = True,
) -> DiscreteFit:
    """Fit binary (0/1) or count (0, 1, 2, ...) daily outcomes; arrays shaped ``(trials, days)``.

    Takes the continuous model's ``FitOptions``; ``prior``, ``rho_nodes`` and ``threads`` have no
    meaning here and are refused (``ValidationError``) when set.

    Examples
    --------
    >>> arm = np.repeat(np.array([[1, 0, 0, 1]], dtype=np.int8), 14, axis=1)
    >>> headache = (np.arange(56) % 14 < np.where(arm == 1, 3, 9)).astype(float)
    >>> fit = fit_discrete_arrays(headache, arm, kind="binary")
    >>> round(float(fit.effect_mean[0]), 2), round(float(fit.p_benefit[0]), 3)
    (-2.04, 1.0)
    """
    opts = options or FitOptions()
    vals = np.asarray(values, dtype=np.float64)
    arms = np.asarray(arm, dtype=np.int8)
    _validate(kind, vals, arms, opts)
    n_trials = vals.shape[0]
    per_trial = N_GRID * AGHQ_NODES**2 * max(vals.shape[1], 1)
    size = max(1, min(opts.chunk_size, CHUNK_CELLS // per_trial))
    parts = []
    for a in range(0, max(n_trials, 1), size):
        b = min(a + size, n_trials)
        parts.append(_fit_chunk(kind, vals[a:b], arms[a:b], opts))
        if progress is not None and b > a:
            progress(b - a)
    fit = DiscreteFit(
        **{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(DiscreteFit)}
    )
    if warn:
        warn_flags(fit.flags)
    return fit
