"""Online backup and restore: SQLite's backup API, or pg_dump / pg_restore for PostgreSQL."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy import Engine, inspect
from sqlalchemy.engine import make_url

from microtrial.errors import ConflictError, ValidationError


def _libpq_url(engine: Engine) -> str:
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


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
        subprocess.run(
            [
                _tool("pg_dump"),
                "--format=custom",
                "--no-owner",
                f"--file={partial}",
                f"--dbname={_libpq_url(engine)}",
            ],
            check=True,
            capture_output=True,
        )
    partial.replace(target)  # the backup appears whole or not at all


def restore(engine: Engine, source: Path) -> None:
    """Restore a backup into ``engine``'s database, which must be empty."""
    if not source.is_file():
        raise ValidationError("file", f"no backup at {source}")
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
        subprocess.run(
            [
                _tool("pg_restore"),
                "--no-owner",
                "--exit-on-error",
                "--single-transaction",
                f"--dbname={_libpq_url(engine)}",
                str(source),
            ],
            check=True,
            capture_output=True,
        )


def describe(url: str) -> str:
    """A URL without its password, for messages."""
    return make_url(url).render_as_string(hide_password=True)
