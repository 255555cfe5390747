"""Binary (headache day yes/no) and count (attacks per day) n-of-1 outcomes, batched over trials.

Two models, both on the per-day logit (log rate) ``eta = mu + beta * active + delta * trend``
with ``trend`` in units of 28 days centred on the trial's mean in-model day, and priors
``mu ~ N(0, 10^2)``, ``beta ~ N(0, 2.5^2)``, ``delta ~ N(0, 2.5^2)`` (weakly informative; Gelman et
al. 2008, Ann Appl Stat 2:1360, for the 2.5 scale), which keeps the posterior proper under
separation:

* ``serial="periods"`` (default): headache days cluster and attacks come in bouts, so days are not
  independent.  The model works on period totals (a period is a run of consecutive days on one
  arm, ended by an arm change, a wash-in or a baseline day): beta-binomial totals of headache days
  and negative-binomial totals of attacks.  Their extra variation between periods is one
  parameter, the share ``c`` of a typical period's variance beyond binomial / Poisson
  (``c / c_max ~ Uniform(0, 1)`` for headache days, ``c ~ Uniform(0, 1)`` for attacks, integrated
  on ``N_DISPERSION`` Gauss-Legendre nodes), so day-to-day
  dependence and overdispersion widen the interval instead of faking precision.  The nodes are
  weighted by the likelihood of the period totals and by that of the days inside the periods
  (``discrete_within``: short-memory dependence and day-level overdispersion).  ``beta`` is the
  log ratio of the per-day odds (rate) averaged over the patient's days, active vs placebo.
* ``serial="none"``: days independent given eta (Bernoulli / Poisson per day); right only for
  diaries without serial dependence.  Checked against PyMC NUTS in
  ``tests/reference/pymc_discrete.py``.

Computation: for each overdispersion node (one for ``"none"``) the marginal posterior density of
``beta`` is evaluated on a 121-point grid spanning the joint mode ± 8 posterior sd, integrating out
``(mu, delta)`` by adaptive Gauss-Hermite quadrature around the mode conditional on each ``beta``
(Tierney & Kadane 1986, JASA 81:82 — the "integrated nested Laplace" device); nodes are weighted
by their prior weight times the marginal likelihood, and the summaries come from the mixture.

Effect: ``beta`` is the log odds ratio (binary) or log rate ratio (count), active vs placebo;
``difference_*`` is the risk (or rate per day) difference at the trial's centre, from
``mu | beta`` as normal.  The continuous model's ``p_mcid``/``p_mcid_rel`` mean points on the
outcome's scale and have no meaning here, so they are NaN; instead ``p_ratio_reduction`` is
P(ratio ≤ 1 - relative_mcid), e.g. at least 30 % lower odds of a headache day or 30 % fewer
attacks, and ``p_log_ratio_mcid`` is P(log ratio ≤ -mcid) with ``mcid`` on the log-ratio scale.
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
    FLAG_FEW_PERIODS,
    FLAG_NO_ARM,
    PLACEBO,
    BatchFit,
    FitOptions,
    warn_flags,
)
from microtrial.analysis.discrete_lik import (
    AGHQ_NODES,
    DayLikelihood,
    Design,
    Likelihood,
    PeriodLikelihood,
    conditional_modes,
    interp_rows,
    joint_mode,
    log_marginal,
)
from microtrial.analysis.discrete_within import period_days, within_log_likelihood
from microtrial.errors import ValidationError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

__all__ = ["KINDS", "SERIAL", "DiscreteFit", "fit_discrete_arrays", "interp_rows"]

KINDS = ("binary", "count")
SERIAL = ("periods", "none")
POINT_SCALE_COLUMNS = ("p_mcid", "p_mcid_rel", "rho_mean")
TREND_UNIT_DAYS = 28.0
N_GRID = 121
GRID_HALF_WIDTH = 8.0
N_DISPERSION = 10
MAX_PERIOD_CORRELATION = 0.8
MIN_PERIODS_PER_ARM = 2
# Cells of the largest (rows, grid, nodes, days) temporary per chunk: about 160 MB of float64.
CHUNK_CELLS = 20_000_000
_GH_X, _GH_W = np.polynomial.hermite_e.hermegauss(20)
_GH_W = _GH_W / _GH_W.sum()
_C_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(N_DISPERSION)
_C_NODES = 0.5 * (_C_NODES + 1.0)  # on (0, 1): c / c_max for headache days, c for attacks
# Prior of c (on its node scale): Beta(a, b) per outcome kind, uniform for both.  Six period
# totals and about 70 within-period days say little about c, so with the uniform prior independent
# days get intervals a little too wide (coverage about 0.98).  Leaning to small c narrows them,
# but it narrows the clustered settings as much: Beta(1, 2), Beta(1, 3), Beta(0.5, 1) or mass at
# c ~ 0 gave false benefit over 6 % at latent rho 0.85 (headache days) or for the AR(1) frailty
# (attacks; Beta(0.5, 1): 7.0 % over 2,000 null trials) and still left Poisson counts at 0.977
# (docs/PERFORMANCE.md, "Prior of the extra variation").
C_PRIOR = {"binary": (1.0, 1.0), "count": (1.0, 1.0)}


def c_weights(kind: str) -> FloatArray:
    """Prior weight of each node of ``c``: Gauss-Legendre weight times the Beta prior density.

    Normalised to sum to 1 (the nodes are the prior's support; with ``a < 1`` the quadrature of
    the density alone would sum to a little less).
    """
    a, b = C_PRIOR[kind]
    w = _GL_WEIGHTS * _C_NODES ** (a - 1.0) * (1.0 - _C_NODES) ** (b - 1.0)
    return np.asarray(w / w.sum(), np.float64)


@dataclass(frozen=True)
class DiscreteFit(BatchFit):
    """A ``BatchFit`` on the log-ratio scale plus the risk or rate difference.

    ``rho_mean``, ``p_mcid`` and ``p_mcid_rel`` are NaN (they are point-scale summaries);
    ``p_ratio_reduction`` and ``p_log_ratio_mcid`` are the ratio-scale ones, and
    ``extra_variation_mean`` is the posterior mean share of a period's variance beyond
    binomial / Poisson (NaN with ``serial="none"``).
    """

    difference_mean: FloatArray
    difference_sd: FloatArray
    p_ratio_reduction: FloatArray
    p_log_ratio_mcid: FloatArray
    extra_variation_mean: FloatArray

    def to_frame(self) -> pd.DataFrame:
        """Tidy results without the point-scale columns that do not apply to ratios."""
        return super().to_frame().drop(columns=list(POINT_SCALE_COLUMNS))


@dataclass(frozen=True)
class _Posterior:
    """The marginal posterior of beta per row on its own grid, and the nuisance modes."""

    grid: FloatArray  # (R, G)
    dens: FloatArray  # (R, G) trapezoid-weighted probabilities, rows sum to 1
    cdf: FloatArray  # (R, G)
    log_evidence: FloatArray  # (R,) log p(y) up to a constant shared by all rows
    eta_n: FloatArray  # (R, G, k) conditional nuisance modes
    h: FloatArray  # (R, G, k, k) their Hessians


def _validate(
    kind: str, serial: str, vals: FloatArray, arms: npt.NDArray[np.int8], opts: FitOptions
) -> None:
    """Refuse unknown kinds, mismatched arrays, impossible values and options this model lacks."""
    if kind not in KINDS:
        raise ValidationError("kind", "unknown outcome kind", value=kind, allowed=KINDS)
    if serial not in SERIAL:
        raise ValidationError(
            "serial", "unknown serial-dependence model", value=serial, allowed=SERIAL
        )
    unsupported = {
        "prior": "no informative prior on the log ratio",
        "rho_nodes": "no autocorrelation grid (periods carry the dependence)",
        "rho_prior": "no autocorrelation parameter (periods carry the dependence)",
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


def _day_design(vals: FloatArray, arms: npt.NDArray[np.int8], trend: bool) -> Design:
    """The in-model mask and the ``[1, active[, trend]]`` columns, trend centred per trial."""
    in_model = ((arms == ACTIVE) | (arms == PLACEBO)) & np.isfinite(vals)
    m = in_model.astype(np.float64)
    day = np.arange(vals.shape[1], dtype=np.float64)
    centre = (m * day).sum(axis=1) / np.maximum(m.sum(axis=1), 1.0)
    cols = [m, m * (arms == ACTIVE)]
    if trend:
        cols.append(m * (day[None, :] - centre[:, None]) / TREND_UNIT_DAYS)
    return Design(y=np.where(in_model, vals, 0.0), m=m, x=np.stack(cols, axis=2))


def _period_ids(arms: npt.NDArray[np.int8]) -> IntArray:
    """Period number of each treatment day (-1 elsewhere).

    A period is a run of one arm, cut by any other day.  Two periods on the same arm with no
    wash-in between (A B B A) form one run; a run at least 1.5 times the trial's median run length
    is therefore cut into ``round(length / median)`` equal parts, which restores the periods of
    the usual designs.
    """
    n_trials, n_days = arms.shape
    treated = (arms == ACTIVE) | (arms == PLACEBO)
    prev = np.concatenate([np.full((n_trials, 1), -9, np.int8), arms[:, :-1]], axis=1)
    runs = np.where(treated, np.cumsum(treated & (arms != prev), axis=1) - 1, -1)
    n_runs = max(int(runs.max(initial=-1)) + 1, 1)
    flat = np.where(runs >= 0, runs + n_runs * np.arange(n_trials)[:, None], n_trials * n_runs)
    length = np.bincount(flat.ravel(), minlength=n_trials * n_runs + 1)[:-1].reshape(
        n_trials, n_runs
    )
    start = np.full(n_trials * n_runs + 1, n_days, dtype=np.int64)
    np.minimum.at(start, flat.ravel(), np.tile(np.arange(n_days), n_trials))
    start = start[:-1].reshape(n_trials, n_runs)
    with np.errstate(invalid="ignore"):
        typical = np.nanmedian(np.where(length > 0, length, np.nan), axis=1)
    typical = np.where(np.isfinite(typical), typical, 1.0)[:, None]
    parts = np.where(length >= 1.5 * typical, np.maximum(np.round(length / typical), 1), 1)
    first = np.cumsum(parts, axis=1) - parts  # first new period number of each run
    r = np.maximum(runs, 0)
    rows = np.arange(n_trials)[:, None]
    offset = np.arange(n_days)[None, :] - start[rows, r]
    part = np.floor(offset * parts[rows, r] / np.maximum(length[rows, r], 1)).astype(np.int64)
    return np.asarray(np.where(runs >= 0, first[rows, r] + part, -1), dtype=np.int64)


def _period_design(
    vals: FloatArray, arms: npt.NDArray[np.int8], trend: bool, ids: IntArray
) -> tuple[Design, FloatArray, IntArray]:
    """Period totals, observed days per period and the ``[1, active[, trend]]`` columns.

    ``ids`` are ``_period_ids(arms)``.  Also returns the number of observed periods per arm
    ``(T, 2)`` (active, placebo).
    """
    day_d = _day_design(vals, arms, trend)
    n_trials = vals.shape[0]
    n_per = max(int(ids.max(initial=-1)) + 1, 1)
    flat = np.where(ids >= 0, ids + n_per * np.arange(n_trials)[:, None], n_trials * n_per)
    size = n_trials * n_per + 1

    def per_period(a: FloatArray) -> FloatArray:
        sums = np.bincount(flat.ravel(), weights=a.ravel(), minlength=size)[:-1]
        return np.asarray(sums.reshape(n_trials, n_per), np.float64)

    days = per_period(day_d.m)
    m = (days > 0).astype(np.float64)
    safe = np.maximum(days, 1.0)
    cols = [m, per_period(day_d.x[:, :, 1]) / safe]
    if trend:
        cols.append(per_period(day_d.x[:, :, 2]) / safe)
    x = np.stack(cols, axis=2) * m[:, :, None]
    active = (x[:, :, 1] > 0.5) & (m > 0)
    counts = np.stack([active.sum(axis=1), ((m > 0) & ~active).sum(axis=1)], axis=1)
    design = Design(y=per_period(day_d.y), m=m, x=x)
    return design, days, counts.astype(np.int64)


def _c_nodes(kind: str, d: Design, days: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Per trial, the nodes of ``c`` (T, K) and the typical observed days per period (T,).

    For headache days ``c`` stops at the share a beta-binomial reaches at rho 0.8.
    """
    observed = np.where(d.m > 0, days, np.nan)
    empty = np.asarray(np.isnan(observed).all(axis=1))
    n = np.maximum(np.nanmedian(np.where(empty[:, None], 2.0, observed), axis=1), 2.0)
    if kind == "binary":
        return _C_NODES[None, :] * _binary_c_max(n - 1.0)[:, None], n
    return np.broadcast_to(_C_NODES, (d.y.shape[0], N_DISPERSION)).copy(), n


