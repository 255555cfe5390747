"""SQLite writers take turns through a file lock: across threads and processes, re-entrant."""

from __future__ import annotations

import select
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from microtrial.settings import Settings
from microtrial.store.db import Database, WriterQueue, sqlite_file
from microtrial.store.migrate import upgrade


def test_a_second_thread_waits_for_the_first_writer(tmp_path: Path) -> None:
    queue = WriterQueue(str(tmp_path / "x.db"))
    order: list[str] = []
    first_in = threading.Event()

    def first() -> None:
        with queue.turn():
            first_in.set()
            time.sleep(0.2)
            order.append("first done")

    def second() -> None:
        first_in.wait()
        with queue.turn():
            order.append("second in")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert order == ["first done", "second in"]
    queue.close()


def test_turns_nest_within_one_thread(tmp_path: Path) -> None:
    queue = WriterQueue(str(tmp_path / "x.db"))
    with queue.turn(), queue.turn():
        pass
    with queue.turn():  # released after the outer turn: taking it again does not block
        pass
    queue.close()


def test_another_process_waits_for_the_turn(tmp_path: Path) -> None:
    path = str(tmp_path / "x.db")
    queue = WriterQueue(path)
    # The child says "ready" once imported and about to take the lock, so the check below
    # cannot pass (or fail) just because the child is still starting up.
    child = (
        "import sys, time; from microtrial.store.db import WriterQueue\n"
        "q = WriterQueue(sys.argv[1])\n"
        "print('ready', flush=True); t = time.monotonic()\n"
        "with q.turn(): print(time.monotonic() - t, flush=True)\n"
    )
    with queue.turn():
        process = subprocess.Popen(
            [sys.executable, "-c", child, path], stdout=subprocess.PIPE, text=True
        )
        assert process.stdout is not None
        readable, _, _ = select.select([process.stdout], [], [], 60.0)
        if not readable:
            process.kill()
            pytest.fail("the child did not get ready within 60 s")
        assert process.stdout.readline().strip() == "ready"
        time.sleep(0.5)
        assert process.poll() is None  # still waiting for our turn to end
    out, _ = process.communicate(timeout=30)
    assert float(out) >= 0.45  # it waited (from "ready") while we held the turn
    queue.close()


def test_a_sqlite_database_queues_its_writers(tmp_path: Path) -> None:
    db = Database.from_settings(Settings(database_url=f"sqlite:///{tmp_path / 'q.db'}"))
    upgrade(db.engine)
    assert sqlite_file(db.engine) == str(tmp_path / "q.db")
    with db.transaction():
        assert (tmp_path / "q.db-writers.lock").exists()
    db.dispose()
    memory = Database.from_settings(Settings(database_url="sqlite://"))
    assert sqlite_file(memory.engine) is None
    memory.dispose()
