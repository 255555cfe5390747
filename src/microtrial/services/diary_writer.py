"""Group commit for diary submissions: one writer thread per server process, one transaction
for whatever arrived while the previous one was being written.

When every patient sends their diary in the same evening hour, each submission costs a
transaction of its own: a connection check-out, ten statements, a commit and its fsync, and on
SQLite a turn at the single write lock. The writer takes every submission waiting in its queue,
writes them with ``records.write_diary_batch`` (a fixed number of statements per batch) and
commits once; only then does each caller get its answer, so an acknowledged entry is a
committed one. At low load a batch holds one submission and nothing waits longer than before.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Sequence
from concurrent.futures import Future

from sqlalchemy.exc import DBAPIError

from microtrial.domain.actors import Actor
from microtrial.services.adaptive import DAILY_DIARY
from microtrial.services.adaptive_looks import safe_looks_after_diary
from microtrial.services.common import Clock, system_clock
from microtrial.services.records import (
    DiaryEntryRead,
    DiaryInput,
    DiarySubmission,
    write_diary_batch,
    write_submission,
)
from microtrial.store.db import Database

log = logging.getLogger(__name__)

_STOP = object()


class DiaryWriter:
    """Queues diary submissions and writes them in batches on one thread."""

    def __init__(self, db: Database, *, clock: Clock = system_clock, max_batch: int = 64) -> None:
        self.db = db
        self.clock = clock
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[
            tuple[DiarySubmission, Future[list[DiaryEntryRead]]] | object
        ] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._stopped = False
        self.batches = 0
        self.submissions = 0
        self.largest_batch = 0

    async def record(
        self, actor: Actor, patient_id: int, entries: Sequence[DiaryInput]
    ) -> list[DiaryEntryRead]:
        """Record one request's entries with whatever else is waiting; replays land once."""
        # Role and scoring are checked here, before the entry joins a batch.
        submission = DiarySubmission.scored_now(self.db, actor, patient_id, entries)
        done: Future[list[DiaryEntryRead]] = Future()
        self._ensure_started()
        self._queue.put((submission, done))
        written = await asyncio.wrap_future(done)
        if any(entry.instrument_id == DAILY_DIARY for entry in entries):
            # A pair's last diary day may complete an adaptive trial's pair: look now (after
            # the commit, off the writer thread; the daily sweep looks again if this fails).
            await asyncio.to_thread(safe_looks_after_diary, self.db, patient_id, self.clock())
        return written

    def _ensure_started(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._start_lock:
            if self._stopped:
                raise RuntimeError("the diary writer has stopped")
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="microtrial-diary-writer", daemon=True
                )
                self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Write what is queued, then end the thread."""
        with self._start_lock:
            self._stopped = True
            thread = self._thread
        if thread is not None:
            self._queue.put(_STOP)
            thread.join(timeout)
        if self.batches:
            log.info(
                "diary writer: %d submissions in %d batches (mean %.1f, largest %d)",
                self.submissions,
                self.batches,
                self.submissions / self.batches,
                self.largest_batch,
            )

    def _run(self) -> None:
        stop = False
        while not stop:
            batch: list[tuple[DiarySubmission, Future[list[DiaryEntryRead]]]] = []
            item = self._queue.get()
            while True:
                if item is _STOP:
                    stop = True
                    break
                assert isinstance(item, tuple)
                # A caller that went away before its turn (cancelled) is not written; once
                # running, its future can no longer be cancelled under us.
                if item[1].set_running_or_notify_cancel():
                    batch.append(item)
                if len(batch) >= self.max_batch:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if batch:
                self._write(batch)

    def _write(self, batch: list[tuple[DiarySubmission, Future[list[DiaryEntryRead]]]]) -> None:
        submissions = [s for s, _ in batch]
        self.batches += 1
        self.submissions += len(batch)
        self.largest_batch = max(self.largest_batch, len(batch))
        try:
            with self.db.transaction() as session:
                write_diary_batch(session, submissions, self.clock())
        except DBAPIError:
            # The whole batch rolled back (e.g. it lost a race at a unique index to another
            # process). Write each submission on its own, which retries such a race once.
            log.info("diary batch of %d rolled back; writing one by one", len(batch))
            for submission, done in batch:
                self._write_alone(submission, done)
            return
        except Exception as err:  # nothing was committed: every caller hears why
            log.exception("diary batch of %d failed", len(batch))
            for _, done in batch:
                done.set_exception(err)
            return
        for submission, done in batch:
            if submission.error is not None:
                done.set_exception(submission.error)
            else:
                assert submission.result is not None
                done.set_result(submission.result)

    def _write_alone(self, submission: DiarySubmission, done: Future[list[DiaryEntryRead]]) -> None:
        try:
            result = write_submission(self.db, submission, self.clock())
        except Exception as err:
            done.set_exception(err)
        else:
            done.set_result(result)
