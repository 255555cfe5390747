"""Engines and transactions: SQLite (WAL, FULL sync, BEGIN IMMEDIATE) or PostgreSQL."""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from microtrial.errors import ConflictError, ValidationError
from microtrial.settings import Settings
from microtrial.store import (
    data_stamps,  # noqa: F401  (registers the data stamps on flush)
    text_guard,  # noqa: F401  (registers the NUL guard on flush)
)
from microtrial.store.audit import AuditedSession
from microtrial.store.instruments import FolderInstruments, InstrumentSource

SUPPORTED_DRIVERS = ("sqlite", "postgresql+psycopg")
READ_ONLY = "microtrial_read_only"  # the execution option Database.read sets


def make_engine(settings: Settings) -> Engine:
    """Create an engine for the configured URL with MicroTrial's durability settings."""
    try:
        url = make_url(settings.database_url)
    except Exception as err:
        raise ValidationError(
            "database_url",
            f"not a database URL: {settings.database_url!r}",
            allowed="sqlite:///FILE, postgresql+psycopg://USER@HOST:PORT/DB",
        ) from err
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(settings, url.render_as_string(hide_password=False))
    if url.get_backend_name() == "postgresql":
        if url.get_driver_name() != "psycopg":
            url = url.set(drivername="postgresql+psycopg")
        return create_engine(
            url,
            pool_size=settings.pg_pool_size,
            max_overflow=settings.pg_pool_size,
            pool_pre_ping=True,
        )
    raise ValidationError(
        "database_url", f"unsupported database {url.drivername!r}", allowed=SUPPORTED_DRIVERS
    )


def _sqlite_engine(settings: Settings, url: str) -> Engine:
    engine = create_engine(url, connect_args={"timeout": settings.sqlite_busy_timeout_ms / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from pysqlite so that we can issue BEGIN IMMEDIATE
        # ourselves: writers then queue on the lock instead of failing mid-transaction.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(settings.sqlite_busy_timeout_ms)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A read (Database.read) begins deferred: a snapshot that takes no write lock.
        read_only = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


def sqlite_pragmas(engine: Engine) -> dict[str, Any]:
    """Read back the durability pragmas of a SQLite engine (for checks and tests)."""
    with engine.connect() as conn:
        return {
            name: conn.execute(text(f"PRAGMA {name}")).scalar()
            for name in ("journal_mode", "synchronous", "foreign_keys")
        }


class WriterQueue:
    """Lets one SQLite writer at a time on this machine begin, the others wait in the kernel.

    Every MicroTrial transaction writes (at least its audit event), so SQLite runs them one
    at a time whatever we do. Left to SQLite, the waiting writers poll: its busy handler sleeps
    1, 2, 5 ... 100 ms between tries, so the lock often lies idle while they sleep and the
    unlucky ones wait for seconds. An exclusive ``flock`` on a file beside the database, taken
    before ``BEGIN IMMEDIATE`` and dropped after the commit, wakes the next writer as soon as
    the lock is free, across threads and worker processes alike. It orders writers; it does
    not replace SQLite's own locking, which still guards every other program.
    """

    def __init__(self, database_path: str) -> None:
        self.path = f"{database_path}-writers.lock"
        self._local = threading.local()
        self._opened: list[int] = []
        self._guard = threading.Lock()

    @contextmanager
    def turn(self) -> Iterator[None]:
        """Hold this thread's turn to write (re-entrant within the thread)."""
        local = self._local
        fd: int | None = getattr(local, "fd", None)
        if fd is None:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            local.fd, local.depth = fd, 0
            with self._guard:
                self._opened.append(fd)
        if local.depth == 0:
            fcntl.flock(fd, fcntl.LOCK_EX)  # releases the GIL while it waits
        local.depth += 1
        try:
            yield
        finally:
            local.depth -= 1
            if local.depth == 0:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def close(self) -> None:
        """Close the lock files this process opened."""
        with self._guard:
            for fd in self._opened:
                os.close(fd)
            self._opened.clear()
        self._local = threading.local()


def sqlite_file(engine: Engine) -> str | None:
    """The database file of a SQLite engine (None for in-memory databases and PostgreSQL)."""
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return os.path.abspath(database)


class Database:
    """An engine plus a session factory; every unit of work is one transaction."""

    def __init__(self, engine: Engine, instruments: InstrumentSource | None = None) -> None:
        self.engine = engine
        # The user-imported instruments services may score (a port; a folder by default).
        # (the folder follows this engine's database, as Settings.instrument_path documents)
        own = Settings(database_url=engine.url.render_as_string(hide_password=False))
        self.instruments = instruments or FolderInstruments(own.instrument_path())
        self._sessions = sessionmaker(
            bind=engine, class_=AuditedSession, expire_on_commit=False, autoflush=True
        )
        path = sqlite_file(engine)
        self._writers = WriterQueue(path) if path else None

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        """Open the database named by the settings, with their instrument folder."""
        return cls(make_engine(settings), FolderInstruments(settings.instrument_path()))

    @property
    def is_sqlite(self) -> bool:
        """Whether the backend is SQLite."""
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """Yield a session inside one transaction: commit on success, roll back on any error."""
        with self._writers.turn() if self._writers else nullcontext():
            session = self._sessions()
            try:
                with session.begin():
                    yield session
            finally:
                session.close()

    @contextmanager
    def read(self) -> Iterator[Session]:
        """Yield a session inside one read-only transaction: a consistent snapshot, no lock.

        For reads that write nothing (not even an audit event) and must not keep writers
        waiting, e.g. loading the inputs of a batch fit. SQLite: a deferred ``BEGIN`` in WAL
        mode, which neither takes the writer queue nor blocks a writer; PostgreSQL:
        ``REPEATABLE READ, READ ONLY``, so every statement sees the same snapshot.
        """
        with self.engine.connect() as connection:
            connection.execution_options(**{READ_ONLY: True})
            with connection.begin():
                if not self.is_sqlite:
                    connection.exec_driver_sql(
                        "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"
                    )
                session = Session(bind=connection)
                try:
                    yield session
                finally:
                    session.close()

    def require_schema(self) -> None:
        """Raise ConflictError when the database has not been migrated to the current head."""
        from microtrial.store.migrate import current_revision, head_revision

        current = current_revision(self.engine)
        head = head_revision()
        if current != head:
            raise ConflictError(
                f"database schema is at {current or 'empty'}, expected {head}: "
                "run `microtrial db upgrade`"
            )

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
        if self._writers:
            self._writers.close()
