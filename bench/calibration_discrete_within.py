"""Variants of what the days inside periods say about ``c``, compared on the same trials.

Run: ``PYTHONPATH=src python bench/calibration_discrete_within.py --trials 400 --seed 21
--variants "model;runin;scale;contrast;contrast|1,2"``.  The trials are those of
``bench/calibration_discrete.py`` with the same ``--trials`` and ``--seed``.  Each variant replaces
the engine's within-period log-likelihood of the nodes of ``c`` (``|a,b``: and the prior of ``c``
by Beta(a, b)); the posterior of beta at each node is the engine's own, so the figures are those a
fit with that variant would give (up to the bisection of the quantiles):

* ``model``: the engine's ``within_log_likelihood`` (the model as it is).
* ``runin``: the run-in (baseline) days added as one more within-period series.
* ``scale``: a scale per period (headache days: sigma^2 profiled per period, so only the order of
  the days inside each period informs; attacks: sigma^2 = s times the period's own mean count,
  shrunk by one pseudo-day towards the trial's mean) instead of one per trial.
* ``contrast``: the period-total factor ``2 S_n(phi)`` replaced by the inflation ``g(phi)`` that a
  persistent AR(1) part of the day-level process gives the crossover contrast itself (periods
  correlated through the series, the trend and the pairing taken into account; dense matrices per
  trial): a slow process inflates period totals more than the contrast.
"""

from __future__ import annotations

import argparse

import numpy as np
import numpy.typing as npt
from calibration_discrete_priors import all_node_posteriors, draw_rows, summary

from microtrial.analysis import discrete as D
from microtrial.analysis import discrete_within as W
from microtrial.analysis.continuous import ACTIVE, BASELINE, PLACEBO

Arr = npt.NDArray[np.float64]
Arms = npt.NDArray[np.int8]


def contrast_inflation(vals: Arr, arms: Arms, phis: Arr) -> Arr:
    """``g(phi)`` per trial (T, F): the contrast's variance from ``R(phi)`` over white, less 1."""
    ids = D._period_ids(arms)
    blocks, days, _ = D._period_design(vals, arms, True, ids)
    obs = np.isfinite(vals) & ((arms == ACTIVE) | (arms == PLACEBO))
    out = np.empty((vals.shape[0], phis.size))
    for t in range(vals.shape[0]):
        d = np.flatnonzero(obs[t])
        keep = days[t] > 0
        avg = np.zeros((days.shape[1], d.size))
        avg[ids[t, d], np.arange(d.size)] = 1.0
        avg = avg[keep] / days[t, keep, None]  # period means from days
        x, wt = blocks.x[t][keep], days[t, keep]
        inv = np.linalg.inv(x.T @ (wt[:, None] * x))
        u = ((inv @ (x.T * wt))[1]) @ avg  # weight of each day in the WLS contrast
        lag = np.abs(d[:, None] - d[None, :]).astype(np.float64)
        for f, phi in enumerate(phis):
            out[t, f] = (u @ phi**lag @ u) / inv[1, 1] - 1.0
    return np.maximum(out, 1e-3)


def layout(vals: Arr, arms: Arms, runin: bool) -> tuple[Arr, Arr]:
    """Days per period ``(T, P, L)`` (with ``runin``: each run of baseline days one more)."""
    ids = D._period_ids(arms)
    keep = (arms == ACTIVE) | (arms == PLACEBO)
    if runin:
        base = arms == BASELINE
        start = base & ~np.concatenate([np.zeros((len(arms), 1), bool), base[:, :-1]], axis=1)
        extra = ids.max(axis=1, keepdims=True) + np.cumsum(start, axis=1)
        ids, keep = np.where(base, extra, ids), keep | base
    keep = keep & np.isfinite(vals)
    return W.period_days(np.where(keep, vals, 0.0), keep, ids)


def _pieces(y: Arr, m: Arr, a: Arr, phi: Arr, per_period: bool) -> tuple[Arr, Arr, Arr]:
    """REML pieces with a periods axis: (T, P, G), (T, P, G), (T, P); P = 1 when pooled."""
    if not per_period:
        log_det, quad, df = W._reml_pieces(y, m, a, phi)
        return log_det[:, None], quad[:, None], df[:, None]
    n_t, n_p, length = y.shape
    log_det, quad, df = W._reml_pieces(
        y.reshape(-1, 1, length),
        m.reshape(-1, 1, length),
        np.repeat(a, n_p, 0),
        np.repeat(phi, n_p, 0),
    )
    return log_det.reshape(n_t, n_p, -1), quad.reshape(n_t, n_p, -1), df.reshape(n_t, n_p)


