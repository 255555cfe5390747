"""The refresh's bulk loader gives what the per-trial loader gives, in a fixed number of queries.

Runs on the demo clinic built on each backend (SQLite and, when configured, PostgreSQL).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import delete, event, select

from microtrial.domain.actors import system_actor
from microtrial.services import analysis_bulk, demo, trial_fits
from microtrial.services.analysis_fit import fit_loaded
from microtrial.services.analysis_load import load_inputs
from microtrial.services.cohort_store import refresh_cohort_results
from microtrial.services.trial_fits import data_versions, fit_row, refresh_fits, unblinded_ids
from microtrial.store.db import Database
from microtrial.store.models import (
    AllocationRow,
    CohortResultRow,
    PatientRow,
    TrialFitRow,
    TrialRow,
)

NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def demo_db(db: Database, tmp_path: Path) -> Database:
    """The demo clinic (8 patients, every trial stage) built on this test's backend."""
    at = dt.datetime.now(dt.UTC)
    demo._populate(db, tmp_path / "demo.db", 8, np.random.default_rng(3), lambda: at)
    return db


def same(a: Any, b: Any, where: str) -> None:
    """Deep equality of loaded inputs: frames compared as frames, dataclasses field by field."""
    if isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b, obj=where)
    elif dataclasses.is_dataclass(a) and not isinstance(a, type):
        assert type(a) is type(b), where
        for f in dataclasses.fields(a):
            same(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            same(x, y, f"{where}[{i}]")
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            same(a[k], b[k], f"{where}[{k!r}]")
    else:
        assert a == b, where


def planned_trials(db: Database) -> list[int]:
    """Every demo trial with a plan and an allocation (what the loaders can read)."""
    with db.read() as session:
        return list(
            session.execute(
                select(TrialRow.id)
                .join(AllocationRow, AllocationRow.trial_id == TrialRow.id)
                .where(TrialRow.start_date.is_not(None))
                .order_by(TrialRow.id)
            ).scalars()
        )


def test_bulk_inputs_equal_per_trial_inputs_and_a_refresh_costs_fixed_statements(
    demo_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # one test, so that the demo is built once per backend
    bulk_equals_per_trial(demo_db)
    refresh_statement_counts(demo_db)
    # chunks of two ids: more stale trials than a chunk re-checks their versions in one pass
    monkeypatch.setattr(trial_fits, "CHUNK", 2)
    refreshed_fits_equal_per_trial_fits(demo_db)


def bulk_equals_per_trial(demo_db: Database) -> None:
    """Every demo trial's bulk inputs and version equal the per-trial loader's."""
    trials = planned_trials(demo_db)
    assert len(trials) >= 8
    with demo_db.read() as session, counted(demo_db) as statements:
        bulk = analysis_bulk.load_many(session, trials, NOW, chunk=3)  # several chunks
        chunks = math.ceil(len(trials) / 3)
        assert len(statements) == bulk.statements == 10 * chunks  # ten tables, once a chunk
    with demo_db.read() as session:
        one_by_one = [
            load_inputs(session, trial, session.get_one(PatientRow, trial.patient_id), NOW)
            for trial in (session.get_one(TrialRow, t) for t in trials)
        ]
        versions = data_versions(session, select(TrialRow.id).where(TrialRow.id.in_(trials)))
    assert [i.trial.id for i in bulk.inputs] == trials
    assert any(i.endpoint is not None for i in one_by_one)  # a discrete endpoint is covered
    assert any(len(i.guesses) for i in one_by_one)
    assert any(i.trial.adaptive is not None for i in one_by_one)
    for got, want in zip(bulk.inputs, one_by_one, strict=True):
        same(got, want, f"trial {want.trial.id}")
    # the versions computed from the bulk rows are those of the aggregate queries
    assert bulk.versions == versions


@contextmanager
def counted(db: Database) -> Iterator[list[str]]:
    """Every SQL statement the database runs inside the block."""
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


def refresh_statement_counts(demo_db: Database) -> None:
    """A refresh of one stale trial and one of every trial issue as many statements."""
    with demo_db.read() as session:
        trials = list(session.execute(unblinded_ids().order_by(TrialRow.id)).scalars())
    assert len(trials) >= 3
    counts = []
    for stale in (trials[:1], trials):
        with demo_db.transaction() as session:
            session.execute(delete(TrialFitRow).where(TrialFitRow.trial_id.in_(stale)))
        with counted(demo_db) as statements:
            report = refresh_fits(demo_db, system_actor("test"))
        assert report.stored == len(stale)
        counts.append(len(statements))
    assert counts[0] == counts[1], counts


def refreshed_fits_equal_per_trial_fits(demo_db: Database) -> None:
    """A full refresh (every trial's days as arrays) stores what the per-trial path computes."""
    with demo_db.transaction() as session:
        session.execute(delete(TrialFitRow))
        session.execute(delete(CohortResultRow))
        # paused days too (the demo pauses none): one trial paused and resumed, one left paused
        ids = session.execute(unblinded_ids().order_by(TrialRow.id).limit(2)).scalars().all()
        first, second = (session.get_one(TrialRow, t) for t in ids)
        first.plan = {
            **first.plan,
            "pauses": [{"from": on_day(first, 20), "to": on_day(first, 24)}],
        }
        second.plan = {**second.plan, "paused_on": on_day(second, 30)}
    report = refresh_fits(demo_db, system_actor("test"), clock=lambda: NOW)
    with demo_db.read() as session:
        trials = list(session.execute(unblinded_ids().order_by(TrialRow.id)).scalars())
        versions = data_versions(session, unblinded_ids())
        inputs = [
            load_inputs(session, trial, session.get_one(PatientRow, trial.patient_id), NOW)
            for trial in (session.get_one(TrialRow, t) for t in trials)
        ]
        stored = {r.trial_id: r for r in session.execute(select(TrialFitRow)).scalars()}
    assert report.stored == len(trials) == len(stored)
    wanted = [fit_row(one, versions[one.trial.id], NOW) for one in fit_loaded(inputs, cohort=True)]
    # the demo covers what the rows hold: guesses and warnings (adverse events in an arm on
    # some runs only: the demo is built at the current time)
    assert any(w["guesses"] for w in wanted)
    assert any(w["warnings"] for w in wanted)
    assert sum("paused" in " ".join(w["warnings"]) for w in wanted) == 2
    for want in wanted:
        got = stored[want["trial_id"]]
        for name, value in want.items():
            if name == "computed_at":
                continue
            # as JSON text: an integer stored as 2.0 instead of 2 would differ
            assert json.dumps(getattr(got, name), sort_keys=True) == json.dumps(
                value, sort_keys=True
            ), f"trial {want['trial_id']}: {name}"
    # the cohort views, pooled from the fits as computed (not read back), equal views pooled
    # from the stored fits
    views = stored_views(demo_db)
    assert len(views) == report.cohort_views >= 2
    with demo_db.transaction() as session:
        session.execute(delete(CohortResultRow))
    assert refresh_cohort_results(demo_db, clock=lambda: NOW) == len(views)
    assert stored_views(demo_db) == views


def on_day(trial: TrialRow, day: int) -> str:
    """The ISO date ``day`` days after the trial's start."""
    assert trial.start_date is not None
    return (trial.start_date + dt.timedelta(days=day)).isoformat()


def stored_views(db: Database) -> dict[tuple[int | None, str], str]:
    """Each stored cohort view's payload and trial versions, as JSON text."""
    with db.read() as session:
        return {
            (r.site_id, r.condition_group): json.dumps([r.payload, r.trial_versions])
            for r in session.execute(select(CohortResultRow)).scalars()
        }
