"""The researcher's cohort page on a built database: first load, p50, p95 (docs/PERFORMANCE.md).

Run: ``PYTHONPATH=src:bench .venv/bin/python bench/research_read.py DATABASE_URL [--requests N]``
on a demo built by ``microtrial demo --patients N`` (its stored fits and cohort views in
place). Starts one server worker (``load.start_server``), signs in as ``researcher.demo``,
times the first ``GET /research`` (the stored view parsed by this process) and then
``--requests`` more (default 15: the cohort's rate limit answers 429 after 20 a minute).
"""

from __future__ import annotations

import argparse
import tempfile
import uuid
from pathlib import Path

from load import start_server, stop_server
from scale import pct, sign_in, timed_get

from microtrial.domain.actors import system_actor
from microtrial.services import trial_fits
from microtrial.settings import Settings
from microtrial.store.db import Database


def main() -> int:
    """Time the page and print one line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("database_url")
    parser.add_argument("--requests", type=int, default=15)
    args = parser.parse_args()
    db = Database.from_settings(Settings(database_url=args.database_url))
    trial_fits.refresh_fits(db, system_actor("bench"))  # views and their checks up to date
    db.dispose()
    backend = "sqlite" if args.database_url.startswith("sqlite") else "postgresql"
    log = Path(tempfile.gettempdir()) / f"research-{uuid.uuid4().hex[:8]}.log"
    server = start_server(backend, args.database_url, 1, log)
    try:
        client, _ = sign_in(f"http://127.0.0.1:{server.port}", "researcher.demo")  # type: ignore[attr-defined]
        status, first = timed_get(client, "/research", None)
        answers = [timed_get(client, "/research", None) for _ in range(args.requests)]
        client.close()
    finally:
        stop_server(server)
    assert status == 200, status
    assert all(s == 200 for s, _ in answers), [s for s, _ in answers]
    times = [ms for _, ms in answers]
    print(
        f"GET /research: first {first:.0f} ms; p50 {pct(times, 50):.0f} ms, "
        f"p95 {pct(times, 95):.0f} ms over {len(times)} requests"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
