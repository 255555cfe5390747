"""Calibration of cohort pooling: coverage of the pooled 95 % interval and false benefit, by k.

Run: ``.venv/bin/python bench/calibration_pool.py [--pools 2000] [--seed 1] [--ks 2,3,5,20,200]
[--tau-high 1.5] [--tau-scale 1]``.

The generator below is written apart from the engine and shares none of its code or its prior:
per pool, a true typical effect ``mu`` (uniform on [-2, 1] points; exactly 0 in the false-benefit
arm), a between-patient sd ``tau`` uniform on [0, 1.5] points (``--tau-high`` moves the upper
end, for a sensitivity run with more heterogeneity than the engine's prior expects), each trial's
posterior sd ``s_i`` log-uniform on [0.3, 1.2] points (the spread of per-trial posterior sds in
bench/calibration.py's designs), true effects ``theta_i ~ N(mu, tau^2)`` and observed effects
``y_i ~ N(theta_i, s_i^2)``.
Each pool goes through ``pool_effects`` with its defaults (half-normal tau prior, scale 1 point;
``--tau-scale`` sets another scale).

Printed per pool size: coverage of ``mu`` by the pooled 95 % interval with its Wilson 95 %
interval (both arms together), the false-benefit rate (P(benefit) > 0.95 when ``mu`` = 0) with its
Wilson interval, the mean width of the pooled interval, and the coverage of a new patient's true
effect by the 95 % prediction interval.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from microtrial.analysis.pooling import pool_effects

Z95 = 1.959963984540054


def wilson(hits: int, n: int) -> tuple[float, float]:
    """Wilson score 95 % interval of a binomial proportion."""
    p = hits / n
    centre = (p + Z95**2 / (2 * n)) / (1 + Z95**2 / n)
    half = Z95 * np.sqrt(p * (1 - p) / n + Z95**2 / (4 * n**2)) / (1 + Z95**2 / n)
    return centre - half, centre + half


def simulate(
    rng: np.random.Generator, k: int, null: bool, tau_high: float
) -> tuple[float, float, np.ndarray, np.ndarray]:
    """One pool: true mu, a new patient's true effect, observed effects and their sds."""
    mu = 0.0 if null else float(rng.uniform(-2.0, 1.0))
    tau = float(rng.uniform(0.0, tau_high))
    s = np.exp(rng.uniform(np.log(0.3), np.log(1.2), k))
    theta = rng.normal(mu, tau, k)
    y = rng.normal(theta, s)
    new_patient = float(rng.normal(mu, tau))
    return mu, new_patient, y, s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pools", type=int, default=2000, help="simulated pools per arm and k")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--ks", default="2,3,5,20,200", help="pool sizes, comma-separated")
    parser.add_argument("--tau-high", type=float, default=1.5, help="upper end of the true tau")
    parser.add_argument("--tau-scale", type=float, default=None, help="the engine's tau prior")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    ks = [int(k) for k in args.ks.split(",")]
    print(
        f"{'k':>4} {'pools':>6} {'coverage (Wilson 95 %)':>24} "
        f"{'false benefit (Wilson 95 %)':>28} {'mean width':>11} {'PI coverage':>12} {'s/pool':>7}"
    )
    for k in ks:
        start = time.perf_counter()
        covered = false_benefit = pi_covered = 0
        widths: list[float] = []
        for arm_null in (False, True):
            for _ in range(args.pools):
                mu, new_patient, y, s = simulate(rng, k, arm_null, args.tau_high)
                if args.tau_scale is None:
                    summary, _ = pool_effects(y, s)
                else:
                    summary, _ = pool_effects(y, s, tau_scale=args.tau_scale)
                covered += summary["ci95_low"] <= mu <= summary["ci95_high"]
                pi_covered += summary["pi95_low"] <= new_patient <= summary["pi95_high"]
                widths.append(summary["ci95_high"] - summary["ci95_low"])
                if arm_null:
                    false_benefit += summary["p_benefit"] > 0.95
        n = 2 * args.pools
        lo, hi = wilson(covered, n)
        flo, fhi = wilson(false_benefit, args.pools)
        per = (time.perf_counter() - start) / n
        print(
            f"{k:>4} {n:>6} {covered / n:>8.1%} ({lo:.1%}–{hi:.1%})     "
            f"{false_benefit / args.pools:>8.1%} ({flo:.1%}–{fhi:.1%})        "
            f"{np.mean(widths):>11.2f} {pi_covered / n:>12.1%} {per:>7.3f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
