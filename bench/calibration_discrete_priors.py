"""Priors of the period model's extra variation ``c``, compared on the same trials.

Run: ``PYTHONPATH=src python bench/calibration_discrete_priors.py --trials 300 --seed 11
--priors "1,1;0.5,1;spike0.35;eb;eb0.25"`` (Beta(a, b) on ``c`` on its node scale, ``spikeP``: mass
``P`` on the smallest node, the rest uniform, or ``eb``: a prior estimated from the cohort, i.e.
node weights fitted by EM to the marginal likelihoods of all the setting's trials, no effect and
with an effect together, with a Dirichlet(10 x uniform) smoothing; ``ebP``: that prior mixed with
a share ``P`` of the uniform one).  The trials are those of
``bench/calibration_discrete.py`` with the same ``--trials`` and ``--seed`` (same random stream).
The posterior of beta at each node of ``c`` does not depend on the prior of ``c``, so it is
computed once per trial with the engine's own functions and reweighted for each prior: the
figures for a prior equal those of a fit with that prior (up to the bisection of the quantiles).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import numpy as np
import numpy.typing as npt
from calibration_discrete import MISSING, SETTINGS, design

from microtrial.analysis import discrete as D
from microtrial.analysis.continuous import ACTIVE, PLACEBO, FitOptions
from microtrial.analysis.discrete_lik import Design, PeriodLikelihood
from microtrial.analysis.discrete_within import period_days, within_log_likelihood

Arr = npt.NDArray[np.float64]
Arms = npt.NDArray[np.int8]


def node_posteriors(kind: str, vals: Arr, arms: npt.NDArray[np.int8]) -> dict[str, Arr]:
    """Per trial and node of ``c``: grid, cdf, log evidence and within-period log-likelihood."""
    n, k = vals.shape[0], D.N_DISPERSION
    ids = D._period_ids(arms)
    blocks, days, _ = D._period_design(vals, arms, FitOptions().trend, ids)
    rep = Design(
        y=np.repeat(blocks.y, k, 0), m=np.repeat(blocks.m, k, 0), x=np.repeat(blocks.x, k, 0)
    )
    c, typical = D._c_nodes(kind, blocks, days)
    lik = PeriodLikelihood(
        kind, np.repeat(days, k, 0), D._dispersion(kind, blocks, c, typical).ravel()
    )
    in_model = ((arms == ACTIVE) | (arms == PLACEBO)) & np.isfinite(vals)
    y_days, m_days = period_days(np.where(in_model, vals, 0.0), in_model, ids)
    post = D._posterior(lik, rep)
    return {
        "grid": post.grid.reshape(n, k, -1),
        "cdf": post.cdf.reshape(n, k, -1),
        "logev": post.log_evidence.reshape(n, k),
        "within": within_log_likelihood(kind, y_days, m_days, c, typical),
    }


def cohort_weights(p: dict[str, Arr], smoothing: float = 10.0, rounds: int = 300) -> Arr:
    """Node weights estimated from a cohort's per-node marginal likelihoods (EM, MAP under a
    Dirichlet(``smoothing`` x uniform weights) hyperprior: ``smoothing`` trials' worth of the
    uniform prior)."""
    uniform = prior_weights("1,1")
    ll = p["logev"] + p["within"]
    ll = np.where(np.isfinite(ll), ll, -np.inf)
    lik = np.exp(ll - ll.max(axis=1, keepdims=True))
    w = uniform.copy()
    for _ in range(rounds):
        r = w * lik
        r /= r.sum(axis=1, keepdims=True)
        w = (r.sum(axis=0) + smoothing * uniform) / (len(lik) + smoothing)
    return np.asarray(w, np.float64)


def prior_weights(spec: str, cohort: dict[str, Arr] | None = None) -> Arr:
    """Node weights of a prior: ``"a,b"`` for Beta(a, b), ``"spikeP"`` for mass P at c ~ 0,
    ``"eb"`` / ``"ebP"`` estimated from ``cohort`` (mixed with a share P of the uniform)."""
    if spec.startswith("eb"):
        assert cohort is not None, "a cohort prior needs the cohort's node posteriors"
        share = float(spec[2:] or 0.0)
        return (1.0 - share) * cohort_weights(cohort) + share * prior_weights("1,1")
    gl_x, gl_w = np.polynomial.legendre.leggauss(D.N_DISPERSION)
    u = 0.5 * (gl_x + 1.0)
    if spec.startswith("spike"):
        p0 = float(spec[5:])
        w = (1.0 - p0) * gl_w / gl_w.sum()
        w[0] += p0
        return np.asarray(w, np.float64)
    a, b = (float(v) for v in spec.split(","))
    w = gl_w * u ** (a - 1.0) * (1.0 - u) ** (b - 1.0)
    return np.asarray(w / w.sum(), np.float64)


def mixture_cdf(p: dict[str, Arr], w: Arr, x: Arr) -> Arr:
    """P(beta <= x) per trial under node weights ``w`` (T, K)."""
    n, k, g = p["grid"].shape
    cdf = D.interp_rows(np.repeat(x, k), p["grid"].reshape(n * k, g), p["cdf"].reshape(n * k, g))
    return np.asarray((w * cdf.reshape(n, k)).sum(axis=1), np.float64)


def summary(
    p: dict[str, Arr], truth: Arr, spec: str, cohort: dict[str, Arr] | None = None
) -> tuple[float, float]:
    """Coverage of the 95 % interval and the share with P(benefit) > 0.95 under prior ``spec``."""
    logw = np.log(prior_weights(spec, cohort))[None, :] + p["logev"] + p["within"]
    logw = np.where(np.isfinite(logw), logw, -np.inf)
    w = np.exp(logw - logw.max(axis=1, keepdims=True))
    w /= w.sum(axis=1, keepdims=True)
    bounds = []
    for q in (0.025, 0.975):
        lo, hi = p["grid"][:, :, 0].min(axis=1), p["grid"][:, :, -1].max(axis=1)
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            below = mixture_cdf(p, w, mid) < q
            lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
        bounds.append(0.5 * (lo + hi))
    cover = float(((bounds[0] <= truth) & (truth <= bounds[1])).mean())
    return cover, float((mixture_cdf(p, w, np.zeros_like(truth)) > 0.95).mean())


def draw_rows(n: int, seed: int) -> Iterator[tuple[str, str, str, Arr, Arms, Arr]]:
    """The rows of ``calibration_discrete`` with the same ``--trials`` and ``--seed``, in order.

    Yields label, outcome kind, effect, values, arms and the true effect.
    """
    rng = np.random.default_rng(seed)
    for label, (kind, make) in SETTINGS.items():
        for effect in ("none", "U(-1.5,0)"):
            arm = design(n, rng)  # the same draws, in the same order, as calibration_discrete
            beta = np.zeros(n) if effect == "none" else rng.uniform(-1.5, 0.0, n)
            y, truth = make(arm, beta, rng)
            y[rng.random(y.shape) < MISSING] = np.nan
            yield label, kind, effect, y, arm, truth


def all_node_posteriors(kind: str, vals: Arr, arms: Arms) -> dict[str, Arr]:
    """``node_posteriors`` in chunks of 100 trials."""
    parts = [
        node_posteriors(kind, vals[a : a + 100], arms[a : a + 100])
        for a in range(0, len(vals), 100)
    ]
    return {key: np.concatenate([q[key] for q in parts]) for key in parts[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=300)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--priors", default="1,1;0.5,1;spike0.35")
    parser.add_argument("--only", default="", help="fit only rows whose label contains this")
    args = parser.parse_args()
    specs = args.priors.split(";")
    print(
        f"{args.trials} trials per row, seed {args.seed}; coverage / false benefit per prior of c"
    )
    print(f"{'setting':<32}{'effect':>8}" + "".join(f"{s:>18}" for s in specs))
    setting: list[tuple[str, dict[str, Arr], Arr]] = []
    for label, kind, effect, y, arm, truth in draw_rows(args.trials, args.seed):
        if args.only not in f"{label} {effect}":
            continue  # drawn all the same, so later rows keep their trials
        setting.append((effect, all_node_posteriors(kind, y, arm), truth))
        if effect == "none":
            continue  # the cohort of a setting is both of its rows
        cohort = {k: np.concatenate([q[k] for _, q, _ in setting]) for k in setting[0][1]}
        for row_effect, p, row_truth in setting:
            cells = []
            for spec in specs:
                cover, false_benefit = summary(p, row_truth, spec, cohort)
                benefit = f"{false_benefit:.3f}" if row_effect == "none" else "  -  "
                cells.append(f"{cover:.3f} / {benefit}")
            print(f"{label:<32}{row_effect:>8}" + "".join(f"{c:>18}" for c in cells), flush=True)
        setting = []


if __name__ == "__main__":
    main()
