"""Exact Bayesian n-of-1 analysis of a continuous outcome, batched over trials.

Model (per trial): ``y_t = mu + beta * active_t + delta * trend_t + e_t`` with AR(1) errors over
calendar days, ``corr(e_s, e_t) = rho^|t - s|`` (gaps between observed days handled exactly, no
imputation), stationary start.  Prior: ``p(mu, beta, delta, sigma^2) ∝ 1 / sigma^2`` and, by
default, ``p(rho) ∝ (1 - rho)^-1.25`` on (-0.95, 0.95) (``RhoPrior``; ``UNIFORM_RHO_PRIOR`` gives
the uniform prior of earlier versions).  The default leans to positive autocorrelation so that
short, strongly autocorrelated trials keep their interval coverage (docs/ANALYSIS.md, "Prior of
rho"); results whose data cannot pin ``rho`` down carry a warning.

Given ``rho`` the model is a linear regression on prewhitened rows
``(w_t - rho^g w_prev) / sqrt(1 - rho^(2g))`` (first observed day untransformed), so
``mu, beta, delta, sigma^2`` integrate out in closed form:
``p(y | rho) ∝ |X'X|^(-1/2) SSR^(-(n-p)/2) prod_g (1 - rho^(2g))^(-n_g/2)``
and
``beta | rho, y ~ t_(n-p)(b_hat, SSR (X'X)^-1_bb / (n-p))``.  A Gauss–Legendre rule over ``rho``
turns this into a mixture of Student-t distributions, from which moments, tail probabilities and
equal-tailed quantiles are computed exactly (up to quadrature error < 1e-8, checked in the tests).

Speed: the data are read once into per-trial sufficient statistics grouped by gap length (cross
products of the ``[X y]`` rows at lag 0 and 1); each ``rho`` node then only needs one matrix
product with a ``(nodes, statistics)`` coefficient matrix and a few elementwise eliminations.

Optional informative prior ``beta | sigma^2 ~ N(m0, (s0 * sigma)^2)`` (sd in units of the residual
sd, which keeps the model conjugate and the result exact): it enters as one pseudo-observation and
adds one degree of freedom.

References: Box, Jenkins & Reinsel, *Time Series Analysis* (AR(1) prewhitening);
Zellner (1971), *An Introduction to Bayesian Inference in Econometrics*, ch. 3–4 (reference prior).
"""

from __future__ import annotations

import multiprocessing
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import special

from microtrial.analysis._tdist import table_for
from microtrial.analysis.posterior_kernel import (
    DEFAULT_RHO_PRIOR,
    RhoConditionals,
    RhoPrior,
    mixture_cdf,
    mixture_quantiles,
    rho_conditionals,
    rho_grid,
    unique_entries,
)
from microtrial.errors import StatisticalWarning, ValidationError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

ACTIVE, PLACEBO, BASELINE, EXCLUDED = 1, 0, 2, -1


def N_(message: str) -> str:
    """Mark ``message`` for the catalogs (``make messages``): a report worded in another language
    translates each flag's text (reports/endpoint_patient.py); returned unchanged."""
    return message


# Warning flags (bitmask in ``BatchFit.flags``).
FLAG_FEW_DAYS = 1
FLAG_NO_ARM = 2
FLAG_RHO_BOUNDARY = 4
FLAG_ZERO_VARIANCE = 8
FLAG_FEW_DF = 16
FLAG_NOT_IDENTIFIABLE = 32
FLAG_RHO_UNCERTAIN = 64
# Binary/count outcomes by period: too few periods on an arm to estimate their extra variation.
FLAG_FEW_PERIODS = 256
FLAG_TEXT = {
    FLAG_FEW_DAYS: N_("few observed days in an arm"),
    FLAG_NO_ARM: N_("no observed day in an arm"),
    FLAG_RHO_BOUNDARY: N_("rho posterior piled at the boundary"),
    FLAG_ZERO_VARIANCE: N_("zero residual variance"),
    FLAG_FEW_DF: N_("too few days for a finite posterior sd"),
    FLAG_NOT_IDENTIFIABLE: N_("effect not identifiable"),
    FLAG_RHO_UNCERTAIN: N_(
        "too few days to estimate the day-to-day correlation: the interval rests on its prior "
        "and may be too narrow"
    ),
    FLAG_FEW_PERIODS: N_(
        "fewer than 2 periods on an arm: how much headache days or attacks vary from period to "
        "period cannot be estimated, so the interval leans on the prior"
    ),
}
# The data are said not to pin rho down below this many in-model days or above this posterior
# sd of rho (docs/ANALYSIS.md, "Prior of rho"; bench/calibration_short.py).
RHO_MIN_DAYS = 30
RHO_SD_WARN = 0.25


