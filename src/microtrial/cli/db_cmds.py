"""``microtrial db`` and ``microtrial audit``: schema migrations and the audit chain."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from microtrial.cli.common import (
    DatabaseUrlOpt,
    check_output,
    console,
    fail,
    handle_errors,
    load_settings,
    open_db,
)

db_app = typer.Typer(help="Create or migrate the database schema.", no_args_is_help=True)
audit_app = typer.Typer(help="Inspect the append-only audit log.", no_args_is_help=True)


@db_app.command("upgrade")
def upgrade(database_url: DatabaseUrlOpt = None, revision: str = "head") -> None:
    """Migrate the database to the newest schema (creates it if empty)."""
    from microtrial.store import migrate

    with open_db(database_url, migrated=False) as db, handle_errors():
        migrate.upgrade(db.engine, revision)
        console.print(f"database at revision {migrate.current_revision(db.engine)}")


@db_app.command("check")
def check(database_url: DatabaseUrlOpt = None) -> None:
    """Fail if the models and the migrated schema differ."""
    from microtrial.store import migrate

    with open_db(database_url) as db:
        try:
            migrate.check(db.engine)
        except Exception as err:  # alembic raises its own CommandError here
            fail(f"schema differs from the models: {err}", 1)
        console.print("schema matches the models")


@audit_app.command("verify")
def verify(database_url: DatabaseUrlOpt = None) -> None:
    """Recompute the audit hash chain; exit 1 naming any edited or deleted event."""
    from microtrial.services.audit import verify_audit_log

    with open_db(database_url) as db, handle_errors():
        problems, count = verify_audit_log(db)
    if problems:
        for p in problems:
            where = f"event {p.event_id}" if p.event_id is not None else "log"
            console.print(f"[red]{where}[/]: {p.problem}")
        raise typer.Exit(1)
    console.print(f"audit log intact: {count} events")


def backup_command(
    file: Annotated[Path, typer.Argument(help="Where to write the backup.")],
    database_url: DatabaseUrlOpt = None,
) -> None:
    """Back up the live database (SQLite backup API, or pg_dump for PostgreSQL)."""
    from microtrial.store.backup import backup

    check_output(file, "FILE")
    with open_db(database_url) as db, handle_errors():
        backup(db.engine, file)
    console.print(f"backup written to {file}")


def restore_command(
    file: Annotated[Path, typer.Argument(help="A backup made by `microtrial backup`.")],
    database_url: DatabaseUrlOpt = None,
) -> None:
    """Restore a backup into an empty database."""
    from sqlalchemy.engine import make_url

    from microtrial.store.backup import backup_format, restore

    with handle_errors():  # refuse a wrong file before the target database is touched
        kind = backup_format(file)
        settings = load_settings(database_url)
        try:
            target = make_url(settings.database_url).get_backend_name()
        except Exception:
            target = None  # a malformed URL: open_db names it
        if target is not None and target != kind:
            fail(f"{file}: a {kind} backup cannot be restored into a {target} database")
    with open_db(database_url, migrated=False) as db, handle_errors():
        restore(db.engine, file)
    console.print(f"restored {file}")


def register(app: typer.Typer) -> None:
    """Add the db and audit command groups and backup/restore."""
    app.add_typer(db_app, name="db")
    app.add_typer(audit_app, name="audit")
    app.command("backup")(backup_command)
    app.command("restore")(restore_command)
