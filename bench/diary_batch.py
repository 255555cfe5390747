"""Diary group commit in-process: the time to write one batch of N submissions, no HTTP.

Run: ``.venv/bin/python bench/diary_batch.py [--size 16] [--batches 100]
[--backends sqlite,postgresql] [--pg-url URL]``

Each backend gets a fresh migrated database (PostgreSQL: a throw-away database on ``--pg-url``,
default ``$MICROTRIAL_TEST_PG_URL``) with N patients; every batch holds one new day's entry (with
an Idempotency-Key) for each of them, scored beforehand as the server does, and is written by
``records.write_diary_batch`` in one transaction. Prints the median time per batch and per
submission after 10 warm-up batches.
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


def measure(backend: str, size: int, batches: int, pg_url: str) -> float:
    """Median seconds to write one batch of ``size`` submissions."""
    from microtrial.domain.actors import Actor, Role
    from microtrial.services.records import DiaryInput, DiarySubmission, write_diary_batch
    from microtrial.settings import Settings
    from microtrial.store.db import Database

    with tempfile.TemporaryDirectory() as tmp:
        url, drop = prepare_database(backend, pg_url, Path(tmp))
        users = enrol(url, size)
        db = Database.from_settings(Settings(database_url=url))
        actors = [Actor(Role.PATIENT, name, 1, 1, pid) for name, pid in users]
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
            start = time.perf_counter()
            with db.transaction() as session:
                write_diary_batch(session, batch, dt.datetime.now(dt.UTC))
            times.append(time.perf_counter() - start)
            assert all(s.error is None for s in batch)
        db.dispose()
        if drop:
            drop_database(pg_url, drop)
    return statistics.median(times[10:])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=16)
    parser.add_argument("--batches", type=int, default=100)
    parser.add_argument("--backends", default="sqlite,postgresql")
    add_pg_url_argument(parser)
    args = parser.parse_args()
    for backend in args.backends.split(","):
        median = measure(backend, args.size, args.batches, args.pg_url)
        print(
            f"{backend}: batch of {args.size}: {median * 1000:.2f} ms median, "
            f"{median * 1000 / args.size:.2f} ms per submission"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
