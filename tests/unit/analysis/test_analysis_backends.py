"""The JAX and Dask backends give the numpy backend's numbers."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from microtrial.analysis import (
    UNIFORM_RHO_PRIOR,
    BatchFit,
    BetaPrior,
    FitOptions,
    RhoPrior,
    fit_arrays,
    simulate_trials,
)
from microtrial.analysis.fit import fit_batch
from microtrial.errors import StatisticalWarning

FIELDS = ("effect_mean", "effect_sd", "ci95_low", "ci95_high", "p_benefit", "p_mcid", "rho_mean")


@pytest.fixture(scope="module")
def batch() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(9)
    sim = simulate_trials(60, rng=rng, rho=rng.uniform(-0.5, 0.9, 60), missing=0.2)
    values = sim.values.copy()
    values[0] = 4.0  # constant diary
    values[1, sim.arm[1] == 1] = np.nan  # no active day observed
    return values, sim.arm


def assert_same(a: BatchFit, b: BatchFit, atol: float) -> None:
    for name in FIELDS:
        x, y = getattr(a, name), getattr(b, name)
        np.testing.assert_array_equal(np.isnan(x), np.isnan(y))
        np.testing.assert_allclose(x, y, atol=atol, equal_nan=True, err_msg=name)
    np.testing.assert_array_equal(a.flags, b.flags)


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("jax") is None,
    reason="jax is not installed (pip install 'microtrial[jax]') - JAX backend not tested",
)
@pytest.mark.parametrize("rho_prior", [None, UNIFORM_RHO_PRIOR])
def test_jax_matches_numpy(
    batch: tuple[np.ndarray, np.ndarray], rho_prior: RhoPrior | None
) -> None:
    values, arm = batch
    opts = FitOptions(prior=BetaPrior(-0.5, 0.5), rho_prior=rho_prior, chunk_size=25)
    with pytest.warns(StatisticalWarning):
        ref = fit_arrays(values, arm, opts)
    with pytest.warns(StatisticalWarning):
        got = fit_batch(values, arm, opts, backend="jax")
    assert_same(ref, got, atol=1e-6)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_dask_matches_numpy(batch: tuple[np.ndarray, np.ndarray]) -> None:
    distributed = pytest.importorskip("distributed")
    values, arm = batch
    opts = FitOptions(chunk_size=16)
    with pytest.warns(StatisticalWarning):
        ref = fit_arrays(values, arm, opts)
    seen: list[int] = []
    with (
        distributed.LocalCluster(
            n_workers=2, processes=False, threads_per_worker=1, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
        pytest.warns(StatisticalWarning),
    ):
        got = fit_batch(values, arm, opts, backend="dask", client=client, progress=seen.append)
    assert sorted(seen) == [12, 16, 16, 16]
    assert_same(ref, got, atol=0.0)