def _dispersion(kind: str, d: Design, c: FloatArray, n: FloatArray) -> FloatArray:
    """Per trial, the dispersion at each node ``c`` (share of a typical period's extra variance).

    Beta-binomial: ``1 + (n - 1) rho`` inflates the binomial variance of a period of ``n`` days,
    so ``rho = c / ((1 - c)(n - 1))`` at the median period length.  Negative binomial: variance
    ``M + phi M^2``, so ``phi = c / ((1 - c) M)`` at the mean period total ``M``.
    """
    if kind == "binary":
        return np.asarray(c / ((1.0 - c) * (n[:, None] - 1.0)), np.float64)
    total = (d.m * d.y).sum(axis=1) / np.maximum(d.m.sum(axis=1), 1.0)
    return np.asarray(c / ((1.0 - c) * np.maximum(total[:, None], 0.5)), np.float64)


def _binary_c_max(n_minus_1: FloatArray) -> FloatArray:
    """The largest share ``c`` a beta-binomial reaches at ``rho = MAX_PERIOD_CORRELATION``."""
    r = MAX_PERIOD_CORRELATION * n_minus_1
    return np.asarray(r / (1.0 + r), np.float64)


def _posterior(lik: Likelihood, d: Design) -> _Posterior:
    """Grid posterior of beta per row, nuisance (mu[, delta]) integrated out."""
    theta, cov = joint_mode(lik, d)
    sd_b = np.sqrt(cov[:, 1, 1])
    z = np.linspace(-GRID_HALF_WIDTH, GRID_HALF_WIDTH, N_GRID)
    grid = theta[:, 1:2] + sd_b[:, None] * z[None, :]  # (R, G)
    nuis = [0] + ([2] if d.x.shape[2] > 2 else [])
    eta_n, h, off = conditional_modes(lik, d, theta, cov, grid, nuis)
    logpost = log_marginal(lik, d, grid, nuis, eta_n, h, off)
    top = logpost.max(axis=1, keepdims=True)
    dens = np.exp(logpost - top)
    wts = np.full(N_GRID, 1.0)
    wts[[0, -1]] = 0.5
    mass = (dens * wts).sum(axis=1)
    step = sd_b * (z[1] - z[0])
    log_evidence = np.log(mass) + top[:, 0] + np.log(step)
    dens = dens * wts / mass[:, None]
    raw = dens / wts
    cdf = np.concatenate(
        [np.zeros((grid.shape[0], 1)), np.cumsum(0.5 * (raw[:, 1:] + raw[:, :-1]), axis=1)],
        axis=1,
    )
    cdf /= cdf[:, -1:]
    return _Posterior(grid, dens, cdf, log_evidence, eta_n, h)