@dataclass(frozen=True)
class BetaPrior:
    """Informative prior ``beta | sigma^2 ~ N(mean, (sd_in_sigma * sigma)^2)`` (conjugate)."""

    mean: float = 0.0
    sd_in_sigma: float = 1.0

    def __post_init__(self) -> None:
        if not np.isfinite(self.mean):
            raise ValidationError("prior.mean", "must be finite", value=self.mean)
        if not (np.isfinite(self.sd_in_sigma) and self.sd_in_sigma > 0):
            raise ValidationError("prior.sd_in_sigma", "must be > 0", value=self.sd_in_sigma)


@dataclass(frozen=True)
class FitOptions:
    """Settings of the continuous model and of its summaries."""

    mcid: float = 1.0
    relative_mcid: float = 0.3
    trend: bool = True
    higher_is_better: bool = False
    prior: BetaPrior | None = None
    rho_prior: RhoPrior | None = None  # None: DEFAULT_RHO_PRIOR
    rho_nodes: int | None = None
    min_days_per_arm: int = 5
    chunk_size: int = 8192
    threads: int | None = None  # None: one per CPU core (at most 4)
    # (low, high): compute the 95 % interval only for trials whose P(beta beyond the MCID) is
    # <= low or >= high (NaN elsewhere). An adaptive look needs it only where it stops, and the
    # interval's quantiles cost about a third of a fit (analysis/adaptive.py). None: for all.
    interval_outside: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if not (np.isfinite(self.mcid) and self.mcid >= 0):
            raise ValidationError("mcid", "must be a finite number >= 0", value=self.mcid)
        if not (np.isfinite(self.relative_mcid) and self.relative_mcid >= 0):
            raise ValidationError("relative_mcid", "must be >= 0", value=self.relative_mcid)
        if self.rho_nodes is not None and self.rho_nodes < 8:
            raise ValidationError("rho_nodes", "must be at least 8", value=self.rho_nodes)
        if self.chunk_size < 1:
            raise ValidationError("chunk_size", "must be positive", value=self.chunk_size)

    @property
    def rho_prior_used(self) -> RhoPrior:
        """The prior of rho the continuous model uses (the default when none is set)."""
        return DEFAULT_RHO_PRIOR if self.rho_prior is None else self.rho_prior


@dataclass(frozen=True)
class BatchFit:
    """Per-trial posterior summaries of ``beta`` (active minus placebo), one entry per trial."""

    n_active: IntArray
    n_placebo: IntArray
    n_baseline: IntArray
    baseline_mean: FloatArray
    effect_mean: FloatArray
    effect_sd: FloatArray
    ci95_low: FloatArray
    ci95_high: FloatArray
    p_benefit: FloatArray
    p_mcid: FloatArray
    p_mcid_rel: FloatArray
    rho_mean: FloatArray
    flags: IntArray

    def warning_text(self) -> list[str]:
        """The flags of each trial as a ``"; "``-joined text ("" when none)."""
        out = [""] * len(self.flags)
        for i in np.flatnonzero(self.flags):
            f = int(self.flags[i])
            out[i] = "; ".join(text for bit, text in FLAG_TEXT.items() if f & bit)
        return out

    def to_frame(self) -> pd.DataFrame:
        """The results as a tidy DataFrame (one row per trial, ``warning`` as text)."""
        data: dict[str, object] = {
            f.name: getattr(self, f.name) for f in fields(self) if f.name != "flags"
        }
        data["warning"] = self.warning_text()
        return pd.DataFrame(data)

    @staticmethod
    def concat(parts: list[BatchFit]) -> BatchFit:
        """Concatenate chunk results in order."""
        return BatchFit(
            **{
                f.name: np.concatenate([getattr(p, f.name) for p in parts])
                for f in fields(BatchFit)
            }
        )


