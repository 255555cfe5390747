"""Operating characteristics of the adaptive stopping rule vs the fixed 3-pair design (issue 20).

Two parts:

* ``--grid``: simulate every trial at every look once (all looks fitted for all trials), then run
  each candidate (benefit, futility) threshold pair over the same fits, and print which meet the
  goals: true effect 0 declared benefit in <= 5 % of trials (the estimate plus 2 Monte-Carlo se),
  true effect -1 declared benefit at least as often as the fixed 3-pair design (same threshold at
  its end), expected days >= 30 % shorter than the fixed design averaged over effect ~ N(-0.5, 0.8).
* the table and timing of the default rule: ``operating_characteristics`` as the product calls it
  (only still-running trials fitted at each look), ``--repeats`` times, median wall time.
* ``--first-look``: how honest a look after 1, 2 and 3 pairs is (true effects 0 and -1): the
  posterior sd against the spread of the estimate, the 95 % interval's coverage, how often
  P(effect <= -1) reaches 0.6 and 0.9, with the engine as it is, without the trend term and with
  the uniform prior of rho; then the rule's (``--preset``) coverage and mean error by stopping
  look and decision.

Run: ``PYTHONPATH=src python bench/adaptive.py [--trials 20000] [--grid [--min-pairs 1]
[--no-table]] [--preset short] [--repeats 3] [--first-look]``; the load average is printed
with the timings (other jobs share the cores: wall time is only comparable at a similar load).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

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
from microtrial.analysis.continuous import FitOptions, fit_arrays
from microtrial.analysis.posterior_kernel import UNIFORM_RHO_PRIOR
from microtrial.analysis.simulate import simulate_trials
from microtrial.domain.adaptive import SIMULATION, preset

DESIGN: dict[str, float | int] = {
    "sd": SIMULATION.sd,
    "rho": SIMULATION.rho,
    "run_in": 7,
    "period_length": 14,
    "wash_in": 3,
    "missing": SIMULATION.missing,
}
BENEFITS = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)
FUTILITIES = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5)


def grid(n: int, seed: int, min_pairs: int = 2, max_pairs: int = 5) -> None:
    """Fit every look of every trial once, then score each threshold pair on those fits.

    The last column marks the goals met (y) or not (-): effect-0 false benefit, effect -1 vs the
    fixed design, 30 % shorter over the spread; rules meeting all three are listed at the end.
    """
    rng = np.random.default_rng(seed)
    labels = [f"{e:g}" for e in OC_EFFECTS] + ["spread"]
    effect = np.concatenate(
        [np.full(n, e) for e in OC_EFFECTS] + [rng.normal(SPREAD_MEAN, SPREAD_SD, n)]
    )
    sim = simulate_trials(
        effect.size, rng=rng, effect=effect, pairs=max(max_pairs, 3), **_sim_args()
    )
    looks = tuple(sorted({*range(min_pairs, max_pairs + 1), 3}))
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
    print(f"grid: min {min_pairs}, max {max_pairs} pairs, {n} trials per row, seed {seed}")
    print(
        "benefit futility | eff0 benefit (se) | eff-1 benefit vs fixed | eff-1 futility | "
        "spread days vs fixed (shorter) | goals"
    )
    winners = []
    for b in BENEFITS:
        for f in FUTILITIES:
            if f >= b:
                continue
            out = apply_rule(fits, min_pairs=min_pairs, max_pairs=max_pairs, benefit=b, futility=f)
            rows = {
                r.effect: r
                for r in summarise_groups(
                    fits,
                    out,
                    groups,
                    fixed_index=looks.index(3),
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
            if all(ok):
                winners.append(f"{b:.2f}/{f:.2f}")
    print(f"meeting all goals (benefit/futility): {', '.join(winners) or 'none'}")


def first_look(n: int, seed: int) -> None:
    """Is a look after few pairs honest? Calibration per look, then the rule's stops by look.

    A calibrated posterior has coverage near 95 % and, at a true effect of -1 (the MCID),
    P(effect <= -1) >= 0.9 in 10 % of trials (it is then the probability integral transform).
    """
    rng = np.random.default_rng(seed)
    run_in, length = int(DESIGN["run_in"]), int(DESIGN["period_length"])
    variants = (
        ("engine", FitOptions()),
        ("no trend", FitOptions(trend=False)),
        ("uniform rho", FitOptions(rho_prior=UNIFORM_RHO_PRIOR)),
    )
    print(f"first look: {n} trials per effect, seed {seed}, design {DESIGN}")
    print(
        "| effect | model | pairs | mean posterior sd | sd of the estimate | coverage | "
        "P(p >= 0.6) | P(p >= 0.9) | mean posterior rho |"
    )
    for eff in (0.0, -1.0):
        sim = simulate_trials(n, rng=rng, effect=eff, pairs=3, **_sim_args())
        for name, options in variants:
            for pairs in (1, 2, 3):
                d = run_in + 2 * length * pairs
                fit = fit_arrays(sim.values[:, :d], sim.arm[:, :d], options, warn=False)
                cover = np.mean((fit.ci95_low <= eff) & (eff <= fit.ci95_high))
                print(
                    f"| {eff:g} | {name} | {pairs} | {np.nanmean(fit.effect_sd):.2f} | "
                    f"{np.nanstd(fit.effect_mean):.2f} | {cover:.3f} | "
                    f"{np.mean(fit.p_mcid >= 0.6):.3f} | {np.mean(fit.p_mcid >= 0.9):.3f} | "
                    f"{np.nanmean(fit.rho_mean):.2f} |"
                )
    rule = preset(PRESET[0])
    effect = np.repeat(np.array(OC_EFFECTS), n)
    sim = simulate_trials(effect.size, rng=rng, effect=effect, pairs=rule.max_pairs, **_sim_args())
    looks = tuple(range(rule.min_pairs, rule.max_pairs + 1))
    where = {"run_in": run_in, "period_length": length}
    fits = fit_looks(sim.values, sim.arm, effect, looks=looks, options=FitOptions(), **where)
    out = apply_rule(
        fits,
        min_pairs=rule.min_pairs,
        max_pairs=rule.max_pairs,
        benefit=rule.benefit_threshold,
        futility=rule.futility_threshold,
    )
    print(f"rule {PRESET[0]}: stops by look (share of the effect's trials, coverage, mean error)")
    print("| effect | look | decision | share | coverage | mean error |")
    stop = np.where(out.stop_index < 0, len(looks) - 1, out.stop_index)
    for eff in OC_EFFECTS:
        for i, pairs in enumerate(looks):
            for code, word in ((1, "benefit"), (2, "futility"), (3, "maximum")):
                sel = (effect == eff) & (stop == i) & (out.code == code)
                if sel.sum() < 20:
                    continue
                cover = np.mean((out.low[sel] <= eff) & (eff <= out.high[sel]))
                print(
                    f"| {eff:g} | {pairs} | {word} | {sel.sum() / n:.3f} | {cover:.3f} | "
                    f"{np.mean(out.mean[sel] - eff):+.2f} |"
                )


def _sim_args() -> dict[str, float | int]:
    return dict(DESIGN)


def _timed(repeats: int, run: Callable[[int], object]) -> tuple[list[float], list[float]]:
    """Wall and CPU (all threads) seconds of ``repeats`` runs."""
    walls, cpus = [], []
    for i in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        run(i)
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return walls, cpus


PRESET = ["default"]  # the rule the table simulates (--preset)


def table(n: int, seed: int, repeats: int) -> None:
    """The default rule's table, and the median times of its simulation.

    Timed twice: the goal's task (the rule alone over the five effects, ``n`` trials each) and
    the whole table (plus the spread row and the fixed 3-pair comparison). CPU time counts all
    threads; on a loaded machine it is the fairer figure (wall on 2 idle cores ~ CPU / 2).
    """
    rule = preset(PRESET[0])
    args = {
        **rule.stopping(),
        "n_sim": n,
        **_sim_args(),
    }
    goal = _timed(
        repeats,
        lambda i: operating_characteristics(
            spread=None, fixed_pairs=None, rng=np.random.default_rng(seed + i), **args
        ),
    )
    results = []
    whole = _timed(
        repeats,
        lambda i: results.append(
            operating_characteristics(rng=np.random.default_rng(seed + i), **args)
        ),
    )
    result = results[0]
    print(
        f"rule: min {rule.min_pairs}, max {rule.max_pairs} pairs, benefit >= "
        f"{rule.benefit_threshold}, futility <= {rule.futility_threshold} on P(effect <= -1); "
        f"design {DESIGN}"
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
    print(f"load average (1, 5, 15 min) after the runs: {os.getloadavg()}")
    for name, (walls, cpus) in (
        (f"rule alone, 5 effects x {n}", goal),
        (f"whole table, 6 rows x {n} + fixed design", whole),
    ):
        print(
            f"{name}: wall {', '.join(f'{t:.2f}' for t in walls)} s (median "
            f"{statistics.median(walls):.2f}); CPU {', '.join(f'{t:.2f}' for t in cpus)} s "
            f"(median {statistics.median(cpus):.2f}, /2 = {statistics.median(cpus) / 2:.2f})"
        )


def main() -> None:
    """Parse the options and run the grid and/or the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=20000, help="trials per effect")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--grid", action="store_true", help="score the threshold grid first")
    parser.add_argument("--min-pairs", type=int, default=None, help="grid/table rule minimum")
    parser.add_argument("--max-pairs", type=int, default=5, help="grid rule maximum")
    parser.add_argument("--preset", default="default", help="the table's rule (domain PRESETS)")
    parser.add_argument("--no-table", action="store_true", help="the grid only")
    parser.add_argument("--first-look", action="store_true", help="calibration of early looks")
    parser.add_argument("--period-length", type=int, default=DESIGN["period_length"])
    parser.add_argument("--wash-in", type=int, default=DESIGN["wash_in"])
    args = parser.parse_args()
    DESIGN.update(period_length=args.period_length, wash_in=args.wash_in)
    if args.grid:
        grid(args.trials, args.seed, args.min_pairs or 2, args.max_pairs)
    PRESET[0] = args.preset
    if args.first_look:
        first_look(args.trials, args.seed)
    if not args.no_table:
        table(args.trials, args.seed, args.repeats)


if __name__ == "__main__":
    main()
