"""Integrity guarantees: locked allocations, audit-or-nothing writes, backup and restore."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, delete, inspect, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from helpers import Clinic, FixedClock, audit_count
from microtrial.cli.main import app
from microtrial.domain.design import DesignSpec
from microtrial.services import (
    patients,
    screening,
    trial_allocation,
    trial_lifecycle,
    trial_planning,
)
from microtrial.services.trial_planning import RegimenChoice
from microtrial.settings import Settings
from microtrial.store.db import Database
from microtrial.store.models import AllocationRow, AuditStreamRow, Base, MedicationRow

REGIMEN = RegimenChoice("fadiman", "psilocybin", 100, "mg dried material")


def started_trial(clinic: Clinic, clock: FixedClock) -> int:
    doc = clinic.actors["clinician_sitea"]
    pid = clinic.patients["A-001"].id
    for flag in screening.history_flag_ids():
        patients.set_history_flag(clinic.db, doc, pid, flag, False, clock=clock)
    screening.screen_patient(clinic.db, doc, pid, "psilocybin", clock=clock)
    trial = trial_planning.plan_trial(
        clinic.db, doc, pid, REGIMEN, DesignSpec(), start_date=clock().date(), clock=clock
    )
    for step in ("schedule", "start"):
        trial_lifecycle.transition(clinic.db, doc, trial.id, step, clock=clock)
    return trial.id


def test_a_started_trials_allocation_cannot_be_changed_only_annotated(
    clinic: Clinic, clock: FixedClock
) -> None:
    trial_id = started_trial(clinic, clock)
    for statement in (
        update(AllocationRow).where(AllocationRow.trial_id == trial_id).values(seed=1),
        delete(AllocationRow).where(AllocationRow.trial_id == trial_id),
    ):
        with pytest.raises(DBAPIError, match="locked"), clinic.db.transaction() as session:
            session.execute(statement)
    pharmacist = clinic.actors["unblinded_staff_sitea"]
    note_id = trial_allocation.annotate_allocation(
        clinic.db, pharmacist, trial_id, "kit 3 relabelled after spill", clock=clock
    )
    assert note_id > 0
    with clinic.db.transaction() as session:
        assert session.execute(select(AllocationRow.trial_id)).scalars().all() == [trial_id]


AUDIT_DOWN = {
    "sqlite": [
        "CREATE TRIGGER audit_down BEFORE INSERT ON audit_events "
        "BEGIN SELECT RAISE(ABORT, 'audit store unavailable'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION audit_down() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'audit store unavailable'; END $$",
        "CREATE TRIGGER audit_down BEFORE INSERT ON audit_events "
        "FOR EACH ROW EXECUTE FUNCTION audit_down()",
    ],
}
AUDIT_UP = {
    "sqlite": ["DROP TRIGGER audit_down"],
    "postgresql": ["DROP TRIGGER audit_down ON audit_events", "DROP FUNCTION audit_down()"],
}


def test_a_write_whose_audit_event_fails_rolls_back(clinic: Clinic) -> None:
    doc = clinic.actors["clinician_sitea"]
    before = audit_count(clinic.db)
    with clinic.db.transaction() as session:
        heads_before = session.execute(select(*AuditStreamRow.__table__.columns)).all()
        for statement in AUDIT_DOWN[session.get_bind().dialect.name]:
            session.execute(text(statement))
    try:
        with pytest.raises(DBAPIError, match="audit store unavailable"):
            patients.add_medication(clinic.db, doc, clinic.patients["A-001"].id, "Ibuprofen")
    finally:  # the PostgreSQL test database outlives this test
        with clinic.db.transaction() as session:
            for statement in AUDIT_UP[session.get_bind().dialect.name]:
                session.execute(text(statement))
    with clinic.db.transaction() as session:
        assert session.execute(select(*AuditStreamRow.__table__.columns)).all() == heads_before
    with clinic.db.transaction() as session:
        assert session.execute(select(MedicationRow)).first() is None
    assert audit_count(clinic.db) == before


def empty_database_like(url: str, tmp_path: Path) -> str:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return f"sqlite:///{tmp_path / 'restored.db'}"
    name = f"microtrial_restore_{uuid.uuid4().hex[:8]}"
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return parsed.set(database=name).render_as_string(hide_password=False)


def dump(db: Database) -> dict[str, list[tuple[object, ...]]]:
    with db.transaction() as session:
        return {
            table.name: [
                tuple(row)
                for row in session.execute(select(table).order_by(*table.primary_key.columns))
            ]
            for table in Base.metadata.sorted_tables
        }


@pytest.mark.slow
def test_backup_restores_every_table_into_an_empty_database(
    clinic: Clinic, clock: FixedClock, database_url: str, tmp_path: Path
) -> None:
    started_trial(clinic, clock)
    runner = CliRunner()
    file = tmp_path / "clinic.backup"
    result = runner.invoke(app, ["backup", str(file), "--database-url", database_url])
    assert result.exit_code == 0, result.stderr
    target = empty_database_like(database_url, tmp_path)
    result = runner.invoke(app, ["restore", str(file), "--database-url", target])
    assert result.exit_code == 0, result.stderr
    restored = Database.from_settings(Settings(database_url=target))
    try:
        original = dump(clinic.db)
        copy = dump(restored)
        assert set(copy) == set(original)
        for table, rows in original.items():
            assert copy[table] == rows, table
        assert sum(len(rows) for rows in copy.values()) > 50
        again = runner.invoke(app, ["restore", str(file), "--database-url", target])
        assert again.exit_code != 0
        assert "empty database" in again.stderr
        assert inspect(restored.engine).get_table_names()
    finally:
        restored.dispose()
        if not target.startswith("sqlite"):
            parsed = make_url(target)
            admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
            admin.dispose()
