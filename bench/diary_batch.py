"""Diary group commit in-process: the time to write one batch of N submissions, no HTTP.

Run: ``.venv/bin/python bench/diary_batch.py [--size 16] [--batches 100]
[--backends sqlite,postgresql] [--pg-url URL] [--in-trial]``

Each backend gets a fresh migrated database (PostgreSQL: a throw-away database on ``--pg-url``,
default ``$MICROTRIAL_TEST_PG_URL``) with N patients; every batch holds one new day's entry (with
an Idempotency-Key) for each of them, scored beforehand as the server does, and is written by
``records.write_diary_batch`` in one transaction. Prints the median time per batch and per
submission after 10 warm-up batches, and the statements per batch (the most seen).

``--in-trial`` puts every patient in a running trial (7-day run-in) that starts on the first
diary day, so the diary-history rules (pain flare, worsening) read a diary that grows by one day
per batch, up to 110 days: the cost of those rules at the end of a trial.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from load import add_pg_url_argument, drop_database, enrol, prepare_database


def put_in_trials(db: object, patient_ids: list[int], start: dt.date) -> None:
    """A running trial for each patient from ``start`` (rows written directly: a bench fixture)."""
    from microtrial.store.db import Database
    from microtrial.store.models import TrialRow

    assert isinstance(db, Database)
    design = {"run_in_days": 7, "pairs": 3, "period_days": 14, "wash_in_days": 3, "n_arms": 2}
    with db.transaction() as session:
        for pid in patient_ids:
            session.add(
                TrialRow(
                    patient_id=pid,
                    status="running",
                    start_date=start,
                    plan={"regimen": {}, "design": design, "pauses": []},
                    lock_version=1,
                    created_at=dt.datetime.now(dt.UTC),
                )
            )


def measure(
    backend: str, size: int, batches: int, pg_url: str, in_trial: bool = False
) -> tuple[float, int]:
    """Median seconds to write one batch of ``size`` submissions, and the most statements."""
    from sqlalchemy import event

    from microtrial.domain.actors import Actor, Role
    from microtrial.services.records import DiaryInput, DiarySubmission, write_diary_batch
    from microtrial.settings import Settings
    from microtrial.store.db import Database

    with tempfile.TemporaryDirectory() as tmp:
        url, drop = prepare_database(backend, pg_url, Path(tmp))
        users = enrol(url, size)
        db = Database.from_settings(Settings(database_url=url))
        actors = [Actor(Role.PATIENT, name, 1, 1, pid) for name, pid in users]
        if in_trial:
            put_in_trials(db, [pid for _, pid in users], dt.date(2010, 1, 1))
        statements: list[int] = [0]

        def count(*_: object) -> None:
            statements[-1] += 1

        event.listen(db.engine, "before_cursor_execute", count)
        most = 0
        times = []
        for day in range(10 + batches):
            date = dt.date(2010, 1, 1) + dt.timedelta(days=day)
            batch = [
                DiarySubmission.scored_now(
                    db,
                    actor,
                    actor.patient_id or 0,
                    [DiaryInput(date, {"average_pain": 3}, idempotency_key=str(uuid.uuid4()))],
                )
                for actor in actors
            ]
            statements[-1] = 0
            start = time.perf_counter()
            with db.transaction() as session:
                write_diary_batch(session, batch, dt.datetime.now(dt.UTC))
            times.append(time.perf_counter() - start)
            most = max(most, statements[-1])
            assert all(s.error is None for s in batch)
        db.dispose()
        if drop:
            drop_database(pg_url, drop)
    return statistics.median(times[10:]), most


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=16)
    parser.add_argument("--batches", type=int, default=100)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--in-trial", action="store_true", help="patients in running trials")
    add_pg_url_argument(parser)
    args = parser.parse_args()
    for backend in args.backends.split(","):
        median, most = measure(backend, args.size, args.batches, args.pg_url, args.in_trial)
        print(
            f"{backend}: batch of {args.size}: {median * 1000:.2f} ms median, "
            f"{median * 1000 / args.size:.2f} ms per submission, "
            f"at most {most} statements per batch"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
