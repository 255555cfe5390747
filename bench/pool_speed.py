"""Pooling speed: the pooled posterior's quantiles by Newton (now) and by bisection (before).

Run: ``.venv/bin/python bench/pool_speed.py [--trials 250 2000] [--repeats 5]``

Pools ``--trials`` simulated trials in three condition groups (``pool(..., by="group")``, as the
research page does for pain) with the current ``_mixture_quantiles`` (safeguarded Newton) and
with the bisection it replaced (``_bisected_quantiles``), and prints the median seconds of each
and the largest difference between their quantiles. ``one_pass_s``: Newton as before the
shrunken effects were computed in chunks of ``_COLUMNS`` trials over the grid cells that weigh
(``_SHRUNK_CELLS``), i.e. one pass over every trial and every cell.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd

from microtrial.analysis import pooling
from microtrial.errors import StatisticalWarning


def trials(n: int, seed: int = 19) -> pd.DataFrame:
    """``n`` simulated per-trial pain effects in three groups."""
    rng = np.random.default_rng(seed)
    group = np.array(["migraine", "back", "neuropathic"])[np.arange(n) % 3]
    sd = rng.uniform(0.2, 1.5, n)
    effect = rng.normal(-0.5, 0.8, n) + rng.normal(0, sd)
    return pd.DataFrame(
        {
            "trial_id": [f"t{i}" for i in range(n)],
            "group": group,
            "effect_mean": effect,
            "effect_sd": sd,
            "p_mcid": rng.uniform(0, 1, n),
        }
    )


def timed(data: pd.DataFrame, repeats: int) -> tuple[float, pooling.PoolResult]:
    """Median seconds of ``pool(data, by="group")`` and its result."""
    times = []
    result = None
    for _ in range(repeats):
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", StatisticalWarning)
            result = pooling.pool(data, by="group")
        times.append(time.perf_counter() - start)
    assert result is not None
    return statistics.median(times), result


def main() -> None:
    """Print before/after pooling times per trial count."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, nargs="+", default=[250, 2000])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    newton: Callable[..., np.ndarray] = pooling._mixture_quantiles
    columns, cells = pooling._COLUMNS, pooling._SHRUNK_CELLS
    print("trials  bisection_s  one_pass_s  newton_s  speed-up  vs one pass  max_abs_diff")
    for n in args.trials:
        data = trials(n)
        pooling._mixture_quantiles = pooling._bisected_quantiles  # type: ignore[assignment]
        before, old = timed(data, args.repeats)
        pooling._mixture_quantiles = newton  # type: ignore[assignment]
        pooling._COLUMNS, pooling._SHRUNK_CELLS = 10**9, 0.0
        one_pass, _ = timed(data, args.repeats)
        pooling._COLUMNS, pooling._SHRUNK_CELLS = columns, cells
        after, new = timed(data, args.repeats)
        cols = ["ci95_low", "ci95_high", "pi95_low", "pi95_high"]
        diff = max(
            float(
                np.nanmax(
                    np.abs(new.groups[cols].to_numpy(float) - old.groups[cols].to_numpy(float))
                )
            ),
            float(
                np.nanmax(
                    np.abs(
                        new.forest[["shrunk_low", "shrunk_high"]].to_numpy(float)
                        - old.forest[["shrunk_low", "shrunk_high"]].to_numpy(float)
                    )
                )
            ),
        )
        print(
            f"{n:6d}  {before:11.3f}  {one_pass:10.3f}  {after:8.3f}  {before / after:7.1f}x"
            f"  {one_pass / after:10.1f}x  {diff:.1e}"
        )


if __name__ == "__main__":
    main()
