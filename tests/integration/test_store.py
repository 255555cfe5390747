"""The database itself: durability settings, migrations on both engines, the audit chain."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from microtrial.settings import Settings
from microtrial.store import migrate
from microtrial.store.audit import verify_chain
from microtrial.store.db import Database, make_engine, sqlite_pragmas


def test_sqlite_is_opened_with_wal_full_sync_and_foreign_keys(tmp_path: Path) -> None:
    engine = make_engine(Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}"))
    pragmas = sqlite_pragmas(engine)
    engine.dispose()
    assert pragmas == {"journal_mode": "wal", "synchronous": 2, "foreign_keys": 1}


def test_sqlite_write_transactions_begin_immediate(tmp_path: Path) -> None:
    engine = make_engine(Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}"))
    statements: list[str] = []
    from sqlalchemy import event

    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    db = Database(engine)
    with db.transaction() as session:
        session.execute(text("select 1"))
    engine.dispose()
    assert "BEGIN IMMEDIATE" in statements


def test_upgrade_from_empty_then_check_passes(database_url: str) -> None:
    # database_url is already migrated; downgrade to empty and upgrade again, then check.
    engine = make_engine(Settings(database_url=database_url))
    from alembic import command

    command.downgrade(migrate.alembic_config(engine), "base")
    assert migrate.current_revision(engine) is None
    migrate.upgrade(engine)
    assert migrate.current_revision(engine) == migrate.head_revision()
    migrate.check(engine)
    engine.dispose()


def test_fresh_audit_chain_verifies(db: Database) -> None:
    with db.transaction() as session:
        assert verify_chain(session) == []
