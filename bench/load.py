"""Load: authenticated diary submissions (with Idempotency-Key) from N concurrent clients.

Run: ``.venv/bin/python bench/load.py [--clients 32] [--seconds 10] [--workers 2]
[--backends bare,sqlite,postgresql] [--repeat 3] [--pg-url URL]``

Each backend gets its own ``microtrial serve --workers W`` subprocess on 127.0.0.1 over a fresh,
migrated database (PostgreSQL: a throw-away database on ``--pg-url``, default
``$MICROTRIAL_TEST_PG_URL``). ``bare`` is a FastAPI endpoint that does no work (``POST`` returning a
constant, a sync handler like the diary route), served by Uvicorn with the same settings
(workers, log level, no server header), measured in the same run for comparison. Every client is
one signed-in patient sending one day's diary after another on one keep-alive connection
(closed loop); after a warm-up, completed requests in ``--seconds`` give the throughput and the
latency percentiles. The load generator is a small asyncio HTTP/1.1 client so that it takes as
little of the machine's CPU as possible; it still shares the cores with the server.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI

BIN = Path(sys.executable).parent
SECRET = "load-benchmark-secret-" + "s" * 24
PASSWORD = "load benchmark password"
START_DATE = dt.date(2010, 1, 1)


def bare_app() -> FastAPI:
    """The baseline: a FastAPI endpoint that does no work."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.post("/api/v1/patients/{patient_id}/diary-entries", status_code=201)
    def bare(patient_id: int) -> dict[str, object]:
        return {"ok": True, "patient_id": patient_id}

    return app


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# -- databases -------------------------------------------------------------------------------


def prepare_database(backend: str, pg_url: str, workdir: Path) -> tuple[str, str | None]:
    """A fresh migrated database: (its URL, the PostgreSQL database to drop afterwards)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from microtrial.settings import Settings
    from microtrial.store import migrate
    from microtrial.store.db import make_engine

    if backend == "sqlite":
        url, drop = f"sqlite:///{workdir / f'load-{uuid.uuid4().hex[:8]}.db'}", None
    else:
        admin_url = make_url(pg_url)
        drop = f"microtrial_load_{uuid.uuid4().hex[:8]}"
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{drop}"'))
        admin.dispose()
        url = admin_url.set(database=drop).render_as_string(hide_password=False)
    engine = make_engine(Settings(database_url=url))
    migrate.upgrade(engine)
    engine.dispose()
    return url, drop


def add_pg_url_argument(parser: argparse.ArgumentParser) -> None:
    """--pg-url: the PostgreSQL server for throw-away databases ($MICROTRIAL_TEST_PG_URL)."""
    parser.add_argument(
        "--pg-url",
        default=os.environ.get(
            "MICROTRIAL_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
    )


def drop_database(pg_url: str, name: str) -> None:
    from sqlalchemy import create_engine, text

    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def enrol(url: str, n: int) -> list[tuple[str, int]]:
    """``n`` patients at one site, each with a patient login: [(username, patient id)]."""
    from microtrial.domain.actors import system_actor
    from microtrial.services import admin, patients
    from microtrial.settings import Settings
    from microtrial.store.db import Database

    db = Database.from_settings(Settings(database_url=url))
    system = system_actor("bench")
    admin.add_site(db, system, "LOAD", "Load site")
    users = []
    for i in range(n):
        code = f"L-{i:04d}"
        patient = patients.enrol_patient(
            db,
            system,
            site_code="LOAD",
            study_code=code,
            birth_year=1980,
            sex="female",
            time_zone="UTC",
            conditions=["G43.909"],
        )
        username = f"p_{code}"
        admin.add_user(
            db,
            system,
            site_code="LOAD",
            role="patient",
            username=username,
            password=PASSWORD,
            patient_code=code,
        )
        users.append((username, patient.id))
    db.dispose()
    return users


# -- servers ---------------------------------------------------------------------------------


def start_server(
    backend: str, url: str | None, workers: int, log: Path, pool_size: int | None = None
) -> subprocess.Popen[bytes]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MICROTRIAL_")}
    env["MICROTRIAL_SECRET_KEY"] = SECRET
    if pool_size:
        env["MICROTRIAL_PG_POOL_SIZE"] = str(pool_size)
    if backend == "bare":
        command = [str(BIN / "uvicorn"), "load:bare_app", "--factory", "--app-dir"]
        command += [str(Path(__file__).parent), "--host", "127.0.0.1", "--port", str(port)]
        command += ["--workers", str(workers), "--no-server-header", "--log-level", "info"]
    else:
        assert url is not None
        command = [str(BIN / "microtrial"), "serve", "--port", str(port), "--database-url", url]
        command += ["--workers", str(workers)]
    with log.open("ab") as out:
        process = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    process.port = port  # type: ignore[attr-defined]
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{backend} server exited: {log.read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{backend} server did not start") from None
            time.sleep(0.1)
    time.sleep(1.0 if workers > 1 else 0.2)  # let every worker finish its startup
    return process


def stop_server(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


# -- a minimal keep-alive HTTP/1.1 client ----------------------------------------------------


class Connection:
    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, bytes]:
        assert self.reader is not None
        assert self.writer is not None
        head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.writer.write(head.encode() + b"\r\n" + body)
        status_line = await self.reader.readuntil(b"\r\n")
        status = int(status_line.split(b" ", 2)[1])
        length = 0
        while True:
            line = await self.reader.readuntil(b"\r\n")
            if line == b"\r\n":
                break
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


@dataclass
class Measured:
    backend: str
    completed: int
    seconds: float
    latencies_ms: list[float]
    errors: int

    @property
    def throughput(self) -> float:
        return self.completed / self.seconds

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


@dataclass
class Row:
    """One backend's line in the table: medians over its runs."""

    throughput: float
    p50: float
    p95: float
    p99: float
    errors: int


