"""Speed of the binary and count models: days independent vs by period, on the same trials.

Run: ``.venv/bin/python bench/discrete_speed.py [--trials 2000] [--repeats 3]``.  Trials come from
``bench/calibration_discrete.py``'s generator (14-day run-in, 3 pairs of 14-day periods, latent
AR(1) rho 0.6 headache days and AR(1)-frailty attack counts); prints the median seconds of each
model and the ratio, all from this one run.  ``--within-only``: just the CPU seconds of the
period model's within-period step (``discrete_within``) on the same trials.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np
from calibration_discrete import binary, counts, design

from microtrial.analysis import discrete
from microtrial.analysis.discrete import fit_discrete_arrays
from microtrial.analysis.discrete_within import period_days, within_log_likelihood
from microtrial.errors import StatisticalWarning


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--within-only", action="store_true")
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    arm = design(args.trials, rng)
    if args.within_only:
        for kind, make in (("binary", binary(0.6)), ("count", counts("frailty"))):
            y, _ = make(arm, np.zeros(args.trials), rng)
            start = time.process_time()
            ids = discrete._period_ids(arm)
            blocks, days, _ = discrete._period_design(y, arm, True, ids)
            c, typical = discrete._c_nodes(kind, blocks, days)
            in_model = (ids >= 0) & np.isfinite(y)
            y_days, m_days = period_days(np.where(in_model, y, 0.0), in_model, ids)
            within_log_likelihood(kind, y_days, m_days, c, typical)
            print(f"{kind}: within-period step {time.process_time() - start:.2f} CPU s")
        return
    print(f"{args.trials} trials, median of {args.repeats}")
    print(f"{'outcome':<8}{'none (s)':>10}{'periods (s)':>13}{'ratio':>8}{'ms/trial':>10}")
    for kind, make in (("binary", binary(0.6)), ("count", counts("frailty"))):
        y, _ = make(arm, np.zeros(args.trials), rng)
        median = {}
        for serial in ("none", "periods"):
            times = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", StatisticalWarning)
                    fit_discrete_arrays(y, arm, kind=kind, serial=serial)
                times.append(time.perf_counter() - start)
            median[serial] = statistics.median(times)
        ratio = median["periods"] / median["none"]
        per = 1000 * median["periods"] / args.trials
        print(
            f"{kind:<8}{median['none']:>10.2f}{median['periods']:>13.2f}{ratio:>8.1f}{per:>10.1f}"
        )


if __name__ == "__main__":
    main()
