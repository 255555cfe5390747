"""Run every benchmark script in bench/ (each in its own interpreter) and show its output.

Run: ``.venv/bin/python bench/run_all.py``

``load.py`` (HTTP load against SQLite, PostgreSQL and a bare endpoint), ``diary_batch.py``
(group commit in-process) and ``durability.py`` (SIGKILL mid-stream, 1,000 submissions x 20,
on both databases; about 5 minutes on 2 cores) use
PostgreSQL at ``$MICROTRIAL_TEST_PG_URL`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``)
and skip it, saying so, when it is not reachable.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    failed = 0
    for script in sorted(HERE.glob("*.py")):
        if script.name in {"run_all.py", "__init__.py"}:
            continue
        print(f"== {script.name}", flush=True)
        start = time.perf_counter()
        code = subprocess.run([sys.executable, str(script)], check=False).returncode
        print(f"== {script.name}: exit {code}, {time.perf_counter() - start:.1f} s\n", flush=True)
        failed += code != 0
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