def sufficient_statistics(
    values: FloatArray, arm: npt.NDArray[np.int8], trend: bool
) -> tuple[FloatArray, IntArray, IntArray, IntArray]:
    """Gap-grouped cross products of the ``[1, trend, active, y]`` rows for one chunk of trials.

    Returns ``stats`` (K, E, T), ``gaps`` (G,), ``counts`` (G, T) pairs per gap and ``n`` (T,),
    where K = 1 + 2G: the plain cross products, then per gap the lag-0 sums
    ``w_t w_t' + w_p w_p'`` and the symmetrised lag-1 sums ``w_t w_p' + w_p w_t'``.
    """
    n_trials, n_days = values.shape
    in_model = ((arm == ACTIVE) | (arm == PLACEBO)) & np.isfinite(values)
    n = in_model.sum(axis=1).astype(np.int64)
    mf = in_model.astype(np.float64)
    y = np.where(in_model, values, 0.0)
    ybar = y.sum(axis=1) / np.maximum(n, 1)
    yc = np.where(in_model, values - ybar[:, None], 0.0)
    cols = [mf]
    if trend:
        s = (np.arange(n_days, dtype=np.float64) - (n_days - 1) / 2.0) / max(n_days, 1)
        cols.append(mf * s[None, :])
    cols.append(mf * (arm == ACTIVE))
    cols.append(yc)
    w = np.stack(cols, axis=2)  # (T, D, q)
    q = w.shape[2]
    _, iu, ju = unique_entries(q)

    day = np.arange(n_days)
    last = np.maximum.accumulate(np.where(in_model, day[None, :], -1), axis=1)
    prev = np.concatenate([np.full((n_trials, 1), -1), last[:, :-1]], axis=1)
    has_prev = in_model & (prev >= 0)
    gap = np.where(has_prev, day[None, :] - prev, 0)

    # Pairs one day apart are a shift of the arrays; only longer gaps (rare) need a gather.
    wt1 = w[:, 1:] * mf[:, :-1, None]
    wp1 = w[:, :-1] * mf[:, 1:, None]
    a0 = w.transpose(0, 2, 1) @ w
    p1 = wt1.transpose(0, 2, 1) @ wt1 + wp1.transpose(0, 2, 1) @ wp1
    c1 = wt1.transpose(0, 2, 1) @ wp1
    q1 = c1 + c1.transpose(0, 2, 1)

    ti, di = np.nonzero(gap > 1)
    other, ginv = np.unique(gap[ti, di], return_inverse=True)
    gaps = np.concatenate([[1], other]).astype(np.int64)
    n_gaps = gaps.size
    n_ent = iu.size
    stats = np.empty((1 + 2 * n_gaps, n_ent, n_trials))
    stats[0] = a0[:, iu, ju].T
    stats[1] = p1[:, iu, ju].T
    stats[1 + n_gaps] = q1[:, iu, ju].T
    counts = np.empty((n_gaps, n_trials), dtype=np.int64)
    counts[0] = (in_model[:, 1:] & in_model[:, :-1]).sum(axis=1)
    if other.size:
        key = ginv.astype(np.int64) * n_trials + ti
        size = other.size * n_trials
        counts[1:] = np.bincount(key, minlength=size).reshape(other.size, n_trials)
        wt_s = w[ti, di]
        wp_s = w[ti, prev[ti, di]]
        for e in range(n_ent):
            i, j = iu[e], ju[e]
            lag0 = wt_s[:, i] * wt_s[:, j] + wp_s[:, i] * wp_s[:, j]
            lag1 = wt_s[:, i] * wp_s[:, j] + wp_s[:, i] * wt_s[:, j]
            stats[2 : 1 + n_gaps, e] = np.bincount(key, lag0, size).reshape(other.size, n_trials)
            stats[2 + n_gaps :, e] = np.bincount(key, lag1, size).reshape(other.size, n_trials)
    return stats, gaps, counts, n


def fit_chunk(values: FloatArray, arm: npt.NDArray[np.int8], options: FitOptions) -> BatchFit:
    """Fit one chunk of trials with the numpy engine (arrays shaped ``(trials, days)``)."""
    if values.shape[0] == 0:
        e_f, e_i = np.empty(0), np.empty(0, dtype=np.int64)
        return BatchFit(e_i, e_i, e_i, e_f, e_f, e_f, e_f, e_f, e_f, e_f, e_f, e_f, e_i)
    obs = np.isfinite(values)
    n_act = ((arm == ACTIVE) & obs).sum(axis=1).astype(np.int64)
    n_pl = ((arm == PLACEBO) & obs).sum(axis=1).astype(np.int64)
    base = (arm == BASELINE) & obs
    n_base = base.sum(axis=1).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        base_mean = np.where(base, values, 0.0).sum(axis=1) / np.where(n_base > 0, n_base, np.nan)

    stats, gaps, counts, n = sufficient_statistics(values, arm, options.trend)
    nodes, log_w = rho_grid(int(n.max(initial=1)), options.rho_nodes, options.rho_prior_used)
    cond = rho_conditionals(stats, gaps, counts, n, nodes, log_w, options.trend, options.prior)
    return summarise(cond, nodes, n_act, n_pl, n_base, base_mean, options)


