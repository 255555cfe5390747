"""Calibration of the continuous engine in short, strongly autocorrelated trials.

Run: ``.venv/bin/python bench/calibration_short.py [--trials 2000] [--seed 1]
[--rho-prior uniform] [--rho-prior-b B]`` (``uniform``: the prior of rho before the default changed,
to compare; ``--rho-prior-b``: the default's form with exponent ``B`` in place of -0.25).

The trials are generated here with numpy alone, apart from ``microtrial.analysis.simulate``, so
that a mistake shared by the engine's simulator and the engine cannot hide itself.  Each setting
is a design (7 baseline days, then 2 pairs x 7-day periods, 1 wash-in day each, with 30 % missing
days and a linear trend; the same with no missing day and no trend; 3 pairs x 14-day periods, 2
wash-in days each, 10 % missing) crossed with an error process (stationary AR(1) with rho 0.8;
AR(2) with phi = (0.6, 0.25), whose lag-1 correlation is also 0.8; and, to show the price,
independent days) and a true effect (0 and -1, residual sd 1.5).  Every trial is fitted with the
default options (lower is better, so "benefit" is a negative effect).

Printed per setting: 95 % interval coverage with a Wilson 95 % interval for it, the share of
trials with P(benefit) > 0.95 (false benefit when the true effect is 0), the mean interval
width, the mean posterior mean of rho and the share of results carrying a warning.  Goal for
the AR settings: coverage 0.93-0.97, false benefit at most 6 %.
"""

from __future__ import annotations

import argparse
import time
import warnings
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from microtrial.analysis import UNIFORM_RHO_PRIOR, FitOptions, RhoPrior, fit_arrays
from microtrial.errors import StatisticalWarning

FloatArray = npt.NDArray[np.float64]
SD = 1.5  # marginal (stationary) sd of the errors
RUN_IN = 7  # baseline days before the first period (not in the model)
BURN_IN = 200  # AR(2) start: run the recursion this many days before the trial starts


@dataclass(frozen=True)
class Design:
    """A crossover design with its missing-day share and trend."""

    label: str
    pairs: int
    period_days: int
    wash_in: int
    missing: float
    trend: bool


DESIGNS = [
    Design("2x7, 30% missing + trend", 2, 7, 1, 0.30, True),
    Design("2x7, no missing", 2, 7, 1, 0.0, False),
    Design("3x14, 10% missing", 3, 14, 2, 0.10, False),
]
# The last setting, independent days, is not a target: it shows what the prior of rho costs when
# the days are in fact uncorrelated (wider intervals).
ERRORS = {"AR(1) rho 0.8": (0.8, 0.0), "AR(2) 0.6/0.25": (0.6, 0.25), "independent": (0.0, 0.0)}


def errors(rng: np.random.Generator, n: int, days: int, phi: tuple[float, float]) -> FloatArray:
    """Stationary AR(1)/AR(2) errors with marginal sd ``SD``, shape (n, days)."""
    phi1, phi2 = phi
    if phi2 == 0.0:
        # Exact stationary AR(1): first day N(0, 1), then innovations of variance 1 - rho^2.
        e = np.empty((n, days))
        e[:, 0] = rng.standard_normal(n)
        z = rng.standard_normal((n, days)) * np.sqrt(1.0 - phi1**2)
        for t in range(1, days):
            e[:, t] = phi1 * e[:, t - 1] + z[:, t]
        return SD * e
    # AR(2): long burn-in from zero, then rescale by the theoretical stationary variance.
    total = BURN_IN + days
    z = rng.standard_normal((n, total))
    e = np.zeros((n, total))
    for t in range(2, total):
        e[:, t] = phi1 * e[:, t - 1] + phi2 * e[:, t - 2] + z[:, t]
    rho1 = phi1 / (1.0 - phi2)
    var = 1.0 / (1.0 - phi1 * rho1 - phi2 * (phi1 * rho1 + phi2))
    return SD * e[:, BURN_IN:] / np.sqrt(var)


