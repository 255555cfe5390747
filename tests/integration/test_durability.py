"""Crash durability: SIGKILL the real server mid-stream, restart it, retry what was not
acknowledged with the same Idempotency-Key, and check every submission is stored exactly once.

The harness (``Harness``, ``crash_round``) is shared with ``bench/durability.py``, which runs the
full version (1,000 concurrent submissions, 20 repetitions, both databases).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, func, select, text
from typer.testing import CliRunner

from helpers import Clinic
from microtrial.cli.main import app as cli_app
from microtrial.errors import ConflictError
from microtrial.http.app import require_durable_sqlite
from microtrial.services.audit import verify_audit_log
from microtrial.settings import Settings
from microtrial.store.db import Database, make_engine
from microtrial.store.models import DiaryEntryRow, IdempotencyKeyRow

BIN = Path(sys.executable).parent / "microtrial"
PASSWORD = "correct horse battery"  # tests/helpers.py Clinic's password
SECRET = "durability-test-secret-" + "k" * 24  # fixed, so tokens outlive a restart
START_DATE = dt.date(2020, 1, 1)  # diary days count forward from here (all in the past)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Server:
    """``microtrial serve`` as a subprocess (its own session, so a SIGKILL takes every worker)."""

    def __init__(self, database_url: str, log: Path, workers: int = 1) -> None:
        self.database_url = database_url
        self.log = log
        self.workers = workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 60) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MICROTRIAL_")}
        env["MICROTRIAL_SECRET_KEY"] = SECRET
        command = [str(BIN), "serve", "--port", str(self.port)]
        command += ["--database-url", self.database_url, "--workers", str(self.workers)]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout_s
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"serve exited with {self.process.returncode}: {self.tail()}")
            try:
                if httpx.get(f"{self.url}/api/v1/openapi.json", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"serve did not start in {timeout_s} s: {self.tail()}")
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL the whole process group: no shutdown, no flush, no rollback."""
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""


@dataclass(frozen=True)
class Submission:
    patient_id: int
    username: str
    local_date: dt.date
    key: str
    pain: int

    @property
    def body(self) -> dict[str, object]:
        return {"local_date": self.local_date.isoformat(), "answers": {"average_pain": self.pain}}


@dataclass
class RoundResult:
    submissions: int
    acked_before_kill: int
    committed_unacked: int  # stored by the killed server, but the client never heard back
    retried: int
    errors: list[str] = field(default_factory=list)
    kill_to_ready_s: float = 0.0


class Harness:
    """Patients with tokens on one database, and the server that serves it."""

    def __init__(
        self,
        database_url: str,
        workdir: Path,
        usernames: dict[str, int],
        *,
        password: str = PASSWORD,
        workers: int = 1,
    ) -> None:
        self.database_url = database_url
        self.password = password
        self.server = Server(database_url, workdir / "serve.log", workers)
        self.usernames = usernames  # username -> patient id
        self.tokens: dict[str, str] = {}
        self.next_day: dict[int, int] = dict.fromkeys(usernames.values(), 0)
        self.sent: list[Submission] = []

    def login(self) -> None:
        for username in self.usernames:
            answer = httpx.post(
                f"{self.server.url}/api/v1/auth/token",
                data={"username": username, "password": self.password},
                timeout=30,
            )
            assert answer.status_code == 200, answer.text
            self.tokens[username] = answer.json()["access_token"]

    def plan(self, count: int) -> list[Submission]:
        """``count`` fresh submissions, round-robin over patients, one new day each."""
        users = list(self.usernames.items())
        planned = []
        for i in range(count):
            username, patient_id = users[i % len(users)]
            day = self.next_day[patient_id]
            self.next_day[patient_id] += 1
            planned.append(
                Submission(
                    patient_id=patient_id,
                    username=username,
                    local_date=START_DATE + dt.timedelta(days=day),
                    key=str(uuid.uuid4()),
                    pain=(day * 7 + patient_id) % 11,
                )
            )
        return planned

    def post(self, client: httpx.Client, item: Submission) -> httpx.Response:
        return client.post(
            f"{self.server.url}/api/v1/patients/{item.patient_id}/diary-entries",
            json=item.body,
            headers={
                "Authorization": f"Bearer {self.tokens[item.username]}",
                "Idempotency-Key": item.key,
            },
        )


