"""Speed of the continuous engine and of ``microtrial analyze`` (figures for docs/PERFORMANCE.md).

Run: ``.venv/bin/python bench/analysis_speed.py [--trials N] [--repeats R] [--cli-trials M]``

1. ``fit_arrays`` (all outputs, as a DataFrame) on trials of 84 days with 10 % missing days:
   median wall time over repeats and peak memory (tracemalloc) of one run.
2. Side by side, in the same run: a PyMC NUTS fit of the same model on a few trials (skipped with a
   note when PyMC is not installed) and the speed-up per trial.
3. ``microtrial analyze`` on a CSV of ``--cli-trials`` trials against ``pandas.read_csv`` of the
   same file (each in a fresh interpreter, median of 3).
"""

from __future__ import annotations

import argparse
import importlib.util
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np

from microtrial.analysis import fit_arrays, simulate_trials
from microtrial.errors import StatisticalWarning

ROOT = Path(__file__).resolve().parents[1]
DESIGN = {"run_in": 12, "pairs": 3, "period_length": 12, "wash_in": 2, "missing": 0.1}


def engine(n_trials: int, repeats: int) -> float:
    sim = simulate_trials(n_trials, rng=np.random.default_rng(1), **DESIGN)
    print(
        f"engine: {n_trials} trials x {sim.values.shape[1]} days, "
        f"{np.isnan(sim.values).mean():.1%} missing"
    )
    times = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatisticalWarning)
        for _ in range(repeats):
            t = time.perf_counter()
            fit_arrays(sim.values, sim.arm).to_frame()
            times.append(time.perf_counter() - t)
        tracemalloc.start()
        fit_arrays(sim.values, sim.arm).to_frame()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(f"  process peak RSS so far (simulation + fits): {rss:.0f} MiB")
    med = statistics.median(times)
    print(
        f"  runs: {', '.join(f'{x:.2f}' for x in times)} s; median {med:.2f} s "
        f"({med / n_trials * 1e6:.1f} us per trial)"
    )
    print(
        f"  peak memory of the fit (tracemalloc, input excluded): {peak / 2**20:.0f} MiB; "
        f"input arrays {(sim.values.nbytes + sim.arm.nbytes) / 2**20:.0f} MiB"
    )
    return med / n_trials


def pymc_side_by_side(per_trial_engine: float, n_trials: int = 3) -> None:
    if importlib.util.find_spec("pymc") is None:
        print("pymc: not installed, side-by-side comparison skipped (pip install pymc)")
        return
    sys.path.insert(0, str(ROOT / "tests" / "reference"))
    import pymc_continuous  # the reference model

    sim = simulate_trials(n_trials, rng=np.random.default_rng(2), **DESIGN)
    frame = sim.to_frame()
    t = time.perf_counter()
    pymc_continuous.fit_pymc(frame, draws=1000, tune=1000)
    per_trial = (time.perf_counter() - t) / n_trials
    t = time.perf_counter()
    fit_arrays(sim.values, sim.arm)
    small = (time.perf_counter() - t) / n_trials
    print(
        f"pymc NUTS (4 chains x 1000 draws, {n_trials} trials in one model, incl. compile): "
        f"{per_trial:.2f} s per trial"
    )
    print(
        f"  engine on the same {n_trials} trials: {small * 1e3:.1f} ms per trial; "
        f"batched: {per_trial_engine * 1e6:.1f} us per trial"
    )
    print(f"  speed-up per trial (batched engine vs PyMC): {per_trial / per_trial_engine:,.0f}x")


def cli(n_trials: int) -> None:
    sim = simulate_trials(n_trials, rng=np.random.default_rng(3), **DESIGN)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "diaries.csv"
        sim.to_frame().to_csv(path, index=False)
        out = Path(tmp) / "results.csv"
        exe = str(Path(sys.executable).parent / "microtrial")
        read = [sys.executable, "-c", f"import pandas as pd; pd.read_csv({str(path)!r})"]
        analyze = [exe, "analyze", str(path), "--out", str(out)]
        t_read, t_cli = [], []
        for _ in range(3):
            t = time.perf_counter()
            subprocess.run(read, check=True)
            t_read.append(time.perf_counter() - t)
            t = time.perf_counter()
            subprocess.run(analyze, check=True, capture_output=True)
            t_cli.append(time.perf_counter() - t)
        t_help = []
        for _ in range(3):
            t = time.perf_counter()
            subprocess.run([exe, "--help"], check=True, capture_output=True)
            t_help.append(time.perf_counter() - t)
        r, c, h = statistics.median(t_read), statistics.median(t_cli), statistics.median(t_help)
        size = path.stat().st_size / 2**20
        print(f"cli: {n_trials} trials, {len(sim.values.ravel())} rows, {size:.0f} MiB CSV")
        print(
            f"  fresh interpreters: pandas.read_csv {r:.2f} s; microtrial analyze {c:.2f} s; "
            f"ratio {c / r:.2f} (CLI start-up alone, `microtrial --help`: {h:.2f} s)"
        )
        # The same work in one warm interpreter: the command's function against read_csv.
        import pandas as pd

        from microtrial.cli.analysis_cmds import analyze

        t_read, t_cli = [], []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", StatisticalWarning)
            for _ in range(3):
                t = time.perf_counter()
                pd.read_csv(path)
                t_read.append(time.perf_counter() - t)
                t = time.perf_counter()
                analyze(path, out=out)
                t_cli.append(time.perf_counter() - t)
        r, c = statistics.median(t_read), statistics.median(t_cli)
        print(
            f"  in-process: pandas.read_csv {r:.2f} s; analyze (read, validate, fit, write) "
            f"{c:.2f} s; ratio {c / r:.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cli-trials", type=int, default=20_000)
    parser.add_argument("--no-pymc", action="store_true")
    args = parser.parse_args()
    per_trial = engine(args.trials, args.repeats)
    if not args.no_pymc:
        pymc_side_by_side(per_trial)
    cli(args.cli_trials)


if __name__ == "__main__":
    main()
