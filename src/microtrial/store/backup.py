"""Online backup and restore: SQLite's backup API, or pg_dump / pg_restore for PostgreSQL."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy import Engine, inspect
from sqlalchemy.engine import URL, make_url

from microtrial.errors import ConflictError, ValidationError
from microtrial.files import PRIVATE_MODE

# How each kind of backup file begins: a SQLite database, or a pg_dump custom-format archive.
_MAGIC = {"sqlite": b"SQLite format 3\x00", "postgresql": b"PGDMP"}


def _libpq_url(engine: Engine) -> str:
    """The libpq URL without its password: the password travels in the environment instead."""
    u = engine.url  # ``URL.set(password=None)`` would keep the password: build a new URL
    url = URL.create("postgresql", u.username, None, u.host, u.port, u.database, u.query)
    return url.render_as_string(hide_password=False)


def _run_libpq(engine: Engine, args: list[str]) -> None:
    """Run a PostgreSQL client tool; the password never on its command line nor in an error.

    ``PGPASSWORD`` in the child's environment is readable only by the same user (as the
    command line of any process is not); a failure reports the tool's own message.
    """
    env = dict(os.environ)
    password = engine.url.password
    if password:
        env["PGPASSWORD"] = str(password)
    done = subprocess.run(args, check=False, capture_output=True, env=env)
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip()
        if password:
            message = message.replace(str(password), "***")
        raise ConflictError(f"{Path(args[0]).name} failed (exit {done.returncode}): {message}")


def _sqlite_path(engine: Engine) -> str:
    database = engine.url.database
    if not database or database == ":memory:":
        raise ValidationError(
            "database_url", "backup needs a file database", allowed="sqlite:///FILE"
        )
    return database


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ConflictError(f"{name}: not found on PATH (install the PostgreSQL client tools)")
    return path


def backup(engine: Engine, target: Path) -> None:
    """Write a consistent copy of the live database to ``target`` (readers and writers go on)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    # Created owner-only before anything writes to it (pg_dump and SQLite keep an existing mode).
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE))
    try:
        if engine.dialect.name == "sqlite":
            source = sqlite3.connect(_sqlite_path(engine))
            copy = sqlite3.connect(partial)
            try:
                with copy:
                    source.backup(copy)
            finally:
                copy.close()
                source.close()
        else:
            _run_libpq(
                engine,
                [
                    _tool("pg_dump"),
                    "--format=custom",
                    "--no-owner",
                    f"--file={partial}",
                    f"--dbname={_libpq_url(engine)}",
                ],
            )
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(target)  # the backup appears whole or not at all


def backup_format(source: Path) -> str:
    """``sqlite`` or ``postgresql``: which database ``source`` is a backup of, by its header."""
    if not source.is_file():
        raise ValidationError("file", f"no backup at {source}")
    try:
        with source.open("rb") as handle:
            head = handle.read(16)
    except OSError as err:
        raise ValidationError(str(source), f"cannot read: {err.strerror}") from err
    for kind, magic in _MAGIC.items():
        if head.startswith(magic):
            return kind
    raise ValidationError(
        str(source),
        "not a backup made by `microtrial backup` "
        "(neither a SQLite database nor a pg_dump archive)",
    )


def restore(engine: Engine, source: Path) -> None:
    """Restore a backup into ``engine``'s database, which must be empty."""
    kind = backup_format(source)
    if kind != engine.dialect.name:
        raise ValidationError(
            str(source), f"a {kind} backup cannot be restored into a {engine.dialect.name} database"
        )
    if inspect(engine).get_table_names():
        raise ConflictError("database: restore needs an empty database; this one has tables")
    if engine.dialect.name == "sqlite":
        engine.dispose()
        backup_db = sqlite3.connect(source)
        target = sqlite3.connect(_sqlite_path(engine))
        try:
            with target:
                backup_db.backup(target)
        finally:
            target.close()
            backup_db.close()
    else:
        engine.dispose()
        _run_libpq(
            engine,
            [
                _tool("pg_restore"),
                "--no-owner",
                "--exit-on-error",
                "--single-transaction",
                f"--dbname={_libpq_url(engine)}",
                str(source),
            ],
        )


def describe(url: str) -> str:
    """A URL without its password, for messages."""
    return make_url(url).render_as_string(hide_password=True)
