"""Crash durability, full version: SIGKILL the server mid-stream of 1,000 concurrent diary
submissions, restart it, retry every unacknowledged one with its Idempotency-Key; 20 times, on
SQLite and PostgreSQL. Every submission must be stored exactly once (and the audit chain verify).

Run: ``.venv/bin/python bench/durability.py [--submissions 1000] [--repeats 20]
[--concurrency 50] [--backends sqlite,postgresql] [--pg-url URL]``

The harness is ``tests/integration/test_durability.py`` (``make test`` runs it small: 2 x 100
submissions per database). Exit status 1 when any submission was lost, duplicated or refused.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy.exc import OperationalError

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))

from load import PASSWORD, add_pg_url_argument, drop_database, enrol, prepare_database  # noqa: E402

from integration.test_durability import Harness, crash_round  # noqa: E402


def run_backend(backend: str, args: argparse.Namespace, workdir: Path) -> bool:
    try:
        url, drop = prepare_database(backend, args.pg_url, workdir)
    except OperationalError as err:  # no PostgreSQL here: say so, as bench/load.py does
        print(f"{backend}: skipped (database not reachable: {str(err).splitlines()[0]})")
        return True
    try:
        users = dict(enrol(url, args.patients))
        harness = Harness(url, workdir, users, password=PASSWORD, workers=args.workers)
        harness.server.start()
        harness.login()
        rounds = []
        started = time.perf_counter()
        try:
            for i in range(args.repeats):
                result = crash_round(harness, args.submissions, concurrency=args.concurrency)
                rounds.append(result)
                print(
                    f"  {backend} round {i + 1:2d}: "
                    f"acked before kill {result.acked_before_kill:4d}, "
                    f"stored but unacknowledged {result.committed_unacked:3d}, "
                    f"retried {result.retried:4d}, problems {len(result.errors)}",
                    flush=True,
                )
                for problem in result.errors[:5]:
                    print(f"    {problem}")
        finally:
            harness.server.stop()
        problems = sum(len(r.errors) for r in rounds)
        print(
            f"{backend}: {len(rounds)} kills, {len(harness.sent)} submissions, "
            f"{sum(r.acked_before_kill for r in rounds)} acknowledged before the kill, "
            f"{sum(r.committed_unacked for r in rounds)} stored but unacknowledged (in doubt), "
            f"{sum(r.retried for r in rounds)} retried; stored exactly once: "
            f"{'all' if problems == 0 else f'NO ({problems} problems)'}; "
            f"median restart {statistics.median(r.kill_to_ready_s for r in rounds):.1f} s; "
            f"{time.perf_counter() - started:.0f} s",
            flush=True,
        )
        return problems == 0
    finally:
        if drop:
            drop_database(args.pg_url, drop)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--patients", type=int, default=50)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--backends", default="sqlite,postgresql")
    add_pg_url_argument(parser)
    args = parser.parse_args()
    ok = True
    for backend in args.backends.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            try:
                ok &= run_backend(backend, args, Path(tmp))
            except Exception as err:  # e.g. PostgreSQL not reachable
                print(f"{backend}: FAILED ({type(err).__name__}: {err})")
                ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
