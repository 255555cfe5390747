"""Per-trial fits computed once and stored: data versions, the batched refresh, the cohort read.

A trial's *data version* is a hash of everything the analysis reads for it (the trial row and
plan, its periods, doses, adverse events and guesses, and the patient's diary entries and
conditions: row counts and newest ids, since a correction or a late entry inserts a row and
never edits one) plus ``FIT_FORMAT``. A stored fit is *stale* when the trial's current version
differs from the one it was computed from.

``refresh_fits`` reads every stale trial in one read-only transaction (a consistent snapshot
that blocks no writer), fits them all after it with one engine call per outcome, and writes the
results in one short write transaction, storing each fit only if its trial's version is still
the one read: a trial changed meanwhile stays stale instead of getting a fit of old data.
After the fits, the cohort views whose fits changed are pooled and stored
(``cohort_store``). Requests never fit: ``read_cohort`` reads the stored rows and says how many
are stale or missing.
"""

from __future__ import annotations

import datetime as dt
import gc
import math
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, delete, func, insert, select
from sqlalchemy.orm import Session

from microtrial.domain.access import Action, authorize
from microtrial.domain.actors import Actor
from microtrial.domain.lifecycle import TrialStatus
from microtrial.services.analysis_bulk import version_of
from microtrial.services.analysis_fit import trial_counts
from microtrial.services.analysis_model import TrialAnalysis, frame_rows, plain
from microtrial.services.common import Clock, audit, system_clock
from microtrial.services.fit_arrays import fit_rows, load_days
from microtrial.store.db import Database
from microtrial.store.models import (
    AdverseEventRow,
    BlindingGuessRow,
    ConditionRow,
    DiaryEntryRow,
    DoseEventRow,
    PeriodRow,
    TrialFitRow,
    TrialRow,
)

CHUNK = 2000  # ids per IN (...) list: well under SQLite's and PostgreSQL's parameter limits


@dataclass(frozen=True)
class RefreshReport:
    """What one refresh did: trials checked, found stale, stored, and left stale by a race."""

    checked: int
    stale: int
    stored: int
    changed_meanwhile: int
    seconds: float
    # the split of ``seconds``: reading the inputs, fitting (no transaction open), writing
    load_s: float = 0.0
    fit_s: float = 0.0
    write_s: float = 0.0
    # the cohort views (pooled, descriptive, blinding) recomputed and stored after the fits
    cohort_views: int = 0
    cohort_s: float = 0.0


def unblinded_ids() -> Select[tuple[int]]:
    """The ids of every unblinded trial (to narrow with ``where`` or a scope)."""
    return select(TrialRow.id).where(TrialRow.status == TrialStatus.UNBLINDED.value)


def data_versions(session: Session, trial_ids: Select[tuple[int]]) -> dict[int, str]:
    """Each listed trial's current data version, from one aggregate query per input table.

    The queries run on the session's connection, not through the ORM: plain columns either
    way, and a refresh computes every unblinded trial's versions three times.
    """
    ids = trial_ids.scalar_subquery()
    run = session.connection().execute
    trials = run(
        select(
            TrialRow.id,
            TrialRow.patient_id,
            TrialRow.status,
            TrialRow.lock_version,
            TrialRow.plan,
            TrialRow.unblinded_at,
            TrialRow.unblinded_early,
        ).where(TrialRow.id.in_(ids))
    ).all()
    patients = select(TrialRow.patient_id).where(TrialRow.id.in_(ids)).scalar_subquery()
    by_patient = {
        table.__tablename__: _aggregate(session, table, table.patient_id, patients)
        for table in (DiaryEntryRow, ConditionRow)
    }
    by_trial = {
        table.__tablename__: _aggregate(session, table, table.trial_id, ids)
        for table in (DoseEventRow, AdverseEventRow, BlindingGuessRow)
    }
    periods = {
        row[0]: tuple(str(v) for v in row[1:])
        for row in run(
            select(
                PeriodRow.trial_id,
                func.count(PeriodRow.id),
                func.min(PeriodRow.start_date),
                func.max(PeriodRow.end_date),
                func.sum(PeriodRow.washin_days),
            )
            .where(PeriodRow.trial_id.in_(ids))
            .group_by(PeriodRow.trial_id)
        )
    }
    return {
        trial_id: version_of(
            fields,
            periods.get(trial_id),
            [found.get(patient_id) for found in by_patient.values()],
            [found.get(trial_id) for found in by_trial.values()],
        )
        for trial_id, patient_id, *fields in trials
    }


def _aggregate(session: Session, table: Any, key: Any, among: Any) -> dict[int, tuple[int, int]]:
    """Row count and newest id per key: any insert (a new version included) changes them."""
    query = (
        select(key, func.count(table.id), func.max(table.id)).where(key.in_(among)).group_by(key)
    )
    return {k: (n, newest) for k, n, newest in session.connection().execute(query)}


