"""Calibration of the continuous engine: do 95 % credible intervals cover the true effect 95 %?

Run: ``.venv/bin/python bench/calibration.py [--trials 4000] [--seed 1]``.  Trials are simulated
from a wide spread of effects, noise levels, autocorrelations, trends and designs, each with
missing days, and fitted with the default (reference) prior.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from microtrial.analysis import FitOptions, fit_arrays, simulate_trials
from microtrial.errors import StatisticalWarning

DESIGNS = [  # run_in, pairs, period_length, wash_in, missing
    (7, 2, 7, 1, 0.10),
    (14, 3, 14, 2, 0.10),
    (12, 3, 12, 2, 0.20),
    (0, 4, 10, 0, 0.05),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    per = args.trials // len(DESIGNS)
    covered, total, widths = 0, 0, []
    print(f"{'design':<26}{'trials':>8}{'coverage':>10}{'mean width':>12}")
    start = time.perf_counter()
    for run_in, pairs, length, wash_in, missing in DESIGNS:
        sim = simulate_trials(
            per,
            rng=rng,
            effect=rng.uniform(-3.0, 1.0, per),
            sd=rng.uniform(0.5, 3.0, per),
            rho=rng.uniform(-0.5, 0.9, per),
            trend=rng.normal(0.0, 1.0, per),
            run_in=run_in,
            pairs=pairs,
            period_length=length,
            wash_in=wash_in,
            missing=missing,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", StatisticalWarning)
            fit = fit_arrays(sim.values, sim.arm, FitOptions())
        hit = (fit.ci95_low <= sim.effect) & (sim.effect <= fit.ci95_high)
        ok = np.isfinite(fit.ci95_low)
        covered += int(hit[ok].sum())
        total += int(ok.sum())
        widths.append(fit.ci95_high[ok] - fit.ci95_low[ok])
        label = f"{run_in}+{pairs}x2x{length}d, {missing:.0%} miss"
        print(f"{label:<26}{ok.sum():>8}{hit[ok].mean():>10.3%}{np.mean(widths[-1]):>12.3f}")
    share = covered / total
    se = np.sqrt(share * (1 - share) / total)
    print(f"{'all':<26}{total:>8}{share:>10.3%}{np.mean(np.concatenate(widths)):>12.3f}")
    print(
        f"coverage {share:.4f} (Monte-Carlo se {se:.4f}); target 0.94-0.96; "
        f"{time.perf_counter() - start:.1f} s"
    )


if __name__ == "__main__":
    main()