def within(kind: str, y: Arr, m: Arr, c: Arr, infl: Arr, per_period: bool) -> Arr:
    """Within-period log-likelihood at the nodes ``c`` (T, K) for an inflation ``infl`` (T, F)."""
    vf = 1.0 / (1.0 - c)
    n_t, k = c.shape
    if kind == "binary":
        share = (vf[:, :, None] - 1.0) / infl[:, None, :]  # (T, K, F)
        ok = share <= 1.0
        phi = np.broadcast_to(W._PHI, share.shape).reshape(n_t, -1)
        log_det, quad, df = _pieces(y, m, np.minimum(share, 1.0).reshape(n_t, -1), phi, per_period)
        seen = quad > 1e-12
        with np.errstate(divide="ignore"):
            terms = -0.5 * log_det - 0.5 * df[:, :, None] * np.log(np.where(seen, quad, 1.0))
        # Per period, one with all days alike carries no order: it is left out.
        ll = (np.where(seen, terms, 0.0) if per_period else terms).sum(axis=1)
        ll = np.where(ok.reshape(n_t, -1), ll, -np.inf).reshape(n_t, k, -1)
        feasible = ok.sum(axis=2)
        with np.errstate(divide="ignore"):
            out = W._log_mean_exp(ll, axis=2) + np.log(ll.shape[2] / np.maximum(feasible, 1))
        out = np.where(feasible > 0, out, -np.inf)
    else:
        f_idx, share = (
            g.ravel() for g in np.meshgrid(np.arange(W.N_PHI_COUNT), W._SHARE_COUNT, indexing="ij")
        )
        log_det, quad, df = _pieces(
            y,
            m,
            np.broadcast_to(share, (n_t, share.size)),
            np.broadcast_to(W._PHI_COUNT[f_idx], (n_t, share.size)),
            per_period,
        )
        tot, n_d = (m * y).sum(axis=2), m.sum(axis=2)
        trial = tot.sum(axis=1, keepdims=True) / np.maximum(n_d.sum(axis=1, keepdims=True), 1.0)
        mean = (tot + trial) / (n_d + 1.0) if per_period else trial  # (T, P)
        day_s = vf[:, :, None] / (1.0 + share[None, :] * infl[:, f_idx])[:, None, :]  # (T, K, G)
        sigma2 = day_s[:, None] * np.maximum(mean, 1e-3)[:, :, None, None]  # (T, P, K, G)
        ll = (
            -0.5 * log_det[:, :, None, :]
            - 0.5 * df[:, :, None, None] * np.log(sigma2)
            - 0.5 * quad[:, :, None, :] / sigma2
        ).sum(axis=1)
        out = W._log_mean_exp(ll, axis=2)
    informative = (quad.max(axis=(1, 2)) > 1e-12) & (df.sum(axis=1) > 0)
    out = np.where(informative[:, None], out, 0.0)
    top = np.max(np.where(np.isfinite(out), out, -np.inf), axis=1, keepdims=True)
    return np.asarray(out - np.where(np.isfinite(top), top, 0.0), np.float64)


def variant_within(name: str, kind: str, vals: Arr, arms: Arms) -> Arr:
    """The within-period log-likelihood of the nodes of ``c`` under variant ``name``."""
    blocks, days, _ = D._period_design(vals, arms, True, D._period_ids(arms))
    c, typical = D._c_nodes(kind, blocks, days)
    phis = W._PHI if kind == "binary" else W._PHI_COUNT
    if name == "contrast":
        infl = contrast_inflation(vals, arms, phis)
    else:
        infl = 2.0 * W._s_n(phis[None, :], np.maximum(typical, 2.0)[:, None])
    y, m = layout(vals, arms, runin=name == "runin")
    return within(kind, y, m, c, infl, per_period=name == "scale")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=400)
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--variants", default="model;runin;scale;contrast")
    args = parser.parse_args()
    specs = args.variants.split(";")
    print(f"{args.trials} trials per row, seed {args.seed}; coverage / false benefit per variant")
    print(f"{'setting':<32}{'effect':>8}" + "".join(f"{s:>18}" for s in specs))
    for label, kind, effect, y, arm, truth in draw_rows(args.trials, args.seed):
        p = all_node_posteriors(kind, y, arm)
        cells, cache = [], {"model": p["within"]}
        for spec in specs:
            name, _, prior = spec.partition("|")
            if name not in cache:
                cache[name] = np.concatenate(
                    [
                        variant_within(name, kind, y[a : a + 100], arm[a : a + 100])
                        for a in range(0, len(y), 100)
                    ]
                )
            cover, false_benefit = summary({**p, "within": cache[name]}, truth, prior or "1,1")
            cells.append(
                f"{cover:.3f} / " + (f"{false_benefit:.3f}" if effect == "none" else "  -  ")
            )
        print(f"{label:<32}{effect:>8}" + "".join(f"{c:>18}" for c in cells), flush=True)


if __name__ == "__main__":
    main()