@contextmanager
def clients(concurrency: int) -> Iterator[tuple[ThreadPoolExecutor, threading.local]]:
    local = threading.local()
    opened: list[httpx.Client] = []
    lock = threading.Lock()

    def init() -> None:
        local.client = httpx.Client(timeout=60, limits=httpx.Limits(max_connections=1))
        with lock:
            opened.append(local.client)

    try:
        with ThreadPoolExecutor(concurrency, initializer=init) as pool:
            yield pool, local
    finally:
        for client in opened:
            client.close()


def crash_round(
    harness: Harness, count: int, *, kill_fraction: float = 0.4, concurrency: int = 16
) -> RoundResult:
    """Send ``count`` submissions from ``concurrency`` clients, SIGKILL the server once
    ``kill_fraction`` of them are acknowledged, restart it, retry every unacknowledged one."""
    planned = harness.plan(count)
    harness.sent.extend(planned)
    acked: dict[str, dict[str, object]] = {}
    errors: list[str] = []
    lock = threading.Lock()
    enough = threading.Event()
    kill_after = max(1, int(count * kill_fraction))

    def send(item: Submission) -> None:
        try:
            answer = harness.post(local.client, item)
        except httpx.TransportError:
            return  # not acknowledged: retried after the restart
        with lock:
            if answer.status_code == 201:
                acked[item.key] = answer.json()
                if len(acked) >= kill_after:
                    enough.set()
            else:
                errors.append(f"{item.key}: {answer.status_code} {answer.text[:200]}")

    with clients(concurrency) as (pool, local):
        futures = [pool.submit(send, item) for item in planned]
        enough.wait(timeout=120)
        harness.server.kill()
        killed_at = time.monotonic()
        for future in futures:
            future.result()
    with lock:
        acked_before = dict(acked)
    unacked = [item for item in planned if item.key not in acked_before]
    committed = stored_keys(harness.database_url, [item.key for item in unacked])

    harness.server.start()
    ready = time.monotonic() - killed_at
    retried: dict[str, dict[str, object]] = {}

    def retry(item: Submission) -> None:
        answer = harness.post(local.client, item)
        with lock:
            if answer.status_code == 201:
                retried[item.key] = answer.json()
            else:
                errors.append(f"retry {item.key}: {answer.status_code} {answer.text[:200]}")

    with clients(concurrency) as (pool, local):
        for future in [pool.submit(retry, item) for item in unacked]:
            future.result()

    problems = check_exactly_once(harness, {**acked_before, **retried})
    return RoundResult(
        submissions=count,
        acked_before_kill=len(acked_before),
        committed_unacked=len(committed),
        retried=len(unacked),
        errors=errors + problems,
        kill_to_ready_s=ready,
    )


def stored_keys(database_url: str, keys: list[str]) -> set[str]:
    """Which of ``keys`` the database holds."""
    db = Database.from_settings(Settings(database_url=database_url))
    try:
        with db.transaction() as session:
            found: set[str] = set()
            for i in range(0, len(keys), 500):
                rows = session.execute(
                    select(IdempotencyKeyRow.key).where(
                        IdempotencyKeyRow.key.in_(keys[i : i + 500])
                    )
                )
                found.update(rows.scalars())
            return found
    finally:
        db.dispose()


