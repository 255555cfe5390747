"""Reference values for the continuous n-of-1 model from a PyMC NUTS fit (run once, by hand).

Usage: ``.venv/bin/python tests/reference/pymc_continuous.py`` (needs ``pip install pymc``; PyMC is
not a dependency of the package or of the test run).  Writes ``continuous_trials.csv`` (the
simulated diaries, long format) and ``continuous_pymc.csv`` (posterior summaries of beta per trial)
beside this file; ``tests/unit/analysis/test_reference_pymc.py`` compares the engine to them.

The PyMC model is written independently of the engine: AR(1) errors as conditional normals over
calendar-day gaps, ``e_t | e_prev ~ N(rho^g e_prev, sigma^2 (1 - rho^(2g)))`` with a stationary
start, flat priors on mu, beta, delta and log sigma (i.e. p(sigma^2) ∝ 1/sigma^2), and
``rho ~ Uniform(-0.95, 0.95)``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt

from microtrial.analysis.simulate import simulate_trials

HERE = Path(__file__).parent
N_TRIALS = 24
SEED = 20261126


def simulate() -> pd.DataFrame:
    """The reference diaries: short trials with wash-in, baseline and 15 % missing days."""
    rng = np.random.default_rng(SEED)
    sim = simulate_trials(
        N_TRIALS,
        rng=rng,
        effect=rng.normal(-1.0, 0.7, N_TRIALS),
        sd=rng.uniform(0.8, 2.0, N_TRIALS),
        rho=rng.uniform(-0.3, 0.8, N_TRIALS),
        run_in=7,
        pairs=2,
        period_length=10,
        wash_in=2,
        missing=0.15,
        trend=rng.normal(0.0, 1.0, N_TRIALS),
    )
    frame = sim.to_frame()
    frame["value"] = frame["value"].round(4)
    return frame


def fit_pymc(frame: pd.DataFrame, *, draws: int = 6000, tune: int = 2000) -> pd.DataFrame:
    """Fit all trials at once (independent parameters per trial) with NUTS."""
    use = frame[frame["arm"].isin(["active", "placebo"]) & ~frame["exclude"]]
    use = use[use["value"].notna()].sort_values(["trial_id", "day"])
    ids = sorted(use["trial_id"].unique())
    tr = use["trial_id"].map({t: i for i, t in enumerate(ids)}).to_numpy()
    day = use["day"].to_numpy().astype(float)
    y = use["value"].to_numpy()
    a = (use["arm"] == "active").to_numpy().astype(float)
    s = (day - 30.0) / 10.0
    first = np.r_[True, tr[1:] != tr[:-1]]
    prev = np.where(first, 0, np.arange(len(y)) - 1)
    gap = np.where(first, 1.0, day - day[prev])
    n = len(ids)
    with pm.Model():
        mu = pm.Flat("mu", shape=n)
        beta = pm.Flat("beta", shape=n)
        delta = pm.Flat("delta", shape=n)
        log_sigma = pm.Flat("log_sigma", shape=n)
        rho = pm.Uniform("rho", -0.95, 0.95, shape=n)
        sigma = pt.exp(log_sigma)
        e = y - (mu[tr] + beta[tr] * a + delta[tr] * s)
        r = rho[tr] ** gap
        mean = pt.where(first, 0.0, r * e[prev])
        sd = sigma[tr] * pt.where(first, 1.0, pt.sqrt(1.0 - r**2))
        pm.Potential("lik", pm.logp(pm.Normal.dist(mean, sd), e).sum())
        idata = pm.sample(
            draws=draws,
            tune=tune,
            chains=4,
            cores=2,
            random_seed=SEED,
            target_accept=0.9,
            progressbar=False,
        )
    b = idata.posterior["beta"].stack(s=("chain", "draw")).to_numpy()  # (n, draws)
    return pd.DataFrame(
        {
            "trial_id": ids,
            "beta_mean": b.mean(axis=1),
            "beta_sd": b.std(axis=1, ddof=1),
            "p_beta_lt_0": (b < 0).mean(axis=1),
            "p_beta_lt_m1": (b < -1).mean(axis=1),
            "ess_bulk_min": float(pm.stats.ess(idata, var_names=["beta"])["beta"].min()),
            "pymc_version": pm.__version__,
        }
    )


if __name__ == "__main__":
    diaries = simulate()
    diaries.to_csv(HERE / "continuous_trials.csv", index=False)
    fit_pymc(diaries).to_csv(HERE / "continuous_pymc.csv", index=False)