def summarise(
    cond: RhoConditionals,
    nodes: FloatArray,
    n_act: IntArray,
    n_pl: IntArray,
    n_base: IntArray,
    base_mean: FloatArray,
    options: FitOptions,
) -> BatchFit:
    """Turn the rho-conditional t components into the per-trial summaries."""
    n_trials = n_act.size
    bad = cond.singular | (n_act == 0) | (n_pl == 0)
    lw = np.where(bad[None, :], 0.0, cond.log_weight)
    lw = lw - lw.max(axis=0, keepdims=True)
    w = np.exp(lw)
    w /= w.sum(axis=0, keepdims=True)
    nu = np.where(bad, 3, np.maximum(cond.nu, 1))
    b_hat = np.where(bad[None, :], 0.0, cond.b_hat)
    scale = np.where(bad[None, :] | cond.degenerate[None, :], 1.0, cond.scale)

    mean = (w * b_hat).sum(axis=0)
    nu_f = nu.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        var_factor = np.where(nu > 2, nu_f / (nu_f - 2.0), np.nan)
    second = (w * (scale**2 * var_factor + b_hat**2)).sum(axis=0)
    sd = np.sqrt(np.maximum(second - mean**2, 0.0))
    rho_mean = (w * nodes[:, None]).sum(axis=0)
    rho_sd = np.sqrt(np.maximum((w * nodes[:, None] ** 2).sum(axis=0) - rho_mean**2, 0.0))
    p_boundary = (w * (np.abs(nodes) > 0.9)[:, None]).sum(axis=0)

    thresholds = thresholds_for(base_mean, options)
    thr_safe = np.where(np.isfinite(thresholds), thresholds, 0.0)
    start_sd = np.where(np.isfinite(sd), sd, (w * scale).sum(axis=0) * 3.0)
    t975 = special.stdtrit(np.maximum(nu, 1).astype(np.float64), 0.975)
    start = mean[None, :] + np.array([-1.0, 1.0])[:, None] * (t975 * start_sd)[None, :]

    # Tail probabilities and quantiles only need the nodes holding all but 1e-12 of the mass;
    # trials are grouped by how many that is so that a few wide posteriors don't slow the rest.
    need = (w > 1e-12 / nodes.size).sum(axis=0)
    cdf = np.empty((3, n_trials))
    ci = np.full((2, n_trials), np.nan)
    k_main = int(np.ceil(np.percentile(need, 99))) if n_trials else 1
    groups = []
    for group in (need <= k_main, need > k_main):
        idx = np.flatnonzero(group)
        if idx.size == 0:
            continue
        k = int(need[idx].max())
        wg, bg, sg = w[:, idx], b_hat[:, idx], scale[:, idx]
        if k < nodes.size:
            top = np.argpartition(-wg, k - 1, axis=0)[:k]
            wg = np.take_along_axis(wg, top, axis=0)
            bg = np.take_along_axis(bg, top, axis=0)
            sg = np.take_along_axis(sg, top, axis=0)
            wg = wg / wg.sum(axis=0, keepdims=True)
        tab = table_for(nu[idx])
        row = tab.index_of(nu[idx])
        cdf[:, idx] = mixture_cdf(thr_safe[:, idx], wg, bg, sg, nu[idx], row, tab)
        groups.append((idx, wg, bg, sg, tab))
    # P(beta >= c) = 1 - P(beta < c) as the mixture is continuous.
    probs = 1.0 - cdf if options.higher_is_better else cdf
    probs = np.where(np.isfinite(thresholds), probs, np.nan)
    wanted = interval_wanted(probs[1], options)
    for idx, wg, bg, sg, tab in groups:
        pick = wanted[idx]
        if pick.all():
            ci[:, idx] = mixture_quantiles(
                np.array([0.025, 0.975]), start[:, idx], wg, bg, sg, nu[idx], tab
            )
        elif pick.any():
            ci[:, idx[pick]] = mixture_quantiles(
                np.array([0.025, 0.975]),
                start[:, idx[pick]],
                wg[:, pick],
                bg[:, pick],
                sg[:, pick],
                nu[idx[pick]],
                tab,
            )
    return finalise(
        cond,
        b_hat[0],
        n_act,
        n_pl,
        n_base,
        base_mean,
        options,
        mean=mean,
        sd=sd,
        ci=ci,
        probs=probs,
        rho_mean=rho_mean,
        rho_sd=rho_sd,
        p_boundary=p_boundary,
    )


