"""A full refresh of N stored trials' fits, and the cohort read that follows (docs/PERFORMANCE.md).

Run: ``.venv/bin/python bench/cohort_refresh.py [--trials N] [--repeats R] [--out DIR]``

1. Builds the demo clinic (24 patients, through the services) and copies its unblinded trials
   with their patients, conditions, periods, allocations, kits, diaries, doses, adverse events
   and guesses by SQL until the database holds ``--trials`` unblinded trials (default 10,000).
   The copies bypass the services (no audit events, no rules run): they exist only to be read
   by the refresh, which reads them exactly as it reads the originals.
2. Deletes every stored fit and cohort view and times ``refresh_fits`` (read every input in
   one query per table per chunk, one batched engine call per outcome, write every fit, then
   pool and store every cohort view), ``--repeats`` times (default 3): the median, the
   read / fit / write split of the last run, and the peak memory of the process.
3. Times ``cohort_analysis`` as the researcher's page reads it (the stored view, with the
   current data versions checked; no pooling), median of 5.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Table, delete, func, insert, select

from microtrial.domain.actors import system_actor
from microtrial.services import admin, analysis, trial_fits
from microtrial.services.demo import build_demo
from microtrial.settings import Settings
from microtrial.store.db import Database
from microtrial.store.models import Base, CohortResultRow, TrialFitRow, TrialRow

# Copied in this order (parents first); each row's own id and its references are shifted.
TABLES = (
    "patients",
    "patient_conditions",
    "trials",
    "periods",
    "allocations",
    "kits",
    "diary_entries",
    "dose_events",
    "adverse_events",
    "blinding_guesses",
)
REFERENCES = {"patient_id": "patients", "trial_id": "trials", "period_id": "periods"}
BATCH = 20_000


def _rows(db: Database, table: Table, patients: set[int], trials: set[int]) -> list[dict[str, Any]]:
    """The source rows of ``table`` that belong to the copied patients or trials."""
    with db.transaction() as session:
        if table.name == "patients":
            where = table.c.id.in_(patients)
        elif "trial_id" in table.c:
            where = table.c.trial_id.in_(trials)
        else:
            where = table.c.patient_id.in_(patients)
        return [dict(r._mapping) for r in session.execute(select(table).where(where))]


def grow(db: Database, n_trials: int) -> int:
    """Copy the unblinded trials (with everything they read) until there are ``n_trials``.

    Whole copies of the source set: the result holds ``n_trials`` rounded up to a multiple of
    the demo's unblinded trials; returns how many there are.
    """
    with db.transaction() as session:
        sources = list(
            session.execute(
                select(TrialRow.id, TrialRow.patient_id).where(TrialRow.status == "unblinded")
            ).tuples()
        )
        strides = {
            name: int(
                session.execute(select(func.max(Base.metadata.tables[name].c.id))).scalar() or 0
            )
            + 1
            for name in TABLES
        }
    trials = {t for t, _ in sources}
    patients = {p for _, p in sources}
    copies = max(0, -(-(n_trials - len(sources)) // len(sources)))
    for name in TABLES:
        table = Base.metadata.tables[name]
        rows = _rows(db, table, patients, trials)
        out: list[dict[str, Any]] = []
        for k in range(1, copies + 1):
            for row in rows:
                new = dict(row, id=row["id"] + k * strides[name])
                for column, target in REFERENCES.items():
                    if column in new and new[column] is not None:
                        new[column] = new[column] + k * strides[target]
                if "record_id" in new:
                    new["record_id"] = f"{row['record_id'][:28]}-c{k}"
                if name == "patients":
                    new["study_code"] = f"{row['study_code']}-c{k}"
                if name == "kits":  # unique, at most 16 characters
                    new["code"] = f"BK{new['id']:014d}"
                out.append(new)
        with db.transaction() as session:
            for i in range(0, len(out), BATCH):
                session.execute(insert(table), out[i : i + BATCH])
    return len(sources) * (copies + 1)


def refresh_once(db: Database) -> trial_fits.RefreshReport:
    """Forget every stored fit and cohort view, then refresh them all."""
    with db.transaction() as session:
        session.execute(delete(TrialFitRow))
        session.execute(delete(CohortResultRow))
    return trial_fits.refresh_fits(db, system_actor("bench"))


def main() -> None:
    """Build, grow, then time the refresh and the cohort read."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None, help="Folder (default: a temp one).")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="cohort-refresh-"))
    started = time.perf_counter()
    build_demo(out, n_patients=24, seed=2026)
    db = Database.from_settings(Settings(database_url=f"sqlite:///{out / 'demo.db'}"))
    n = grow(db, args.trials)
    print(
        f"database: {out / 'demo.db'}, {n} unblinded trials, built in "
        f"{time.perf_counter() - started:.0f} s"
    )
    times = []
    for _ in range(args.repeats):
        report = refresh_once(db)
        assert report.stored == n, report
        times.append(report.seconds)
        print(
            f"  refresh: {report.stored} trials fitted and stored in {report.seconds:.2f} s "
            f"(read inputs {report.load_s:.2f} s, fit {report.fit_s:.2f} s, "
            f"write {report.write_s:.2f} s; {report.cohort_views} cohort views pooled and "
            f"stored {report.cohort_s:.2f} s)"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"full refresh of {n} trials: median {statistics.median(times):.2f} s "
        f"over {args.repeats} (peak RSS of the process {peak:.0f} MiB)"
    )
    researcher = admin.user_actor(db, "researcher.demo")
    reads = []
    for _ in range(5):
        t0 = time.perf_counter()
        cohort = analysis.cohort_analysis(db, researcher)
        reads.append(time.perf_counter() - t0)
    assert cohort.n_trials == n
    print(
        f"cohort read from the stored view ({n} trials, no pooling): median "
        f"{statistics.median(reads):.2f} s over 5"
    )
    db.dispose()


if __name__ == "__main__":
    main()