def median_run(ms: list[Measured]) -> Row:
    """Median throughput and median percentiles of several runs of one backend."""
    return Row(
        throughput=statistics.median(m.throughput for m in ms),
        p50=statistics.median(m.pct(50) for m in ms),
        p95=statistics.median(m.pct(95) for m in ms),
        p99=statistics.median(m.pct(99) for m in ms),
        errors=sum(m.errors for m in ms),
    )


async def login(port: int, username: str) -> str:
    conn = Connection(port)
    await conn.open()
    body = f"username={username}&password={PASSWORD.replace(' ', '+')}".encode()
    status, answer = await conn.request(
        "POST",
        "/api/v1/auth/token",
        {"Content-Type": "application/x-www-form-urlencoded"},
        body,
    )
    conn.close()
    assert status == 200, answer
    token: str = json.loads(answer)["access_token"]
    return token


async def drive(
    backend: str,
    port: int,
    users: list[tuple[str, int]],
    warmup: float,
    seconds: float,
    stagger: float = 0.0,
) -> Measured:
    tokens = {}
    if backend != "bare":
        for username, _ in users:  # sequentially: each is one argon2 check on the server
            tokens[username] = await login(port, username)
    latencies: list[float] = []
    errors = 0
    completed = 0
    t0 = time.perf_counter()
    start, stop = t0 + warmup, t0 + warmup + seconds

    async def client(index: int, username: str, patient_id: int) -> None:
        nonlocal errors, completed
        # Phones do not all connect in the same millisecond. Opened at once, the connections
        # all landed on whichever worker's accept loop woke first (it takes a burst of them),
        # leaving the other worker almost idle, for this app and the bare endpoint alike.
        await asyncio.sleep(index * stagger)
        conn = Connection(port)
        await conn.open()
        headers = {"Content-Type": "application/json"}
        if backend != "bare":
            headers["Authorization"] = f"Bearer {tokens[username]}"
        day = 0
        path = f"/api/v1/patients/{patient_id}/diary-entries"
        while (now := time.perf_counter()) < stop:
            body = json.dumps(
                {
                    "local_date": (START_DATE + dt.timedelta(days=day)).isoformat(),
                    "answers": {"average_pain": day % 11, "worst_pain": (day + 3) % 11},
                }
            ).encode()
            day += 1
            headers["Idempotency-Key"] = str(uuid.uuid4())
            status, _ = await conn.request("POST", path, headers, body)
            done = time.perf_counter()
            if now >= start and done <= stop:
                if status == 201:
                    completed += 1
                    latencies.append((done - now) * 1000)
                else:
                    errors += 1
        conn.close()

    await asyncio.gather(*(client(i, u, p) for i, (u, p) in enumerate(users)))
    return Measured(backend, completed, seconds, latencies, errors)