def generate(
    rng: np.random.Generator, n: int, design: Design, phi: tuple[float, float], effect: float
) -> tuple[FloatArray, npt.NDArray[np.int8]]:
    """Values and arm codes of ``n`` trials (NaN: missing day), as ``fit_arrays`` reads them.

    A ``RUN_IN``-day baseline (code 2) comes first; the first ``wash_in`` days of each period are
    excluded from the model (code -1), as the product does.
    """
    days = RUN_IN + 2 * design.pairs * design.period_days
    # Each pair is active-then-placebo or placebo-then-active with probability 1/2.
    active_first = rng.integers(0, 2, size=(n, design.pairs)).astype(bool)
    periods = np.empty((n, 2 * design.pairs), dtype=np.int8)
    periods[:, 0::2] = active_first
    periods[:, 1::2] = ~active_first
    on_active = np.zeros((n, days), dtype=bool)
    on_active[:, RUN_IN:] = np.repeat(periods, design.period_days, axis=1).astype(bool)
    arm = np.full((n, days), 2, dtype=np.int8)
    arm[:, RUN_IN:] = on_active[:, RUN_IN:]
    washing = np.tile(np.arange(design.period_days) < design.wash_in, 2 * design.pairs)
    arm[:, RUN_IN:][:, washing] = -1
    y = 5.0 + effect * on_active + errors(rng, n, days, phi)
    if design.trend:
        slope = rng.normal(0.0, 1.0, n)  # change over the whole trial, in outcome units
        y = y + slope[:, None] * np.linspace(0.0, 1.0, days)[None, :]
    if design.missing > 0:
        y[rng.random((n, days)) < design.missing] = np.nan
    return y, arm


def wilson(k: int, n: int) -> tuple[float, float]:
    """Wilson 95 % interval of a binomial proportion."""
    z = 1.959963984540054
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rho-prior", choices=["default", "uniform"], default="default")
    parser.add_argument("--rho-prior-b", type=float, default=None)
    args = parser.parse_args()
    prior = UNIFORM_RHO_PRIOR if args.rho_prior == "uniform" else None
    if args.rho_prior_b is not None:
        prior = RhoPrior(1.0, args.rho_prior_b)
    options = FitOptions(rho_prior=prior)
    head = f"{'design':<26}{'errors':<16}{'effect':>6}{'n':>6}{'coverage [95% CI]':>24}"
    print(head + f"{'P(ben)>.95':>12}{'width':>7}{'rho mean':>10}{'warned':>8}")
    start = time.perf_counter()
    for d_i, design in enumerate(DESIGNS):
        for e_i, (e_label, phi) in enumerate(ERRORS.items()):
            for f_i, effect in enumerate((0.0, -1.0)):
                rng = np.random.default_rng([args.seed, d_i, e_i, f_i])
                y, arm = generate(rng, args.trials, design, phi, effect)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", StatisticalWarning)
                    fit = fit_arrays(y, arm, options)
                ok = np.isfinite(fit.ci95_low)
                hit = (fit.ci95_low[ok] <= effect) & (effect <= fit.ci95_high[ok])
                k, n = int(hit.sum()), int(ok.sum())
                lo, hi = wilson(k, n)
                benefit = float(np.mean(fit.p_benefit[ok] > 0.95))
                warned = float(np.mean([w != "" for w in fit.warning_text()]))
                rho = float(np.mean(fit.rho_mean[ok]))
                width = float(np.mean(fit.ci95_high[ok] - fit.ci95_low[ok]))
                cov = f"{k / n:.3f} [{lo:.3f}, {hi:.3f}]"
                print(
                    f"{design.label:<26}{e_label:<16}{effect:>6.0f}{n:>6}{cov:>24}"
                    f"{benefit:>12.3f}{width:>7.2f}{rho:>10.2f}{warned:>8.2f}"
                )
    print(f"{time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
