"""The database itself: durability settings, migrations on both engines, the audit chain."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect, text

from microtrial.domain.actors import system_actor
from microtrial.services import admin
from microtrial.settings import Settings
from microtrial.store import migrate
from microtrial.store.audit import GENESIS, event_hash, verify_chain
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
    command.downgrade(migrate.alembic_config(engine), "base")
    assert migrate.current_revision(engine) is None
    migrate.upgrade(engine)
    assert migrate.current_revision(engine) == migrate.head_revision()
    migrate.check(engine)
    engine.dispose()


def test_fresh_audit_chain_verifies(db: Database) -> None:
    with db.transaction() as session:
        assert verify_chain(session) == []


def test_a_single_chain_from_before_0004_becomes_the_global_stream(database_url: str) -> None:
    """Events chained under revision 0003 still verify after the upgrade; new ones per site."""
    engine = make_engine(Settings(database_url=database_url))
    command.downgrade(migrate.alembic_config(engine), "0003")
    prev = GENESIS
    with engine.begin() as conn:
        for i in range(3):
            fields = {
                "at": dt.datetime(2026, 1, 1, 9, i, tzinfo=dt.UTC).isoformat(),
                "actor": "system:old",
                "actor_user_id": None,
                "actor_role": "system",
                "site_id": None,
                "patient_id": None,
                "action": "create",
                "entity": "site",
                "entity_id": str(i),
                "detail": {},
            }
            digest = event_hash(prev, fields)
            conn.execute(
                text(
                    "INSERT INTO audit_events (at, actor, actor_user_id, actor_role, site_id, "
                    "patient_id, action, entity, entity_id, detail, prev_hash, hash) VALUES "
                    "(:at, :actor, NULL, :actor_role, NULL, NULL, :action, :entity, :entity_id, "
                    "'{}', :prev, :hash)"
                ),
                {
                    **fields,
                    "at": dt.datetime(2026, 1, 1, 9, i, tzinfo=dt.UTC),
                    "prev": prev,
                    "hash": digest,
                },
            )
            prev = digest
        conn.execute(text("UPDATE audit_head SET last_hash = :h, count = 3"), {"h": prev})
    migrate.upgrade(engine)
    db = Database(engine)
    admin.add_site(db, system_actor("test"), "NEW", "New site")
    with db.transaction() as session:
        assert verify_chain(session) == []
        streams = dict(session.execute(text("SELECT stream, count FROM audit_streams")).all())
    assert streams == {"global": 3, "site:1": 1}
    # Back to a single chain is refused once per-site or per-patient chains exist.
    with pytest.raises(RuntimeError, match="per-patient or per-site"):
        command.downgrade(migrate.alembic_config(engine), "0003")
    engine.dispose()


def test_timestamps_read_back_as_aware_utc_and_naive_ones_are_refused(database_url: str) -> None:
    from sqlalchemy import Column, DateTime, Integer, MetaData, Table, insert, select
    from sqlalchemy.exc import StatementError

    from microtrial.store.models import Base
    from microtrial.store.types import UTCDateTime

    table = Table(
        "utc_probe",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("at", UTCDateTime()),
    )
    engine = make_engine(Settings(database_url=database_url))
    plus_two = dt.timezone(dt.timedelta(hours=2))
    try:
        table.create(engine)
        with engine.begin() as conn:
            conn.execute(
                insert(table), [{"id": 1, "at": dt.datetime(2026, 3, 1, 12, tzinfo=plus_two)}]
            )
            back = conn.execute(select(table.c.at)).scalar_one()
            assert back == dt.datetime(2026, 3, 1, 10, tzinfo=dt.UTC)
            assert back.utcoffset() == dt.timedelta(0)
        with pytest.raises(StatementError, match="timezone-aware"), engine.begin() as conn:
            conn.execute(insert(table), [{"id": 2, "at": dt.datetime(2026, 3, 1, 12)}])
    finally:
        table.drop(engine, checkfirst=True)
        engine.dispose()
    # Every timestamp column of the models uses it; the database type stays DateTime(tz).
    stamps = [
        c
        for t in Base.metadata.tables.values()
        for c in t.columns
        if isinstance(c.type, (DateTime, UTCDateTime))
    ]
    assert len(stamps) > 10
    assert all(isinstance(c.type, UTCDateTime) for c in stamps)
    assert isinstance(UTCDateTime().impl, DateTime)


def test_0007_sweep_runs_downgrades_and_upgrades_again(database_url: str) -> None:
    """Revision 0007 (sweep_runs, alerts.escalated_at, sites.escalate_after_hours) both ways."""
    engine = make_engine(Settings(database_url=database_url))
    command.downgrade(migrate.alembic_config(engine), "0006")
    names = inspect(engine)
    assert "sweep_runs" not in names.get_table_names()
    assert "escalated_at" not in {c["name"] for c in names.get_columns("alerts")}
    assert "escalate_after_hours" not in {c["name"] for c in names.get_columns("sites")}
    migrate.upgrade(engine)
    names = inspect(engine)
    assert "sweep_runs" in names.get_table_names()
    assert "escalated_at" in {c["name"] for c in names.get_columns("alerts")}
    assert "escalate_after_hours" in {c["name"] for c in names.get_columns("sites")}
    migrate.check(engine)
    engine.dispose()


def test_0008_adverse_event_review_downgrades_and_upgrades_again(database_url: str) -> None:
    """Revision 0008 (adverse_events.source, status, outcome, symptom) both ways."""
    engine = make_engine(Settings(database_url=database_url))
    added = {"source", "status", "outcome", "symptom"}
    command.downgrade(migrate.alembic_config(engine), "0007")
    assert not added & {c["name"] for c in inspect(engine).get_columns("adverse_events")}
    migrate.upgrade(engine)
    assert added <= {c["name"] for c in inspect(engine).get_columns("adverse_events")}
    migrate.check(engine)
    engine.dispose()


def test_0009_dose_deviation_and_crisis_contacts_both_ways(database_url: str) -> None:
    """Revision 0009 (dose_events.deviation, sites.crisis_contacts) both ways."""
    engine = make_engine(Settings(database_url=database_url))
    command.downgrade(migrate.alembic_config(engine), "0008")
    names = inspect(engine)
    assert "deviation" not in {c["name"] for c in names.get_columns("dose_events")}
    assert "crisis_contacts" not in {c["name"] for c in names.get_columns("sites")}
    migrate.upgrade(engine)
    names = inspect(engine)
    assert "deviation" in {c["name"] for c in names.get_columns("dose_events")}
    assert "crisis_contacts" in {c["name"] for c in names.get_columns("sites")}
    migrate.check(engine)
    engine.dispose()


def test_0011_kit_records_and_medication_end_both_ways(database_url: str) -> None:
    """Revision 0011 (kit preparation and dispensing records, medications.end_date) both ways."""
    engine = make_engine(Settings(database_url=database_url))
    command.downgrade(migrate.alembic_config(engine), "0010")
    names = inspect(engine)
    assert "note" in {c["name"] for c in names.get_columns("diary_entries")}  # 0010 kept
    assert "dispensed_at" not in {c["name"] for c in names.get_columns("kits")}
    assert "end_date" not in {c["name"] for c in names.get_columns("medications")}
    migrate.upgrade(engine)
    names = inspect(engine)
    added = {
        "prepared_by",
        "prepared_capsules",
        "dispensed_at",
        "dispensed_by",
        "dispensed_capsules",
    }
    assert added | {"dispensed_by_user_id"} <= {c["name"] for c in names.get_columns("kits")}
    assert "end_date" in {c["name"] for c in names.get_columns("medications")}
    migrate.check(engine)
    engine.dispose()


def test_0012_session_versions_and_username_keys_both_ways(database_url: str) -> None:
    """Revision 0012 (users.session_version, users.username_key unique) both ways."""
    engine = make_engine(Settings(database_url=database_url))
    command.downgrade(migrate.alembic_config(engine), "0011")
    added = {"session_version", "username_key"}
    assert not added & {c["name"] for c in inspect(engine).get_columns("users")}
    migrate.upgrade(engine)
    assert added <= {c["name"] for c in inspect(engine).get_columns("users")}
    uniques = inspect(engine).get_unique_constraints("users")
    assert any(u["column_names"] == ["username_key"] for u in uniques)
    migrate.check(engine)
    engine.dispose()


def test_0014_trial_fits_both_ways(database_url: str) -> None:
    """Revision 0014 (trial_fits, one stored fit per trial) both ways."""
    engine = make_engine(Settings(database_url=database_url))
    command.downgrade(migrate.alembic_config(engine), "0013")
    assert "trial_fits" not in inspect(engine).get_table_names()
    migrate.upgrade(engine)
    assert "trial_fits" in inspect(engine).get_table_names()
    uniques = inspect(engine).get_unique_constraints("trial_fits")
    assert any(u["column_names"] == ["trial_id"] for u in uniques)
    migrate.check(engine)
    engine.dispose()


def test_0016_adaptive_looks_both_ways(database_url: str) -> None:
    """Revision 0016 (interim_looks, kits.returned_at / returned_by) both ways."""
    engine = make_engine(Settings(database_url=database_url))
    command.downgrade(migrate.alembic_config(engine), "0015")
    names = inspect(engine)
    assert "interim_looks" not in names.get_table_names()
    assert "returned_at" not in {c["name"] for c in names.get_columns("kits")}
    migrate.upgrade(engine)
    names = inspect(engine)
    assert "interim_looks" in names.get_table_names()
    assert {"returned_at", "returned_by"} <= {c["name"] for c in names.get_columns("kits")}
    assert "kits_through_pair" in {c["name"] for c in names.get_columns("trials")}
    migrate.check(engine)
    engine.dispose()


def test_0017_reminder_settings_both_ways(database_url: str) -> None:
    """Revision 0017 (reminder_settings: the feed token only as its hash) both ways."""
    engine = make_engine(Settings(database_url=database_url))
    command.downgrade(migrate.alembic_config(engine), "0016")
    assert "reminder_settings" not in inspect(engine).get_table_names()
    migrate.upgrade(engine)
    names = inspect(engine)
    assert "reminder_settings" in names.get_table_names()
    columns = {c["name"] for c in names.get_columns("reminder_settings")}
    assert {"diary_time", "dose_time", "channel", "paused", "feed_token_hash"} <= columns
    assert not any("token" in c and "hash" not in c for c in columns)
    migrate.check(engine)
    engine.dispose()


def test_0018_user_language_both_ways(database_url: str) -> None:
    """Revision 0018 (users.language, nullable) both ways; existing users keep no choice."""
    engine = make_engine(Settings(database_url=database_url))
    command.downgrade(migrate.alembic_config(engine), "0017")
    assert "language" not in {c["name"] for c in inspect(engine).get_columns("users")}
    migrate.upgrade(engine)
    columns = {c["name"]: c for c in inspect(engine).get_columns("users")}
    assert columns["language"]["nullable"]
    migrate.check(engine)
    engine.dispose()


def test_0019_cohort_results_both_ways(database_url: str) -> None:
    """Revision 0019 (cohort_results) both ways."""
    engine = make_engine(Settings(database_url=database_url))
    command.downgrade(migrate.alembic_config(engine), "0018")
    assert "cohort_results" not in inspect(engine).get_table_names()
    migrate.upgrade(engine)
    names = inspect(engine)
    assert "cohort_results" in names.get_table_names()
    assert {"site_id", "condition_group", "computed_at", "fits_version", "payload"} <= {
        c["name"] for c in names.get_columns("cohort_results")
    }
    migrate.check(engine)
    engine.dispose()


def test_0020_data_stamps_both_ways(database_url: str) -> None:
    """Revision 0020 (trials.data_stamp, cohort_results.checked) both ways."""
    engine = make_engine(Settings(database_url=database_url))
    command.downgrade(migrate.alembic_config(engine), "0019")
    assert "data_stamp" not in {c["name"] for c in inspect(engine).get_columns("trials")}
    assert "checked" not in {c["name"] for c in inspect(engine).get_columns("cohort_results")}
    migrate.upgrade(engine)
    trials = {c["name"]: c for c in inspect(engine).get_columns("trials")}
    assert not trials["data_stamp"]["nullable"]
    assert {c["name"]: c for c in inspect(engine).get_columns("cohort_results")}["checked"][
        "nullable"
    ]
    migrate.check(engine)
    engine.dispose()
