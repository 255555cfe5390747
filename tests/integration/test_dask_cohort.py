"""Scale-out: the cohort analysis of a research export on a Dask cluster equals the numpy one.

The demo clinic's research export (researcher.demo) is written with the export writer, read back
from disk, and turned into the long frame ``fit_trials`` takes: the ``scores`` table's daily
``average_pain`` (the primary outcome) per unblinded trial, with the arm the export gives each
period day (``baseline`` for run-in days, which the export marks ``none``: no period) and
``exclude`` for each period's wash-in days (from the ``periods`` table: ``start_day`` ..
``start_day + wash_in_days - 1``).
Then the per-trial fits and the pooled result from a ``LocalCluster`` must equal the numpy
backend's within 1e-9, and the numpy fit of the export must reproduce the service's own effect
estimates (the export loses nothing the analysis needs).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from microtrial.analysis import fit_trials, pool
from microtrial.errors import StatisticalWarning
from microtrial.interop.research import write_research_export
from microtrial.services import admin, analysis, exports
from microtrial.store.db import Database

distributed = pytest.importorskip("distributed")

TOLERANCE = 1e-9
OUTCOME = "average_pain"


@pytest.fixture(scope="module")
def exported(demo_clinic: Database, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The research export of the demo clinic, written as CSV files."""
    researcher = admin.user_actor(demo_clinic, "researcher.demo")
    tables = exports.research_export(demo_clinic, researcher, secret="s" * 32)
    out = tmp_path_factory.mktemp("research")
    manifest = write_research_export(tables, out, "csv")
    assert set(manifest["tables"]) >= {"scores", "periods", "trials"}
    return out


def long_frame(out: Path) -> pd.DataFrame:
    """(trial_id, day, arm, value, exclude) of every unblinded trial's daily average pain."""
    trials = pd.read_csv(out / "trials.csv")
    periods = pd.read_csv(out / "periods.csv")
    scores = pd.read_csv(out / "scores.csv")
    unblinded = set(trials.loc[trials["unblinded"].astype(bool), "trial"])
    pain = scores[
        (scores["instrument"] == "daily_diary")
        & (scores["score"] == OUTCOME)
        & scores["trial"].isin(unblinded)
    ]
    wash_in = {
        (row.trial, day)
        for row in periods[periods["trial"].isin(unblinded)].itertuples()
        for day in range(int(row.start_day), int(row.start_day) + int(row.wash_in_days))
    }
    frame = pd.DataFrame(
        {
            "trial_id": pain["trial"].to_numpy(),
            "day": pain["study_day"].astype(int).to_numpy(),
            "arm": pain["arm"].replace({"none": "baseline"}).to_numpy(),
            "value": pain["value"].astype(float).to_numpy(),
            "exclude": [
                (t, int(d)) in wash_in
                for t, d in zip(pain["trial"], pain["study_day"], strict=True)
            ],
        }
    )
    return frame.sort_values(["trial_id", "day"], ignore_index=True)


@pytest.fixture(scope="module")
def cluster() -> Iterator[object]:
    """Two single-threaded in-process workers (no extra processes on a small machine)."""
    with (
        distributed.LocalCluster(
            n_workers=2, processes=False, threads_per_worker=1, dashboard_address=None
        ) as local,
        distributed.Client(local) as client,
    ):
        yield client


def fit(frame: pd.DataFrame, **kwargs: object) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatisticalWarning)  # short demo trials may be flagged
        result = fit_trials(frame, mcid=1.0, relative_mcid=0.3, **kwargs)  # type: ignore[arg-type]
    return result.sort_values("trial_id", ignore_index=True)


def assert_frames_close(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a.columns) == list(b.columns)
    assert len(a) == len(b)
    for column in a.columns:
        left, right = a[column].to_numpy(), b[column].to_numpy()
        if np.issubdtype(left.dtype, np.number) and np.issubdtype(right.dtype, np.number):
            np.testing.assert_allclose(
                left.astype(float), right.astype(float), rtol=0, atol=TOLERANCE, err_msg=column
            )
        else:
            assert list(left) == list(right), column


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_dask_cohort_of_the_research_export_equals_numpy(exported: Path, cluster: object) -> None:
    frame = long_frame(exported)
    trials = frame["trial_id"].unique()
    assert len(trials) >= 5, "the demo clinic should have several unblinded trials"
    assert set(frame["arm"]) == {"baseline", "active", "placebo"}
    assert frame["exclude"].any()
    assert not frame["exclude"].all()

    reference = fit(frame, backend="numpy")
    scaled = fit(frame, backend="dask", client=cluster)
    assert sorted(reference["trial_id"]) == sorted(trials)
    assert np.isfinite(reference["effect_mean"]).all()
    assert_frames_close(reference, scaled)

    pooled_numpy, pooled_dask = pool(reference).summary(), pool(scaled).summary()
    assert_frames_close(pooled_numpy, pooled_dask)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_the_export_reproduces_the_services_trial_effects(
    exported: Path, demo_clinic: Database
) -> None:
    """The same effects as the clinic's own cohort analysis: the export has what it needs."""
    researcher = admin.user_actor(demo_clinic, "researcher.demo")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatisticalWarning)
        cohort = analysis.cohort_analysis(demo_clinic, researcher)
    service = cohort.results
    service = service[service["outcome"] == "pain"] if "outcome" in service else service
    ours = fit(long_frame(exported), backend="numpy")
    assert len(ours) == len(service) == cohort.n_trials >= 5
    assert set(ours["trial_id"]) == set(long_frame(exported)["trial_id"])
    np.testing.assert_allclose(
        np.sort(ours["effect_mean"].to_numpy(float)),
        np.sort(service["effect_mean"].to_numpy(float)),
        rtol=0,
        atol=1e-6,
    )