def _difference(
    kind: str, grid: FloatArray, eta_n: FloatArray, h: FloatArray, weights: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """First and second moments of the risk (rate) difference at the centre, mu | beta normal."""
    var_mu = np.linalg.inv(h)[..., 0, 0]  # (T, G)
    mu_nodes = eta_n[..., 0][..., None] + np.sqrt(var_mu)[..., None] * _GH_X  # (T, G, H)
    if kind == "binary":
        diff = special.expit(mu_nodes + grid[..., None]) - special.expit(mu_nodes)
    else:
        diff = np.exp(mu_nodes + grid[..., None]) - np.exp(mu_nodes)
    d1 = (diff * _GH_W).sum(axis=2)
    d2 = (diff**2 * _GH_W).sum(axis=2)
    return (weights * d1).sum(axis=1), (weights * d2).sum(axis=1)


def _mixture_cdf(post: _Posterior, w: FloatArray, x: FloatArray) -> FloatArray:
    """P(beta <= x) per trial under the node mixture; ``w`` (T, K), ``x`` (T,)."""
    n_trials, k = w.shape
    cdf = interp_rows(np.repeat(x, k), post.grid, post.cdf).reshape(n_trials, k)
    return np.asarray((w * cdf).sum(axis=1), np.float64)


def _quantile(post: _Posterior, w: FloatArray, q: float) -> FloatArray:
    """The ``q`` quantile of the node mixture per trial (bisection; direct with one node)."""
    n_trials, k = w.shape
    if k == 1:
        return interp_rows(np.full(n_trials, q), post.cdf, post.grid)
    lo = post.grid[:, 0].reshape(n_trials, k).min(axis=1)
    hi = post.grid[:, -1].reshape(n_trials, k).max(axis=1)
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        below = _mixture_cdf(post, w, mid) < q
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    return np.asarray(0.5 * (lo + hi), np.float64)


def _fit_chunk(
    kind: str, serial: str, vals: FloatArray, arms: npt.NDArray[np.int8], opts: FitOptions
) -> DiscreteFit:
    """Posterior summaries for one chunk of trials (all trials batched in numpy)."""
    n = vals.shape[0]
    obs = np.isfinite(vals)
    n_act = ((arms == ACTIVE) & obs).sum(axis=1).astype(np.int64)
    n_pl = ((arms == PLACEBO) & obs).sum(axis=1).astype(np.int64)
    base = (arms == BASELINE) & obs
    n_base = base.sum(axis=1).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        base_mean = np.where(base, vals, 0.0).sum(axis=1) / np.where(n_base > 0, n_base, np.nan)
    nan = np.full(n, np.nan)
    few_periods = np.zeros(n, dtype=bool)
    if serial == "none":
        design = _day_design(vals, arms, opts.trend)
        lik: Likelihood = DayLikelihood(kind)
        k = 1
    else:
        ids = _period_ids(arms)
        blocks, days, per_arm = _period_design(vals, arms, opts.trend, ids)
        few_periods = per_arm.min(axis=1) < MIN_PERIODS_PER_ARM
        k = N_DISPERSION
        design = Design(
            y=np.repeat(blocks.y, k, axis=0),
            m=np.repeat(blocks.m, k, axis=0),
            x=np.repeat(blocks.x, k, axis=0),
        )
        c_nodes, typical = _c_nodes(kind, blocks, days)
        disp = _dispersion(kind, blocks, c_nodes, typical).ravel()
        lik = PeriodLikelihood(kind, np.repeat(days, k, axis=0), disp)
        in_model = ((arms == ACTIVE) | (arms == PLACEBO)) & obs
        y_days, m_days = period_days(np.where(in_model, vals, 0.0), in_model, ids)
        log_prior = np.log(c_weights(kind))[None, :] + within_log_likelihood(
            kind, y_days, m_days, c_nodes, typical
        )
    post = _posterior(lik, design)
    if k == 1:
        w = np.ones((n, 1))
    else:
        logw = log_prior + post.log_evidence.reshape(n, k)
        logw = np.where(np.isfinite(logw), logw, -np.inf)
        w = np.exp(logw - logw.max(axis=1, keepdims=True))
        w /= w.sum(axis=1, keepdims=True)
    node_mean = (post.dens * post.grid).sum(axis=1).reshape(n, k)
    node_m2 = (post.dens * post.grid**2).sum(axis=1).reshape(n, k)
    mean_b = (w * node_mean).sum(axis=1)
    sd_post = np.sqrt(np.maximum((w * node_m2).sum(axis=1) - mean_b**2, 0.0))
    d1, d2 = _difference(kind, post.grid, post.eta_n, post.h, post.dens)
    diff_mean = (w * d1.reshape(n, k)).sum(axis=1)
    diff_sd = np.sqrt(np.maximum((w * d2.reshape(n, k)).sum(axis=1) - diff_mean**2, 0.0))
    sign = 1.0 if opts.higher_is_better else -1.0
    rel = opts.relative_mcid
    thr_rel = np.log(1.0 + sign * rel) if rel < 1.0 or sign > 0 else -np.inf
    probs = [_mixture_cdf(post, w, np.full(n, c)) for c in (0.0, sign * opts.mcid, thr_rel)]
    if opts.higher_is_better:
        probs = [1.0 - p for p in probs]

    bad = (n_act == 0) | (n_pl == 0)
    few = (n_act < opts.min_days_per_arm) | (n_pl < opts.min_days_per_arm)
    flags = (
        np.where(few, FLAG_FEW_DAYS, 0)
        | np.where(bad, FLAG_NO_ARM, 0)
        | np.where(few_periods & ~bad, FLAG_FEW_PERIODS, 0)
    )

    def masked(a: FloatArray) -> FloatArray:
        return np.where(bad, nan, a)

    extra = nan if k == 1 else (w * c_nodes).sum(axis=1)
    return DiscreteFit(
        n_active=n_act,
        n_placebo=n_pl,
        n_baseline=n_base,
        baseline_mean=base_mean,
        effect_mean=masked(mean_b),
        effect_sd=masked(sd_post),
        ci95_low=masked(_quantile(post, w, 0.025)),
        ci95_high=masked(_quantile(post, w, 0.975)),
        p_benefit=masked(probs[0]),
        p_mcid=nan,
        p_mcid_rel=nan,
        rho_mean=nan,
        difference_mean=masked(diff_mean),
        difference_sd=masked(diff_sd),
        p_ratio_reduction=masked(probs[2]),
        p_log_ratio_mcid=masked(probs[1]),
        extra_variation_mean=masked(extra),
        flags=flags.astype(np.int64),
    )


def fit_discrete_arrays(
    values: npt.ArrayLike,
    arm: npt.ArrayLike,
    options: FitOptions | None = None,
    *,
    kind: str,
    serial: str = "periods",
    progress: Callable[[int], None] | None = None,
    warn: bool = True,
) -> DiscreteFit:
    """Fit binary (0/1) or count (0, 1, 2, ...) daily outcomes; arrays shaped ``(trials, days)``.

    Takes the continuous model's ``FitOptions``; ``prior``, ``rho_nodes`` and ``threads`` have no
    meaning here and are refused (``ValidationError``) when set.  ``serial`` picks the model of
    day-to-day dependence (``"periods"``, the default, or ``"none"``; see the module docstring).

    Examples
    --------
    >>> arm = np.repeat(np.array([[1, 0, 0, 1]], dtype=np.int8), 14, axis=1)
    >>> headache = (np.arange(56) % 14 < np.where(arm == 1, 3, 9)).astype(float)
    >>> fit = fit_discrete_arrays(headache, arm, kind="binary", serial="none")
    >>> round(float(fit.effect_mean[0]), 2), round(float(fit.p_benefit[0]), 3)
    (-2.04, 1.0)
    """
    opts = options or FitOptions()
    vals = np.asarray(values, dtype=np.float64)
    arms = np.asarray(arm, dtype=np.int8)
    _validate(kind, serial, vals, arms, opts)
    n_trials = vals.shape[0]
    if serial == "none":
        per_trial = N_GRID * AGHQ_NODES**2 * max(vals.shape[1], 1)
    else:  # the last axis is periods
        width = int(_period_ids(arms).max(initial=0)) + 1
        per_trial = N_DISPERSION * N_GRID * AGHQ_NODES**2 * width
    size = max(1, min(opts.chunk_size, CHUNK_CELLS // per_trial))
    parts = []
    for a in range(0, max(n_trials, 1), size):
        b = min(a + size, n_trials)
        parts.append(_fit_chunk(kind, serial, vals[a:b], arms[a:b], opts))
        if progress is not None and b > a:
            progress(b - a)
    fit = DiscreteFit(
        **{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(DiscreteFit)}
    )
    if warn:
        warn_flags(fit.flags)
    return fit
