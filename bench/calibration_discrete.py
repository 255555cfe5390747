"""Calibration of the binary and count models under serial dependence and overdispersion.

Run: ``.venv/bin/python bench/calibration_discrete.py [--trials 2000] [--seed 1]``
(``--serial none`` for the independent-days model, ``--kind binary|count`` for one outcome's rows).
Trials are generated here, apart from the engine (own design, own latent processes), on a
14-day run-in plus 3 randomised pairs of 14-day periods (2 wash-in days each), 10 % of days
missing.  Each setting runs twice: no effect (false benefit = P(benefit) > 0.95) and an effect
drawn uniformly on [-1.5, 0] (log odds / rate ratio).  The truth for binary outcomes is the
log ratio of the odds averaged over the patient's days (what the period model estimates); for
counts the multiplicative frailties leave the log rate ratio equal to the generator's effect.
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable

import numpy as np
from scipy import special, stats

from microtrial.analysis.continuous import FitOptions
from microtrial.analysis.discrete import fit_discrete_arrays
from microtrial.errors import StatisticalWarning

RUN_IN, PAIRS, LENGTH, WASH_IN, MISSING = 14, 3, 14, 2, 0.10
LATENT_SD = 1.0
GH_X, GH_W = np.polynomial.hermite_e.hermegauss(60)
GH_W = GH_W / GH_W.sum()


def design(n: int, rng: np.random.Generator) -> np.ndarray:
    """Arm codes per day: 2 run-in, then per pair AB or BA at random, wash-in days -1."""
    days = RUN_IN + 2 * PAIRS * LENGTH
    arm = np.full((n, days), 2, dtype=np.int8)
    for t in range(n):
        day = RUN_IN
        for _ in range(PAIRS):
            order = (1, 0) if rng.random() < 0.5 else (0, 1)
            for a in order:
                arm[t, day : day + LENGTH] = a
                arm[t, day : day + WASH_IN] = -1
                day += LENGTH
    return arm


def ar1(n: int, days: int, rho: float, sd: float, rng: np.random.Generator) -> np.ndarray:
    """Stationary AR(1) paths with marginal sd ``sd``."""
    out = np.empty((n, days))
    out[:, 0] = rng.normal(0.0, sd, n)
    innov = sd * np.sqrt(1.0 - rho**2)
    for d in range(1, days):
        out[:, d] = rho * out[:, d - 1] + rng.normal(0.0, innov, n)
    return out


def binary(rho: float) -> Callable[[np.ndarray, np.ndarray, np.random.Generator], tuple]:
    """Headache days from a latent AR(1) on the logit scale (rho 0: independent days)."""

    def make(arm: np.ndarray, beta: np.ndarray, rng: np.random.Generator) -> tuple:
        n, days = arm.shape
        mu = rng.uniform(-1.5, 0.0, n)
        u = ar1(n, days, rho, LATENT_SD, rng) if rho > 0 else np.zeros((n, days))
        p = special.expit(mu[:, None] + beta[:, None] * (arm == 1) + u)
        y = (rng.random((n, days)) < p).astype(float)
        sd = LATENT_SD if rho > 0 else 0.0

        def avg(shift: np.ndarray) -> np.ndarray:
            return (special.expit(shift[:, None] + sd * GH_X[None, :]) * GH_W).sum(axis=1)

        truth = special.logit(avg(mu + beta)) - special.logit(avg(mu))
        return y, truth

    return make


def counts(kind: str) -> Callable[[np.ndarray, np.ndarray, np.random.Generator], tuple]:
    """Attacks per day: Poisson, AR(1) log-normal frailty (rho 0.6), or negative binomial k=2."""

    def make(arm: np.ndarray, beta: np.ndarray, rng: np.random.Generator) -> tuple:
        n, days = arm.shape
        mu = rng.uniform(np.log(0.3), np.log(2.0), n)
        rate = np.exp(mu[:, None] + beta[:, None] * (arm == 1))
        if kind == "frailty":
            sd = 0.8
            rate = rate * np.exp(ar1(n, days, 0.6, sd, rng) - sd**2 / 2)
        elif kind == "negbin":
            rate = rate * rng.gamma(2.0, 1.0 / 2.0, (n, days))
        return rng.poisson(rate).astype(float), beta

    return make


SETTINGS = {
    "binary, independent days": ("binary", binary(0.0)),
    "binary, latent AR(1) rho 0.6": ("binary", binary(0.6)),
    "binary, latent AR(1) rho 0.85": ("binary", binary(0.85)),
    "count, Poisson": ("count", counts("poisson")),
    "count, AR(1) frailty rho 0.6": ("count", counts("frailty")),
    "count, negative binomial k=2": ("count", counts("negbin")),
}


def wilson(k: int, n: int) -> tuple[float, float]:
    """Wilson 95 % interval for a binomial share."""
    z = stats.norm.ppf(0.975)
    p = k / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    return centre - half, centre + half


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--serial", default="periods", choices=["periods", "none"])
    parser.add_argument("--kind", default="both", choices=["both", "binary", "count"])
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    n = args.trials
    print(f"serial={args.serial}, {n} trials per row, seed {args.seed}")
    print(
        f"{'setting':<32}{'effect':>8}{'coverage':>10}{'  (95 % CI)':<18}"
        f"{'false benefit':>14}{'  (95 % CI)':<18}{'seconds':>8}"
    )
    for label, (kind, make) in SETTINGS.items():
        if args.kind not in ("both", kind):
            continue
        for effect in ("none", "U(-1.5,0)"):
            arm = design(n, rng)
            beta = np.zeros(n) if effect == "none" else rng.uniform(-1.5, 0.0, n)
            y, truth = make(arm, beta, rng)
            y[rng.random(y.shape) < MISSING] = np.nan
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", StatisticalWarning)
                fit = fit_discrete_arrays(y, arm, FitOptions(), kind=kind, serial=args.serial)
            took = time.perf_counter() - start
            ok = np.isfinite(fit.ci95_low)
            hit = int(((fit.ci95_low <= truth) & (truth <= fit.ci95_high))[ok].sum())
            lo, hi = wilson(hit, int(ok.sum()))
            row = f"{label:<32}{effect:>8}{hit / ok.sum():>10.3f}  ({lo:.3f}-{hi:.3f})    "
            if effect == "none":
                fb = int((fit.p_benefit[ok] > 0.95).sum())
                flo, fhi = wilson(fb, int(ok.sum()))
                row += f"{fb / ok.sum():>12.3f}  ({flo:.3f}-{fhi:.3f})    "
            else:
                row += f"{'':>12}  {'':<16}"
            print(row + f"{took:>8.1f}", flush=True)


if __name__ == "__main__":
    main()
