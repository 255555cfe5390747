"""Cohort pooling of per-trial effects with a normal random-effects model, exact over a tau grid.

Model: ``y_i | theta_i ~ N(theta_i, s_i^2)`` (each trial's posterior mean and sd of beta, a normal
approximation of its posterior), ``theta_i ~ N(mu, tau^2)``, flat prior on ``mu`` and
``tau ~ Uniform(0, tau_max)`` (Gelman et al., *Bayesian Data Analysis*, 3rd ed., §5.4–5.7;
``tau_max`` = 10 × (sd of the y_i + median s_i) unless given).  Given ``tau`` everything is normal
and closed form; a 400-point midpoint grid over ``tau`` integrates it out.
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
N_TAU = 400


@dataclass(frozen=True)
class PoolResult:
    """Pooled effect per group (and overall) plus forest-plot rows."""

    groups: pd.DataFrame
    forest: pd.DataFrame

    def summary(self) -> pd.DataFrame:
        """One row per group: pooled effect, tau, prediction interval, responder shares."""
        return self.groups


def _normal_mixture_quantile(p: float, w: FloatArray, m: FloatArray, s: FloatArray) -> float:
    """Quantile of a normal mixture by bisection (scalar, small mixtures)."""
    lo = float((m - 12 * s).min())
    hi = float((m + 12 * s).max())
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if float((w * special.ndtr((mid - m) / s)).sum()) < p:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def pool_effects(
    effect: npt.ArrayLike,
    sd: npt.ArrayLike,
    *,
    mcid: float = 1.0,
    higher_is_better: bool = False,
    tau_max: float | None = None,
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
    k = y.size
    if tau_max is None:
        spread = float(np.std(y)) if k > 1 else 0.0
        tau_max = 10.0 * (spread + float(np.median(s)))
    tau = (np.arange(N_TAU) + 0.5) * (tau_max / N_TAU)  # midpoints, avoids tau = 0 exactly
    v = s[None, :] ** 2 + tau[:, None] ** 2  # (G, k)
    prec = 1.0 / v
    v_mu = 1.0 / prec.sum(axis=1)
    mu_hat = v_mu * (prec * y).sum(axis=1)
    loglik = 0.5 * np.log(v_mu) - 0.5 * np.log(v).sum(axis=1)
    loglik -= 0.5 * (((y[None, :] - mu_hat[:, None]) ** 2) * prec).sum(axis=1)
    w = np.exp(loglik - loglik.max())
    w /= w.sum()

    pooled_mean = float((w * mu_hat).sum())
    pooled_sd = float(np.sqrt((w * (v_mu + mu_hat**2)).sum() - pooled_mean**2))
    sd_mu = np.sqrt(v_mu)
    sd_new = np.sqrt(v_mu + tau**2)
    # Shrunken individual effects: theta_i | tau, y is normal (BDA eq. 5.17), mixed over tau.
    prec_i = 1.0 / s[None, :] ** 2 + 1.0 / tau[:, None] ** 2
    th = (y[None, :] / s[None, :] ** 2 + mu_hat[:, None] / tau[:, None] ** 2) / prec_i
    shrink = (1.0 / tau[:, None] ** 2) / prec_i
    var_th = 1.0 / prec_i + shrink**2 * v_mu[:, None]
    th_mean = (w[:, None] * th).sum(axis=0)
    th_sd = np.sqrt(np.maximum((w[:, None] * (var_th + th**2)).sum(axis=0) - th_mean**2, 0.0))
    edge = mcid if higher_is_better else -mcid
    z = (edge - th) / np.sqrt(var_th)
    cdf = (w[:, None] * special.ndtr(z)).sum(axis=0)
    p_resp = 1.0 - cdf if higher_is_better else cdf
    lo_i = [_normal_mixture_quantile(0.025, w, th[:, i], np.sqrt(var_th[:, i])) for i in range(k)]
    hi_i = [_normal_mixture_quantile(0.975, w, th[:, i], np.sqrt(var_th[:, i])) for i in range(k)]
    summary = {
        "n_trials": float(k),
        "pooled_effect": pooled_mean,
        "pooled_sd": pooled_sd,
        "ci95_low": _normal_mixture_quantile(0.025, w, mu_hat, sd_mu),
        "ci95_high": _normal_mixture_quantile(0.975, w, mu_hat, sd_mu),
        "tau_mean": float((w * tau).sum()),
        "tau_median": float(tau[np.searchsorted(np.cumsum(w), 0.5)]),
        "pi95_low": _normal_mixture_quantile(0.025, w, mu_hat, sd_new),
        "pi95_high": _normal_mixture_quantile(0.975, w, mu_hat, sd_new),
        "responder_share_shrunk": float(np.mean(p_resp > 0.5)),
    }
    shrunk = pd.DataFrame(
        {
            "shrunk_mean": th_mean,
            "shrunk_sd": th_sd,
            "shrunk_low": lo_i,
            "shrunk_high": hi_i,
            "p_responder_shrunk": p_resp,
        }
    )
    return summary, shrunk


def pool(
    results: pd.DataFrame,
    *,
    by: str | None = None,
    mcid: float = 1.0,
    higher_is_better: bool = False,
    outcome: str | None = None,
) -> PoolResult:
    """Pool ``fit_trials`` results overall and (with ``by``) per group, e.g. per condition.

    Only rows of one outcome are pooled: with an ``outcome`` column holding several outcomes
    (pain and sleep, say) a ValidationError names them unless ``outcome`` selects one.
    ``higher_is_better`` gives the direction of benefit used for the responder shares.

    Responders are trials with ``p_mcid > 0.5`` (``responder_share``, from the per-trial fits)
    and trials whose shrunken effect passes the MCID with probability > 0.5
    (``responder_share_shrunk``).

    Examples
    --------
    >>> res = pd.DataFrame({"trial_id": ["a", "b", "c"], "effect_mean": [-1.0, -2.0, -1.5],
    ...                     "effect_sd": [0.5, 0.5, 0.5], "p_mcid": [0.5, 0.98, 0.84]})
    >>> round(float(pool(res).summary()["pooled_effect"].iloc[0]), 3)
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
    if len(data) < len(results):
        warnings.warn(
            f"{len(results) - len(data)} trial(s) without a finite effect left out of pooling",
            StatisticalWarning,
            stacklevel=2,
        )
    if data.empty:
        raise ValidationError("results", "no trial with a finite effect to pool")
    groups: list[tuple[str, pd.DataFrame]] = [("overall", data)]
    if by:
        groups += [(str(name), sub) for name, sub in data.groupby(by, sort=True)]
    rows: list[dict[str, Any]] = []
    forest: list[pd.DataFrame] = []
    for name, sub in groups:
        if len(sub) < 3:
            warnings.warn(
                f"group {name!r} has {len(sub)} trial(s): tau is barely identified",
                StatisticalWarning,
                stacklevel=2,
            )
        summary, shrunk = pool_effects(
            sub["effect_mean"].to_numpy(float),
            sub["effect_sd"].to_numpy(float),
            mcid=mcid,
            higher_is_better=higher_is_better,
        )
        if "p_mcid" in sub.columns:
            raw_share = float(np.mean(sub["p_mcid"].to_numpy(float) > 0.5))
        else:
            raw_share = float("nan")
        rows.append({"group": name, **summary, "responder_share": raw_share})
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
