"""Reference values for the binary and count n-of-1 models from PyMC NUTS (run once, by hand).

Usage: ``.venv/bin/python tests/reference/pymc_discrete.py`` (needs ``pip install pymc``).  Writes
``discrete_trials.csv`` (long format with an ``outcome`` column: ``headache`` 0/1 days and
``attacks`` counts) and ``discrete_pymc.csv`` (posterior summaries of beta per trial and outcome).

Model (as documented in ``microtrial.analysis.discrete``): logit / log link,
``eta = mu + beta * active + delta * (day - centre) / 28`` with ``centre`` the mean in-model day of
the trial, priors mu ~ N(0, 10), beta ~ N(0, 2.5), delta ~ N(0, 2.5); days independent.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pymc as pm

from microtrial.analysis.simulate import simulate_trials

HERE = Path(__file__).parent
N_TRIALS = 20
SEED = 20261127


def simulate() -> pd.DataFrame:
    """Binary and count diaries on the same randomised designs, with 15 % missing days."""
    rng = np.random.default_rng(SEED)
    design = simulate_trials(
        N_TRIALS, rng=rng, run_in=7, pairs=2, period_length=10, wash_in=2, missing=0.15
    )
    frame = design.to_frame(outcome="headache")
    active = (frame["arm"] == "active").to_numpy()
    trial = frame["trial_id"].str[1:].astype(int).to_numpy()
    log_or = rng.normal(-0.8, 0.6, N_TRIALS)[trial]
    base = rng.normal(-0.3, 0.5, N_TRIALS)[trial]
    p = 1 / (1 + np.exp(-(base + log_or * active)))
    missing = frame["value"].isna().to_numpy()
    frame["value"] = np.where(missing, np.nan, (rng.random(len(frame)) < p).astype(float))
    counts = frame.copy()
    counts["outcome"] = "attacks"
    log_rr = rng.normal(-0.5, 0.4, N_TRIALS)[trial]
    rate = np.exp(rng.normal(0.3, 0.4, N_TRIALS)[trial] + log_rr * active)
    counts["value"] = np.where(missing, np.nan, rng.poisson(rate).astype(float))
    return pd.concat([frame, counts], ignore_index=True)


def fit_pymc(frame: pd.DataFrame, kind: str) -> pd.DataFrame:
    use = frame[frame["arm"].isin(["active", "placebo"]) & ~frame["exclude"]]
    use = use[use["value"].notna()].sort_values(["trial_id", "day"])
    ids = sorted(use["trial_id"].unique())
    tr = use["trial_id"].map({t: i for i, t in enumerate(ids)}).to_numpy()
    day = use["day"].to_numpy().astype(float)
    centre = use.groupby("trial_id")["day"].transform("mean").to_numpy()
    s = (day - centre) / 28.0
    a = (use["arm"] == "active").to_numpy().astype(float)
    y = use["value"].to_numpy()
    n = len(ids)
    with pm.Model():
        mu = pm.Normal("mu", 0, 10, shape=n)
        beta = pm.Normal("beta", 0, 2.5, shape=n)
        delta = pm.Normal("delta", 0, 2.5, shape=n)
        eta = mu[tr] + beta[tr] * a + delta[tr] * s
        if kind == "binary":
            pm.Bernoulli("y", logit_p=eta, observed=y)
        else:
            pm.Poisson("y", mu=pm.math.exp(eta), observed=y)
        idata = pm.sample(
            draws=6000, tune=2000, chains=4, cores=2, random_seed=SEED, progressbar=False
        )
    b = idata.posterior["beta"].stack(s=("chain", "draw")).to_numpy()
    return pd.DataFrame(
        {
            "trial_id": ids,
            "beta_mean": b.mean(axis=1),
            "beta_sd": b.std(axis=1, ddof=1),
            "p_beta_lt_0": (b < 0).mean(axis=1),
            "p_beta_lt_m1": (b < -1).mean(axis=1),
            "pymc_version": pm.__version__,
        }
    )


if __name__ == "__main__":
    diaries = simulate()
    diaries.to_csv(HERE / "discrete_trials.csv", index=False)
    parts = []
    for outcome, kind in (("headache", "binary"), ("attacks", "count")):
        res = fit_pymc(diaries[diaries["outcome"] == outcome], kind)
        res.insert(1, "outcome", outcome)
        parts.append(res)
    pd.concat(parts, ignore_index=True).to_csv(HERE / "discrete_pymc.csv", index=False)
