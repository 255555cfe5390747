"""Operating characteristics of the adaptive stopping rule vs the fixed 3-pair design (issue 20).

Two parts:

* ``--grid``: simulate every trial at every look once (all looks fitted for all trials), then run
  each candidate (benefit, futility) threshold pair over the same fits, and print which meet the
  goals: true effect 0 declared benefit in <= 5 % of trials (the estimate plus 2 Monte-Carlo se),
  true effect -1 declared benefit at least as often as the fixed 3-pair design (same threshold at
  its end), expected days >= 30 % shorter than the fixed design averaged over effect ~ N(-0.5, 0.8).
* the table and timing of the default rule: ``operating_characteristics`` as the product calls it
  (only still-running trials fitted at each look), ``--repeats`` times, median wall time.

Run: ``PYTHONPATH=src python bench/adaptive.py [--trials 20000] [--grid] [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from microtrial.analysis.adaptive import (
    OC_EFFECTS,
    SPREAD_MEAN,
    SPREAD_SD,
    apply_rule,
    fit_looks,
    operating_characteristics,
    summarise_groups,
)
from microtrial.analysis.continuous import FitOptions
from microtrial.analysis.simulate import simulate_trials
from microtrial.domain.adaptive import AdaptiveRule

DESIGN = {"sd": 1.5, "rho": 0.3, "run_in": 7, "period_length": 14, "wash_in": 3, "missing": 0.1}
BENEFITS = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9)
FUTILITIES = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5)


def grid(n: int, seed: int) -> None:
    """Fit every look of every trial once, then score each threshold pair on those fits."""
    rng = np.random.default_rng(seed)
    labels = [f"{e:g}" for e in OC_EFFECTS] + ["spread"]
    effect = np.concatenate(
        [np.full(n, e) for e in OC_EFFECTS] + [rng.normal(SPREAD_MEAN, SPREAD_SD, n)]
    )
    sim = simulate_trials(effect.size, rng=rng, effect=effect, pairs=5, **_sim_args())
    looks = (2, 3, 4, 5)
    fits = fit_looks(
        sim.values,
        sim.arm,
        effect,
        looks=looks,
        run_in=DESIGN["run_in"],
        period_length=DESIGN["period_length"],
        options=FitOptions(),
    )
    groups = [(lab, np.repeat(np.arange(len(labels)) == i, n)) for i, lab in enumerate(labels)]
    print(
        "benefit futility | eff0 benefit (se) | eff-1 benefit vs fixed | eff-1 futility | "
        "spread days vs fixed (shorter) | goals"
    )
    for b in BENEFITS:
        for f in FUTILITIES:
            if f >= b:
                continue
            out = apply_rule(fits, min_pairs=2, max_pairs=5, benefit=b, futility=f)
            rows = {
                r.effect: r
                for r in summarise_groups(
                    fits,
                    out,
                    groups,
                    fixed_index=1,
                    benefit=b,
                    run_in=DESIGN["run_in"],
                    period_length=DESIGN["period_length"],
                )
            }
            zero, one, spread = rows["0"], rows["-1"], rows["spread"]
            short = 1 - spread.expected_days / spread.fixed_days
            ok = (
                zero.p_benefit + 2 * zero.p_benefit_se <= 0.05,
                one.p_benefit >= one.fixed_p_benefit,
                short >= 0.30,
            )
            print(
                f"{b:.2f} {f:.2f} | {zero.p_benefit:.4f} ({zero.p_benefit_se:.4f}) | "
                f"{one.p_benefit:.3f} vs {one.fixed_p_benefit:.3f} | {one.p_futility:.3f} | "
                f"{spread.expected_days:.1f} vs {spread.fixed_days} ({short:.1%}) | "
                f"{''.join('y' if g else '-' for g in ok)}"
            )


def _sim_args() -> dict[str, float | int]:
    return dict(DESIGN)


def table(n: int, seed: int, repeats: int) -> None:
    """The default rule's table and the median wall time of its simulation."""
    rule = AdaptiveRule()
    times = []
    result = None
    for i in range(repeats):
        t0 = time.perf_counter()
        result = operating_characteristics(
            min_pairs=rule.min_pairs,
            max_pairs=rule.max_pairs,
            benefit_threshold=rule.benefit_threshold,
            futility_threshold=rule.futility_threshold,
            n_sim=n,
            rng=np.random.default_rng(seed + i),
            **_sim_args(),
        )
        times.append(time.perf_counter() - t0)
    assert result is not None
    print(
        f"rule: min {rule.min_pairs}, max {rule.max_pairs} pairs, benefit >= "
        f"{rule.benefit_threshold}, futility <= {rule.futility_threshold} on P(effect <= -1)"
    )
    print(
        "| true effect | P(benefit) (MC se) | P(futility) | P(max reached) | expected pairs | "
        "expected days | coverage | mean error | fixed 3-pair P(benefit) | fixed days | "
        "fixed coverage |"
    )
    for r in result.rows:
        print(
            f"| {r.effect} | {r.p_benefit:.3f} ({r.p_benefit_se:.4f}) | {r.p_futility:.3f} | "
            f"{r.p_maximum:.3f} | {r.expected_pairs:.2f} | {r.expected_days:.1f} | "
            f"{r.coverage:.3f} | {r.bias:+.3f} | {r.fixed_p_benefit:.3f} | {r.fixed_days} | "
            f"{r.fixed_coverage:.3f} |"
        )
    short = result.spread_shortening
    print(f"spread shortening vs fixed: {short:.1%}" if short is not None else "")
    print(
        f"wall time, {n} trials per effect x {len(result.rows)} rows: "
        f"{', '.join(f'{t:.2f}' for t in times)} s; median {statistics.median(times):.2f} s"
    )


def main() -> None:
    """Parse the options and run the grid and/or the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=20000, help="trials per effect")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--grid", action="store_true", help="score the threshold grid first")
    args = parser.parse_args()
    if args.grid:
        grid(args.trials, args.seed)
    table(args.trials, args.seed, args.repeats)


if __name__ == "__main__":
    main()