def interval_wanted(p_mcid: FloatArray, options: FitOptions) -> npt.NDArray[np.bool_]:
    """The trials whose 95 % interval is computed (``FitOptions.interval_outside``)."""
    if options.interval_outside is None:
        return np.ones(p_mcid.shape, dtype=bool)
    low, high = options.interval_outside
    return ~((p_mcid > low) & (p_mcid < high))


def thresholds_for(base_mean: FloatArray, options: FitOptions) -> FloatArray:
    """The three decision thresholds per trial: 0, ±MCID and ±relative MCID x baseline."""
    sign = 1.0 if options.higher_is_better else -1.0
    rel = options.relative_mcid * np.abs(base_mean)
    zeros = np.zeros(base_mean.size)
    return np.stack([zeros, np.full(base_mean.size, sign * options.mcid), sign * rel])


def finalise(
    cond: RhoConditionals,
    b_first: FloatArray,
    n_act: IntArray,
    n_pl: IntArray,
    n_base: IntArray,
    base_mean: FloatArray,
    options: FitOptions,
    *,
    mean: FloatArray,
    sd: FloatArray,
    ci: FloatArray,
    probs: FloatArray,
    rho_mean: FloatArray,
    rho_sd: FloatArray,
    p_boundary: FloatArray,
) -> BatchFit:
    """Flags, point-mass and missing-arm handling shared by the numpy and JAX backends."""
    n_trials = n_act.size
    bad = cond.singular | (n_act == 0) | (n_pl == 0)
    sign = 1.0 if options.higher_is_better else -1.0
    thresholds = thresholds_for(base_mean, options)
    flags = np.zeros(n_trials, dtype=np.int64)
    few = (n_act < options.min_days_per_arm) | (n_pl < options.min_days_per_arm)
    flags |= np.where(few, FLAG_FEW_DAYS, 0)
    no_arm = (n_act == 0) | (n_pl == 0)
    flags |= np.where(no_arm, FLAG_NO_ARM, 0)
    flags |= np.where(cond.singular & ~no_arm, FLAG_NOT_IDENTIFIABLE, 0)
    flags |= np.where(~bad & (p_boundary > 0.5), FLAG_RHO_BOUNDARY, 0)
    flags |= np.where(~bad & (cond.nu <= 2), FLAG_FEW_DF, 0)
    degen = cond.degenerate & ~bad
    flags |= np.where(degen, FLAG_ZERO_VARIANCE, 0)
    rho_loose = (n_act + n_pl < RHO_MIN_DAYS) | (rho_sd > RHO_SD_WARN)
    flags |= np.where(~bad & ~degen & rho_loose, FLAG_RHO_UNCERTAIN, 0)

    # A perfect fit: the posterior of beta is a point mass at the (rho-independent) estimate.
    if np.any(degen):
        b0 = np.where(bad, 0.0, b_first)
        mean = np.where(degen, b0, mean)
        sd = np.where(degen, 0.0, sd)
        ci = np.where(degen[None, :], b0[None, :], ci)
        point = b0[None, :]
        mass = np.where(sign > 0, point >= thresholds, point <= thresholds).astype(np.float64)
        # P(benefit) is strict: a point mass at 0 is no benefit.
        mass[0] = (point[0] > 0) if sign > 0 else (point[0] < 0)
        probs = np.where(degen[None, :], np.where(np.isfinite(thresholds), mass, np.nan), probs)
        rho_mean = np.where(degen, np.nan, rho_mean)

    nan = np.full(n_trials, np.nan)
    # Every backend leaves the same intervals out (the numpy one does not compute them).
    ci = np.where(interval_wanted(probs[1], options)[None, :], ci, np.nan)

    def masked(a: FloatArray) -> FloatArray:
        return np.where(bad, nan, a)

    return BatchFit(
        n_active=n_act,
        n_placebo=n_pl,
        n_baseline=n_base,
        baseline_mean=base_mean,
        effect_mean=masked(mean),
        effect_sd=masked(sd),
        ci95_low=masked(ci[0]),
        ci95_high=masked(ci[1]),
        p_benefit=masked(probs[0]),
        p_mcid=masked(probs[1]),
        p_mcid_rel=masked(probs[2]),
        rho_mean=masked(rho_mean),
        flags=flags,
    )


