"""The JAX backend on whatever device JAX finds (a GPU where one is lent): speed and agreement.

Run: ``PYTHONPATH=src python bench/gpu_jax.py [--trials N] [--repeats R] [--out FILE]``

Fits the same simulated trials (84 days, 10 % missing) with the numpy engine and the JAX engine
and reports each one's median wall time and the largest absolute difference in every output.
Not part of ``make bench`` (it needs JAX with a device); its figures go to docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from microtrial.analysis import fit_arrays, simulate_trials
from microtrial.analysis.backend_jax import fit_arrays_jax
from microtrial.errors import StatisticalWarning

DESIGN = {"run_in": 12, "pairs": 3, "period_length": 12, "wash_in": 2, "missing": 0.1}


def timed(fn, repeats):  # type: ignore[no-untyped-def]
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    import jax

    devices = [str(d) for d in jax.devices()]
    sim = simulate_trials(args.trials, rng=np.random.default_rng(1), **DESIGN)
    warnings.simplefilter("ignore", StatisticalWarning)
    fit_arrays_jax(sim.values[:1000], sim.arm[:1000])  # compile once
    np_med, np_runs, np_fit = timed(
        lambda: fit_arrays(sim.values, sim.arm).to_frame(), args.repeats
    )
    jx_med, jx_runs, jx_fit = timed(
        lambda: fit_arrays_jax(sim.values, sim.arm).to_frame(), args.repeats
    )
    numeric = [c for c in np_fit.columns if pd.api.types.is_float_dtype(np_fit[c].dtype)]
    diffs = {
        c: float(np.nanmax(np.abs(np_fit[c].to_numpy() - jx_fit[c].to_numpy()))) for c in numeric
    }
    report = {
        "devices": devices,
        "jax_version": jax.__version__,
        "trials": args.trials,
        "days": int(sim.values.shape[1]),
        "numpy_median_s": np_med,
        "numpy_runs_s": np_runs,
        "jax_median_s": jx_med,
        "jax_runs_s": jx_runs,
        "max_abs_difference": diffs,
        "agree_within_1e-6": all(d <= 1e-6 for d in diffs.values()),
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