def check_exactly_once(harness: Harness, replies: dict[str, dict[str, object]]) -> list[str]:
    """Every submission sent so far stored exactly once, as sent, with the answered id."""
    problems: list[str] = []
    db = Database.from_settings(Settings(database_url=harness.database_url))
    try:
        with db.transaction() as session:
            rows = session.execute(
                select(
                    DiaryEntryRow.id,
                    DiaryEntryRow.patient_id,
                    DiaryEntryRow.local_date,
                    DiaryEntryRow.answers,
                ).where(DiaryEntryRow.patient_id.in_(set(harness.usernames.values())))
            ).all()
            keys = dict(
                session.execute(
                    select(IdempotencyKeyRow.key, IdempotencyKeyRow.resource_id).where(
                        IdempotencyKeyRow.scope.like("diary:%")
                    )
                ).all()
            )
            key_count = session.execute(
                select(func.count(IdempotencyKeyRow.id)).where(
                    IdempotencyKeyRow.scope.like("diary:%")
                )
            ).scalar_one()
        by_day: dict[tuple[int, dt.date], list[tuple[int, object]]] = {}
        for row_id, patient_id, local_date, answers in rows:
            by_day.setdefault((patient_id, local_date), []).append((row_id, answers))
        if len(rows) != len(harness.sent):
            problems.append(f"{len(rows)} diary rows stored for {len(harness.sent)} submissions")
        if key_count != len(harness.sent):
            problems.append(f"{key_count} idempotency keys for {len(harness.sent)} submissions")
        for item in harness.sent:
            stored = by_day.get((item.patient_id, item.local_date), [])
            if len(stored) != 1:
                problems.append(f"{item.key}: stored {len(stored)} times")
                continue
            row_id, answers = stored[0]
            if answers != item.body["answers"]:
                problems.append(f"{item.key}: stored {answers}, sent {item.body['answers']}")
            if keys.get(item.key) != str(row_id):
                problems.append(f"{item.key}: key points at {keys.get(item.key)}, row {row_id}")
        sent = {item.key: item for item in harness.sent}
        for key, answer in replies.items():
            item = sent[key]
            (row_id, _), *_ = by_day[(item.patient_id, item.local_date)]
            if answer.get("id") != row_id:
                problems.append(f"{key}: answered id {answer.get('id')}, stored {row_id}")
        chain_problems, _ = verify_audit_log(db)
        problems += [f"audit chain: {p}" for p in chain_problems]
    finally:
        db.dispose()
    return problems


# -- make test: 200 submissions, 2 kill/restart repetitions, per database -------------------


def clinic_patients(clinic: Clinic) -> dict[str, int]:
    return {f"p_{code}": patient.id for code, patient in clinic.patients.items()}


@pytest.mark.slow
def test_sigkill_mid_stream_loses_and_duplicates_nothing(
    clinic: Clinic, database_url: str, tmp_path: Path
) -> None:
    harness = Harness(database_url, tmp_path, clinic_patients(clinic))
    harness.server.start()
    try:
        harness.login()
        for _ in range(2):
            result = crash_round(harness, 100, concurrency=8)
            assert result.errors == []
            # the kill really came mid-stream: some acknowledged, some left to retry
            assert 0 < result.acked_before_kill < result.submissions
            assert result.retried == result.submissions - result.acked_before_kill > 0
    finally:
        harness.server.stop()
    assert len(harness.sent) == 200


# -- the SQLite durability check `microtrial serve` runs before it starts ------------------


def test_our_sqlite_engine_passes_the_durability_check(tmp_path: Path) -> None:
    engine = make_engine(Settings(database_url=f"sqlite:///{tmp_path}/ok.db"))
    try:
        require_durable_sqlite(engine)  # WAL + FULL: no error
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("pragmas", "complaint"),
    [
        ((), "journal_mode=delete"),  # SQLite's defaults: rollback journal
        (("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL"), "synchronous=NORMAL"),
        (("PRAGMA journal_mode=MEMORY",), "journal_mode=memory"),
    ],
)
def test_an_engine_without_wal_and_full_sync_is_refused(
    tmp_path: Path, pragmas: tuple[str, ...], complaint: str
) -> None:
    from sqlalchemy import event

    engine = create_engine(f"sqlite:///{tmp_path}/plain.db")

    @event.listens_for(engine, "connect")
    def _set(dbapi_connection: object, _record: object) -> None:
        cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
        for pragma in pragmas:
            cursor.execute(pragma)
        cursor.close()

    try:
        with pytest.raises(ConflictError, match=complaint):
            require_durable_sqlite(engine)
    finally:
        engine.dispose()


def test_postgres_engines_are_not_checked(database_url: str) -> None:
    engine = make_engine(Settings(database_url=database_url))
    try:
        require_durable_sqlite(engine)  # SQLite: WAL/FULL; PostgreSQL: nothing to check
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar() == 1
    finally:
        engine.dispose()


def test_serve_refuses_a_sqlite_database_that_cannot_use_wal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # An in-memory database can never be in WAL mode: serve must say so and exit non-zero
    # before it listens (run in-process: the same command line, without a second interpreter).
    for name in [k for k in os.environ if k.startswith("MICROTRIAL_")]:
        monkeypatch.delenv(name)
    done = CliRunner().invoke(
        cli_app, ["serve", "--port", str(free_port()), "--database-url", "sqlite:///:memory:"]
    )
    output = " ".join(done.output.split())
    assert done.exit_code == 7, output  # ConflictError's exit code
    assert "journal_mode=WAL" in output
    assert "journal_mode=memory" in output