def run_backend(backend: str, args: argparse.Namespace, workdir: Path) -> Measured:
    url, drop = (None, None)
    if backend != "bare":
        url, drop = prepare_database(backend, args.pg_url, workdir)
        users = enrol(url, args.clients)
    else:
        users = [(f"bare{i}", i + 1) for i in range(args.clients)]
    process = start_server(
        backend, url, args.workers, workdir / f"{backend}.log", args.pg_pool_size
    )
    try:
        port: int = process.port  # type: ignore[attr-defined]
        return asyncio.run(
            drive(backend, port, users, args.warmup, args.seconds, args.stagger_ms / 1000)
        )
    finally:
        stop_server(process)
        if drop:
            drop_database(args.pg_url, drop)
        log = (workdir / f"{backend}.log").read_text(errors="replace").splitlines()
        for line in log[-200:]:  # each worker's group-commit summary, written at shutdown
            if "diary writer:" in line:
                print(f"  {backend} {line.split('diary writer:', 1)[1].strip()}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--pg-pool-size",
        type=int,
        default=None,
        help="MICROTRIAL_PG_POOL_SIZE for the server (default: the setting's default)",
    )
    parser.add_argument("--backends", default="bare,sqlite,postgresql")
    parser.add_argument(
        "--stagger-ms",
        type=float,
        default=0.0,
        help="open the clients' connections this far apart (0: all at once)",
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs per backend, interleaved; medians reported"
    )
    add_pg_url_argument(parser)
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover
        pass
    print(
        f"load: {args.clients} clients, {args.workers} worker(s), {args.warmup:g} s warm-up + "
        f"{args.seconds:g} s, {os.cpu_count()} CPU(s) shared by clients and server"
    )
    runs: dict[str, list[Measured]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeat):  # interleaved, so that drift in the machine hits all alike
            for backend in args.backends.split(","):
                try:
                    runs.setdefault(backend, []).append(run_backend(backend, args, Path(tmp)))
                except Exception as err:  # e.g. PostgreSQL not reachable
                    print(f"{backend}: skipped ({type(err).__name__}: {err})")
    results = {name: median_run(ms) for name, ms in runs.items() if ms}
    bare = results.get("bare")
    if args.repeat > 1:
        print(f"medians of {args.repeat} interleaved runs per backend")
        for name, ms in runs.items():
            print(
                f"  {name}: "
                + ", ".join(f"{m.throughput:.0f}/s p99 {m.pct(99):.0f} ms" for m in ms)
            )
    print("| backend | requests/s | p50 ms | p95 ms | p99 ms | vs bare | errors |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, row in results.items():
        ratio = f"{row.throughput / bare.throughput:.2f}" if bare and bare.throughput else "-"
        print(
            f"| {name} | {row.throughput:.0f} | {row.p50:.1f} | {row.p95:.1f} | "
            f"{row.p99:.1f} | {ratio} | {row.errors} |"
        )
    return 1 if any(row.errors for row in results.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