def warn_flags(flags: IntArray) -> None:
    """Emit one ``StatisticalWarning`` summarising the flagged trials (if any)."""
    flagged = int(np.count_nonzero(flags))
    if not flagged:
        return
    kinds = [text for bit, text in FLAG_TEXT.items() if np.any(flags & bit)]
    warnings.warn(
        f"{flagged} of {flags.size} trial(s) flagged ({'; '.join(kinds)}); "
        "see the 'warning' column",
        StatisticalWarning,
        stacklevel=3,
    )


def fit_arrays(
    values: npt.ArrayLike,
    arm: npt.ArrayLike,
    options: FitOptions | None = None,
    *,
    progress: Callable[[int], None] | None = None,
    warn: bool = True,
) -> BatchFit:
    """Fit the continuous n-of-1 model to trials given as ``(trials, days)`` arrays.

    Parameters
    ----------
    values
        Outcome per trial and calendar day; NaN marks a missing day.
    arm
        Per day: 1 active, 0 placebo, 2 baseline, -1 excluded (wash-in) or no period.
    options
        Model and summary settings (MCID, trend, prior, grid).
    progress
        Called with the number of trials finished after each chunk.
    warn
        Emit one ``StatisticalWarning`` when any trial is flagged.

    Returns
    -------
    BatchFit
        Posterior summaries of ``beta`` (active minus placebo) per trial.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> arm = np.tile(np.repeat([1, 0, 0, 1], 7), (1, 1)).astype(np.int8)
    >>> y = 5.0 - 2.0 * (arm == 1) + rng.normal(0, 1, arm.shape)
    >>> fit = fit_arrays(y, arm)
    >>> round(float(fit.effect_mean[0]), 2), round(float(fit.p_benefit[0]), 3)
    (-2.27, 1.0)
    """
    opts = options or FitOptions()
    vals = np.asarray(values, dtype=np.float64)
    arms = np.asarray(arm, dtype=np.int8)
    if vals.ndim != 2 or vals.shape != arms.shape:
        raise ValidationError(
            "values", "values and arm must be 2-D arrays of the same shape", value=vals.shape
        )
    if np.isinf(vals).any():
        raise ValidationError("values", "must be finite or NaN (missing)", value="inf")
    known = (arms >= EXCLUDED) & (arms <= BASELINE)  # the codes are -1..2
    if not known.all():
        raise ValidationError(
            "arm", "unknown arm code", value=int(arms[~known][0]), allowed="-1..2"
        )
    n_trials = vals.shape[0]
    threads = max(1, opts.threads or min(4, multiprocessing.cpu_count()))
    # Equal chunks, at most chunk_size, a multiple of the thread count so that no thread idles.
    n_chunks = max(1, -(-n_trials // opts.chunk_size))
    n_chunks = -(-n_chunks // threads) * threads if n_trials >= threads else 1
    size = max(1, -(-n_trials // n_chunks))
    bounds = [(a, min(a + size, n_trials)) for a in range(0, n_trials, size)]
    parts: list[BatchFit] = []
    threads = min(threads, len(bounds))
    if threads <= 1:
        for a, b in bounds:
            parts.append(fit_chunk(vals[a:b], arms[a:b], opts))
            if progress is not None:
                progress(b - a)
    else:
        # numpy releases the GIL in its array loops, so chunks run in parallel on threads.
        with ThreadPoolExecutor(max_workers=threads) as pool:
            futures = [pool.submit(fit_chunk, vals[a:b], arms[a:b], opts) for a, b in bounds]
            for (a, b), future in zip(bounds, futures, strict=True):
                parts.append(future.result())
                if progress is not None:
                    progress(b - a)
    if not parts:
        parts.append(fit_chunk(np.empty((0, 1)), np.empty((0, 1), np.int8), opts))
    fit = BatchFit.concat(parts)
    if warn:
        warn_flags(fit.flags)
    return fit
