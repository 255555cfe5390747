"""Cohort pooling of per-trial effects with a normal random-effects model, exact over a tau grid.

Model: ``y_i | theta_i ~ N(theta_i, s_i^2)`` (each trial's posterior mean and sd of beta, a normal
approximation of its posterior), ``theta_i ~ N(mu, tau^2)`` (Gelman et al., *Bayesian Data
Analysis*, 3rd ed., §5.4–5.7), flat prior on ``mu`` and a weakly informative half-normal prior on
``tau`` with scale ``tau_scale`` in the effect's units: 1 point for the 0–10 NRS (the IMMPACT MCID),
0.5 for log odds or rate ratios (Röver et al., *Res Synth Methods* 2021;12:448–474; Friede et al.,
*Biom J* 2017;59:658–671).  A bounded-uniform prior on ``tau`` is not used: with two trials its
posterior falls off only like 1/tau, so the pooled interval is set by wherever the bound is put.
Given ``tau`` everything is normal and closed form; a midpoint grid over ``tau`` (refined onto
where the posterior lives) integrates it out.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import special

from microtrial.errors import StatisticalWarning, ValidationError

FloatArray = npt.NDArray[np.float64]
# pool()'s optional memo: the summary and shrunken effects of each group already pooled
PoolCache = dict[bytes, tuple[dict[str, float], pd.DataFrame]]
N_TAU = 400
# Half-normal scale of tau, in the effect's units.  Points on the 0-10 NRS: 1 point, the IMMPACT
# MCID (REFERENCE.md C.3), so P(tau > 2 points) = 4.6 %: patients' true effects differing by
# several points from the typical one stay possible, ten-point spreads do not.  Log odds / rate
# ratios: 0.5, Röver et al. 2021's "reasonable" default, P(tau > 1) = 4.6 %.
TAU_SCALE_POINTS = 1.0
TAU_SCALE_LOG_RATIO = 0.5
# Below this many trials a pool says it is too small to mean much (see ``few_trials_note``).
FEW_TRIALS = 5
# Grid cells whose posterior weight is below this share of the largest are dropped when refining.
_NEGLIGIBLE = 1e-14
# Trials per pass over the shrunken effects (see ``_shrunk``).
_COLUMNS = 512
_SHRUNK_CELLS = 1e-10


@dataclass(frozen=True)
class PoolResult:
    """Pooled effect per group (and overall) plus forest-plot rows."""

    groups: pd.DataFrame
    forest: pd.DataFrame

    def summary(self) -> pd.DataFrame:
        """One row per group: pooled effect, tau, prediction interval, responder shares, caveat."""
        return self.groups


def few_trials_note(k: int) -> str:
    """The plain caveat for a pool of ``k`` trials, or "" when there are enough (FEW_TRIALS)."""
    if k >= FEW_TRIALS:
        return ""
    trials = "1 trial" if k == 1 else f"{k} trials"
    return f"Only {trials}: too few to estimate a typical effect; read the individual trials."


def _mixture_quantiles(p: float, w: FloatArray, m: FloatArray, s: FloatArray) -> FloatArray:
    """The p-quantile of each column's normal mixture (weights w; means m, sds s: (G, n)).

    Safeguarded Newton: each column's root of ``F(x) = p`` stays bracketed (the bracket shrinks
    with every evaluation), and a step that leaves the bracket is replaced by a bisection, so it
    converges like bisection at worst and quadratically near the root (about six evaluations of
    the mixture's cdf instead of bisection's sixty; ``_bisected_quantiles`` is the reference).
    """
    lo = (m - 12 * s).min(axis=0)
    hi = (m + 12 * s).max(axis=0)
    mean = (w[:, None] * m).sum(axis=0)
    spread = np.sqrt(np.maximum((w[:, None] * (s**2 + m**2)).sum(axis=0) - mean**2, 0.0))
    # start at the quantile of a normal with the mixture's mean and sd
    x = np.clip(mean + float(special.ndtri(p)) * spread, lo, hi)
    density_w = w[:, None] / (s * np.sqrt(2.0 * np.pi))
    tol = 1e-13 * s.max(axis=0)
    for _ in range(100):
        z = (x[None, :] - m) / s
        gap = (w[:, None] * special.ndtr(z)).sum(axis=0) - p
        slope = (density_w * np.exp(-0.5 * z * z)).sum(axis=0)
        lo = np.where(gap < 0, x, lo)
        hi = np.where(gap > 0, x, hi)
        with np.errstate(divide="ignore", invalid="ignore"):
            step = x - gap / slope
        # (a step onto the bracket's end is the current point itself: converged, not outside)
        outside = ~np.isfinite(step) | (step < lo) | (step > hi)
        new = np.where(gap == 0, x, np.where(outside, 0.5 * (lo + hi), step))
        moved = np.abs(new - x)
        x = new
        if np.all(moved <= tol):
            break
    return np.asarray(x, dtype=np.float64)


def _bisected_quantiles(p: float, w: FloatArray, m: FloatArray, s: FloatArray) -> FloatArray:
    """``_mixture_quantiles`` by plain bisection (sixty halvings): the reference it is tested on."""
    lo = (m - 12 * s).min(axis=0)
    hi = (m + 12 * s).max(axis=0)
    for _ in range(60):  # 2^-60 of a 24-sd bracket: far below anything shown
        mid = 0.5 * (lo + hi)
        below = (w[:, None] * special.ndtr((mid[None, :] - m) / s)).sum(axis=0) < p
        lo = np.where(below, mid, lo)
        hi = np.where(below, hi, mid)
    return np.asarray(0.5 * (lo + hi), dtype=np.float64)


def _normal_mixture_quantile(p: float, w: FloatArray, m: FloatArray, s: FloatArray) -> float:
    """Quantile of one normal mixture."""
    return float(_mixture_quantiles(p, w, m[:, None], s[:, None])[0])


def _log_post_tau(tau: FloatArray, y: FloatArray, s: FloatArray, scale: float) -> FloatArray:
    """Log p(tau | y) up to a constant: mu integrated out (BDA eq. 5.21) times the half-normal."""
    v = s[None, :] ** 2 + tau[:, None] ** 2
    prec = 1.0 / v
    v_mu = 1.0 / prec.sum(axis=1)
    mu_hat = v_mu * (prec * y).sum(axis=1)
    out = 0.5 * np.log(v_mu) - 0.5 * np.log(v).sum(axis=1)
    out -= 0.5 * (((y[None, :] - mu_hat[:, None]) ** 2) * prec).sum(axis=1)
    return np.asarray(out - 0.5 * (tau / scale) ** 2, dtype=np.float64)


def _midpoints(lo: float, hi: float) -> FloatArray:
    """N_TAU cell midpoints of [lo, hi] (tau = 0 itself is never a node)."""
    return np.asarray(lo + (np.arange(N_TAU) + 0.5) * ((hi - lo) / N_TAU), dtype=np.float64)


def _tau_grid(y: FloatArray, s: FloatArray, scale: float) -> tuple[FloatArray, FloatArray]:
    """Grid over tau holding the posterior, and its normalised weights.

    A first pass spans zero to well past both the prior (8 scales) and the data's own spread,
    widened while the far end still carries weight; the second pass puts all N_TAU cells where
    the first found weight, so a sharp posterior (hundreds of trials) is resolved as finely as a
    broad one.
    """
    hi = 8.0 * scale + 3.0 * float(np.max(np.abs(y - np.median(y)))) + float(np.max(s))
    for _ in range(20):
        tau = _midpoints(0.0, hi)
        lp = _log_post_tau(tau, y, s, scale)
        if lp[-1] - lp.max() < np.log(_NEGLIGIBLE):
            break
        hi *= 2.0
    keep = np.flatnonzero(lp - lp.max() >= np.log(_NEGLIGIBLE))
    step = hi / N_TAU
    lo2 = max(0.0, float(tau[keep[0]]) - step)
    hi2 = min(hi, float(tau[keep[-1]]) + step)
    tau = _midpoints(lo2, hi2)
    lp = _log_post_tau(tau, y, s, scale)
    w = np.exp(lp - lp.max())
    return tau, w / w.sum()


def _grid_median(tau: FloatArray, w: FloatArray) -> float:
    """Median of tau from the cell weights, linear within a cell."""
    half = 0.5 * (tau[1] - tau[0]) if tau.size > 1 else tau[0]
    edges = np.concatenate([[tau[0] - half], tau + half])
    cdf = np.concatenate([[0.0], np.cumsum(w)])
    return float(np.interp(0.5, cdf, edges))


def _shrunk(
    y: FloatArray,
    s: FloatArray,
    tau: FloatArray,
    w: FloatArray,
    mu_hat: FloatArray,
    v_mu: FloatArray,
    edge: float,
) -> FloatArray:
    """Shrunken effects of some trials: mean, sd, 95 % interval and P(effect below ``edge``).

    theta_i | tau, y is normal (BDA eq. 5.17), mixed over the tau grid. ``pool_effects`` calls
    this for _COLUMNS trials at a time: the (grid x trials) arrays then stay in the processor's
    cache, several times faster at thousands of trials than one pass over all of them.
    """
    prec_i = 1.0 / s[None, :] ** 2 + 1.0 / tau[:, None] ** 2
    th = (y[None, :] / s[None, :] ** 2 + mu_hat[:, None] / tau[:, None] ** 2) / prec_i
    shrink = (1.0 / tau[:, None] ** 2) / prec_i
    var_th = 1.0 / prec_i + shrink**2 * v_mu[:, None]
    th_mean = (w[:, None] * th).sum(axis=0)
    th_sd = np.sqrt(np.maximum((w[:, None] * (var_th + th**2)).sum(axis=0) - th_mean**2, 0.0))
    sd_th = np.sqrt(var_th)
    below = (w[:, None] * special.ndtr((edge - th) / sd_th)).sum(axis=0)
    low = _mixture_quantiles(0.025, w, th, sd_th)
    high = _mixture_quantiles(0.975, w, th, sd_th)
    return np.stack([th_mean, th_sd, low, high, below])


def pool_effects(
    effect: npt.ArrayLike,
    sd: npt.ArrayLike,
    *,
    mcid: float = 1.0,
    higher_is_better: bool = False,
    tau_scale: float = TAU_SCALE_POINTS,
) -> tuple[dict[str, float], pd.DataFrame]:
    """Pool one group of trials; returns the group summary and the shrunken individual effects.

    Examples
    --------
    >>> summary, shrunk = pool_effects([-1.0, -2.0, -1.5], [0.5, 0.5, 0.5])
    >>> round(summary["pooled_effect"], 3)
    -1.5
    """
    y = np.asarray(effect, dtype=np.float64)
    s = np.asarray(sd, dtype=np.float64)
    if y.shape != s.shape or y.ndim != 1 or y.size == 0:
        raise ValidationError("effects", "need one effect and one sd per trial", value=y.shape)
    if not (np.all(np.isfinite(y)) and np.all(np.isfinite(s)) and np.all(s > 0)):
        raise ValidationError("effects", "effects must be finite and sds positive")
    if not (np.isfinite(tau_scale) and tau_scale > 0):
        raise ValidationError("tau_scale", "must be a positive number", value=tau_scale)
    k = y.size
    tau, w = _tau_grid(y, s, float(tau_scale))
    v = s[None, :] ** 2 + tau[:, None] ** 2  # (G, k)
    prec = 1.0 / v
    v_mu = 1.0 / prec.sum(axis=1)
    mu_hat = v_mu * (prec * y).sum(axis=1)

    pooled_mean = float((w * mu_hat).sum())
    pooled_sd = float(np.sqrt((w * (v_mu + mu_hat**2)).sum() - pooled_mean**2))
    sd_mu = np.sqrt(v_mu)
    sd_new = np.sqrt(v_mu + tau**2)
    below_zero = min(float((w * special.ndtr(-mu_hat / sd_mu)).sum()), 1.0)
    edge = mcid if higher_is_better else -mcid
    # cells too light to move a shown digit are left out of the per-trial mixtures
    cells = w >= _SHRUNK_CELLS * w.max()
    grid = (tau[cells], w[cells] / w[cells].sum(), mu_hat[cells], v_mu[cells])
    shrunk = pd.DataFrame(
        np.concatenate(
            [
                _shrunk(y[i : i + _COLUMNS], s[i : i + _COLUMNS], *grid, edge)
                for i in range(0, k, _COLUMNS)
            ],
            axis=1,
        ).T,
        columns=["shrunk_mean", "shrunk_sd", "shrunk_low", "shrunk_high", "p_responder_shrunk"],
    )
    if higher_is_better:
        shrunk["p_responder_shrunk"] = 1.0 - shrunk["p_responder_shrunk"]
    p_resp = shrunk["p_responder_shrunk"].to_numpy()
    summary = {
        "n_trials": float(k),
        "pooled_effect": pooled_mean,
        "pooled_sd": pooled_sd,
        "ci95_low": _normal_mixture_quantile(0.025, w, mu_hat, sd_mu),
        "ci95_high": _normal_mixture_quantile(0.975, w, mu_hat, sd_mu),
        "tau_mean": float((w * tau).sum()),
        "tau_median": _grid_median(tau, w),
        "pi95_low": _normal_mixture_quantile(0.025, w, mu_hat, sd_new),
        "pi95_high": _normal_mixture_quantile(0.975, w, mu_hat, sd_new),
        "responder_share_shrunk": float(np.mean(p_resp > 0.5)),
        # P(the typical effect lies on the side of benefit)
        "p_benefit": 1.0 - below_zero if higher_is_better else below_zero,
        "tau_scale": float(tau_scale),
    }
    return summary, shrunk


def pool(
    results: pd.DataFrame,
    *,
    by: str | None = None,
    mcid: float = 1.0,
    higher_is_better: bool = False,
    outcome: str | None = None,
    tau_scale: float | None = None,
    cache: PoolCache | None = None,
    warn: bool = True,
) -> PoolResult:
    """Pool ``fit_trials`` results overall and (with ``by``) per group, e.g. per condition.

    ``cache``: a dict the caller owns, shared by calls that pool the same trials again (every
    cohort view of a refresh): a group whose effects, sds and options were pooled before reuses
    that pool (``pool_effects`` is deterministic) instead of recomputing it.

    ``warn=False``: no StatisticalWarning (the caveats stay in the summary); for services, which
    cannot silence warnings with ``warnings.catch_warnings`` safely: its filter list is global to
    the process, and the server refreshes in a background thread beside request threads.

    Only rows of one outcome are pooled: with an ``outcome`` column holding several outcomes
    (pain and sleep, say) a ValidationError names them unless ``outcome`` selects one.
    ``higher_is_better`` gives the direction of benefit used for the responder shares.

    ``tau_scale`` is the half-normal scale of the between-trial sd, in the effect's units; by
    default TAU_SCALE_LOG_RATIO for binary/count results (they carry ``difference_mean``) and
    TAU_SCALE_POINTS otherwise.  Groups of fewer than FEW_TRIALS trials are flagged
    (``few_trials``) with a plain ``caveat`` (``few_trials_note``) and a StatisticalWarning, and
    get no prediction interval (``pi95_low``/``pi95_high`` NaN).

    Responders are trials with ``p_mcid > 0.5`` (``responder_share``, from the per-trial fits)
    and trials whose shrunken effect passes the MCID with probability > 0.5
    (``responder_share_shrunk``).

    Examples
    --------
    >>> res = pd.DataFrame({"trial_id": ["a", "b", "c"], "effect_mean": [-1.0, -2.0, -1.5],
    ...                     "effect_sd": [0.5, 0.5, 0.5], "p_mcid": [0.5, 0.98, 0.84]})
    >>> round(float(pool(res, warn=False).summary()["pooled_effect"].iloc[0]), 3)
    -1.5
    """
    results = _one_outcome(results, outcome)
    needed = ["effect_mean", "effect_sd"] + ([by] if by else [])
    for col in needed:
        if col not in results.columns:
            raise ValidationError("columns", f"missing column {col!r}", allowed=needed)
    ok = np.isfinite(results["effect_mean"].to_numpy(float)) & (
        results["effect_sd"].to_numpy(float) > 0
    )
    data = results[ok].reset_index(drop=True)
    if len(data) < len(results) and warn:
        warnings.warn(
            f"{len(results) - len(data)} trial(s) without a finite effect left out of pooling",
            StatisticalWarning,
            stacklevel=2,
        )
    if data.empty:
        raise ValidationError("results", "no trial with a finite effect to pool")
    if tau_scale is None:
        # binary/count fits carry the difference on the natural scale beside their log ratio
        discrete = "difference_mean" in data.columns and data["difference_mean"].notna().any()
        tau_scale = TAU_SCALE_LOG_RATIO if discrete else TAU_SCALE_POINTS
    groups: list[tuple[str, pd.DataFrame]] = [("overall", data)]
    if by:
        groups += [(str(name), sub) for name, sub in data.groupby(by, sort=True)]
    rows: list[dict[str, Any]] = []
    forest: list[pd.DataFrame] = []
    for name, sub in groups:
        caveat = few_trials_note(len(sub))
        if caveat and warn:
            warnings.warn(f"group {name!r}: {caveat}", StatisticalWarning, stacklevel=2)
        y, sd = sub["effect_mean"].to_numpy(float), sub["effect_sd"].to_numpy(float)
        key = y.tobytes() + sd.tobytes() + repr((mcid, higher_is_better, tau_scale)).encode()
        if cache is not None and key in cache:
            found, shrunk = cache[key]
            summary = dict(found)
        else:
            summary, shrunk = pool_effects(
                y, sd, mcid=mcid, higher_is_better=higher_is_better, tau_scale=tau_scale
            )
            if cache is not None:
                cache[key] = (dict(summary), shrunk)
        if "p_mcid" in sub.columns:
            raw_share = float(np.mean(sub["p_mcid"].to_numpy(float) > 0.5))
        else:
            raw_share = float("nan")
        if caveat:
            # tau rests mostly on its prior here, so a new patient's interval would mostly
            # restate that prior: none is given rather than one that reads as a finding
            summary["pi95_low"] = summary["pi95_high"] = float("nan")
        rows.append(
            {
                "group": name,
                **summary,
                "responder_share": raw_share,
                "few_trials": bool(caveat),
                "caveat": caveat,
            }
        )
        part = pd.DataFrame(
            {
                "group": name,
                "label": sub["trial_id"].astype(str).to_numpy()
                if "trial_id" in sub.columns
                else np.arange(len(sub)).astype(str),
                "effect": sub["effect_mean"].to_numpy(float),
                "low": sub["ci95_low"].to_numpy(float)
                if "ci95_low" in sub.columns
                else np.full(len(sub), np.nan),
                "high": sub["ci95_high"].to_numpy(float)
                if "ci95_high" in sub.columns
                else np.full(len(sub), np.nan),
            }
        )
        part = pd.concat([part, shrunk.set_index(part.index)], axis=1)
        pooled_row = pd.DataFrame(
            [
                {
                    "group": name,
                    "label": "pooled",
                    "effect": summary["pooled_effect"],
                    "low": summary["ci95_low"],
                    "high": summary["ci95_high"],
                }
            ]
        )
        forest.append(pd.concat([part, pooled_row], ignore_index=True))
    table = pd.DataFrame(rows)
    table["n_trials"] = table["n_trials"].astype(int)
    return PoolResult(groups=table, forest=pd.concat(forest, ignore_index=True))


def _one_outcome(results: pd.DataFrame, outcome: str | None) -> pd.DataFrame:
    """The rows of one outcome: ``outcome`` selects it; rows of several outcomes are refused."""
    if "outcome" not in results.columns:
        if outcome is not None:
            raise ValidationError("outcome", "the results have no 'outcome' column", value=outcome)
        return results
    found = sorted(results["outcome"].dropna().astype(str).unique())
    if outcome is not None:
        if outcome not in found:
            raise ValidationError(
                "outcome", "no rows of this outcome", value=outcome, allowed=found
            )
        return results[results["outcome"].astype(str) == outcome].reset_index(drop=True)
    if len(found) > 1:
        raise ValidationError(
            "outcome",
            f"the rows hold {len(found)} different outcomes ({', '.join(found)}); pooling them "
            "would mix different measures into one estimate, so select one "
            "(outcome=... or --outcome)",
            allowed=found,
        )
    return results