def refresh_fits(db: Database, actor: Actor, *, clock: Clock = system_clock) -> RefreshReport:
    """Fit every unblinded trial whose stored fit is missing or stale, all in one batch."""
    authorize(actor, Action.REFRESH_RESULTS)
    started = time.perf_counter()
    with _no_cyclic_gc(), db.read() as session:
        versions = data_versions(session, unblinded_ids())
        stored = dict(
            session.execute(select(TrialFitRow.trial_id, TrialFitRow.data_version)).tuples().all()
        )
        stale = sorted(t for t, v in versions.items() if stored.get(t) != v)
        # one query per input table per chunk of stale trials, the days joined as arrays
        days = load_days(session, stale, clock())
    if not stale:  # no fit to compute: the cohort views only if they lag behind the fits
        views = _refresh_cohort(db, clock)
        return RefreshReport(
            len(versions), 0, 0, 0, time.perf_counter() - started, cohort_views=views
        )
    loaded = time.perf_counter()
    # No transaction is open while the engine runs: writers are never kept waiting by a fit.
    with _no_cyclic_gc():
        rows = fit_rows(days, versions, clock())
    fitted_at = time.perf_counter()
    with _no_cyclic_gc(), db.transaction() as session:
        again = _versions_of(session, stale)
        keep = [r for r in rows if again.get(r["trial_id"]) == r["data_version"]]
        for chunk in _chunks([r["trial_id"] for r in keep]):
            session.execute(delete(TrialFitRow).where(TrialFitRow.trial_id.in_(chunk)))
        if keep:
            session.execute(insert(TrialFitRow), keep)
        audit(
            session,
            actor,
            "refresh",
            "trial_fits",
            None,
            at=clock(),
            detail={
                "trial_ids": [r["trial_id"] for r in keep],
                "changed_meanwhile": len(rows) - len(keep),
            },
        )
    written = time.perf_counter()
    with _no_cyclic_gc():  # every stored fit in memory: as many objects as the load
        views = _refresh_cohort(db, clock, keep)
    done = time.perf_counter()
    return RefreshReport(
        checked=len(versions),
        stale=len(stale),
        stored=len(keep),
        changed_meanwhile=len(rows) - len(keep),
        seconds=done - started,
        load_s=loaded - started,
        fit_s=fitted_at - loaded,
        write_s=written - fitted_at,
        cohort_views=views,
        cohort_s=done - written,
    )


def _versions_of(session: Session, trial_ids: Sequence[int]) -> dict[int, str]:
    """The current data versions of ``trial_ids`` (unblinded ones only).

    A few trials in chunks of ids; more than a chunk's worth from one pass over every unblinded
    trial, which costs about what one chunk's aggregates cost (each scans the tables).
    """
    if len(trial_ids) > CHUNK:
        wanted = set(trial_ids)
        return {t: v for t, v in data_versions(session, unblinded_ids()).items() if t in wanted}
    again: dict[int, str] = {}
    for chunk in _chunks(trial_ids):
        again |= data_versions(session, unblinded_ids().where(TrialRow.id.in_(chunk)))
    return again


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Python's cycle collector paused while a refresh reads and fits (reference counting goes on).

    Loading thousands of trials allocates millions of small objects, and each full collection
    walks them all again: at 10,000 patients that was a third of the reading time. Only
    re-enabled if it was enabled before (a refresh running beside another leaves it as found).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _refresh_cohort(db: Database, clock: Clock, fresh: Sequence[dict[str, Any]] = ()) -> int:
    """Store the cohort views whose fits changed (``cohort_store``, which reads this module)."""
    from microtrial.services.cohort_store import refresh_cohort_results

    return refresh_cohort_results(db, clock=clock, fresh=fresh)


def fit_row(one: TrialAnalysis, version: str, at: dt.datetime) -> dict[str, Any]:
    """A trial's fit as a ``trial_fits`` row: JSON-ready, NaN as null.

    The per-trial form of what ``fit_arrays.fit_rows`` computes for a refresh (a test checks
    that both give the same rows).
    """
    return {
        "trial_id": one.trial.id,
        "data_version": version,
        "computed_at": at,
        "condition_group": one.condition_group,
        "unblinded_early": one.trial.unblinded_early,
        "results": json_rows(frame_rows(one.results)),
        "guesses": json_rows(frame_rows(one.guesses)),
        "counts": json_rows([trial_counts(one)])[0],
        "warnings": list(one.warnings),
    }


def json_rows(rows: Iterable[dict[Any, Any]]) -> list[dict[str, Any]]:
    """Rows with plain values; NaN becomes None (JSON has no NaN; PostgreSQL refuses it)."""
    return [{str(k): json_value(v) for k, v in row.items()} for row in rows]


def json_value(value: Any) -> Any:
    """A plain JSON-ready value; NaN becomes None."""
    value = plain(value)
    return None if isinstance(value, float) and math.isnan(value) else value


def _chunks(ids: Sequence[int]) -> list[Sequence[int]]:
    return [ids[i : i + CHUNK] for i in range(0, len(ids), CHUNK)]
