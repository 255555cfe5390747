"""Issue 14, deliverable 8 through the services, the diary writer and the CLI: implausible answers
and diary dates outside the window are refused naming the field, and nothing is stored."""

from __future__ import annotations

import asyncio
import datetime as dt
from concurrent.futures import ThreadPoolExecutor

import pytest
from alembic import command
from sqlalchemy import text

from helpers import Clinic, FixedClock, cli_patient, run_cli
from microtrial.domain.actors import system_actor
from microtrial.errors import ValidationError
from microtrial.services import admin, records
from microtrial.services.diary_writer import DiaryWriter
from microtrial.services.patient_status import crisis_lines
from microtrial.services.records import DiaryInput
from microtrial.settings import Settings
from microtrial.store import migrate
from microtrial.store.db import make_engine


def test_service_refuses_bp_and_pain_contradictions_and_stores_nothing(
    clinic: Clinic, clock: FixedClock
) -> None:
    me = clinic.actors["p_A-001"]
    pid = clinic.patients["A-001"].id
    today = clock().date()
    with pytest.raises(ValidationError) as err:
        records.record_diary_entries(
            clinic.db,
            me,
            pid,
            [
                DiaryInput(today, {"average_pain": 4}),
                DiaryInput(today, {"systolic": 90, "diastolic": 150}, instrument_id="home_bp"),
            ],
            clock=clock,
        )
    assert err.value.field == "home_bp.diastolic"
    with pytest.raises(ValidationError, match="worst pain must not be below average pain"):
        records.record_diary_entry(
            clinic.db, me, pid, DiaryInput(today, {"average_pain": 8, "worst_pain": 2}), clock=clock
        )
    assert records.list_diary_entries(clinic.db, me, pid, clock=clock) == []


def _run_writer(writer: DiaryWriter, clinic: Clinic, entry: DiaryInput) -> object:
    async def submit() -> object:
        return await writer.record(clinic.actors["p_A-001"], clinic.patients["A-001"].id, [entry])

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, submit()).result()


def test_diary_dates_window_applies_in_the_group_commit_writer(
    clinic: Clinic, clock: FixedClock
) -> None:
    admin.set_backfill_days(clinic.db, system_actor(), "SITEA", None)  # the default: 7 days
    writer = DiaryWriter(clinic.db, clock=clock)
    try:
        enrolled = clinic.enrolled_at.date()
        today = clock().date()
        for day, message in (
            (dt.date(2001, 1, 1), f"before enrolment on {enrolled}"),
            (today - dt.timedelta(days=8), "more than 7 days ago"),
            (today + dt.timedelta(days=1), "in the future"),
        ):
            with pytest.raises(ValidationError, match=message) as err:
                _run_writer(writer, clinic, DiaryInput(day, {"average_pain": 3}))
            assert err.value.field == "date"
        stored = _run_writer(
            writer, clinic, DiaryInput(today - dt.timedelta(days=7), {"average_pain": 3})
        )
        assert stored
        admin.set_backfill_days(clinic.db, system_actor(), "SITEA", 30)
        _run_writer(writer, clinic, DiaryInput(today - dt.timedelta(days=30), {"average_pain": 3}))
    finally:
        writer.stop()
    days = [
        e.local_date
        for e in records.list_diary_entries(
            clinic.db, clinic.actors["clinician_sitea"], clinic.patients["A-001"].id
        )
    ]
    assert sorted(days) == [today - dt.timedelta(days=30), today - dt.timedelta(days=7)]


def test_backfill_window_setting_is_checked(clinic: Clinic) -> None:
    with pytest.raises(ValidationError, match="backfill_days"):
        admin.set_backfill_days(clinic.db, system_actor(), "SITEA", -1)
    assert admin.set_backfill_days(clinic.db, system_actor(), "SITEA", None) is None


def test_migration_0006_adds_and_drops_the_site_backfill_column(database_url: str) -> None:
    engine = make_engine(Settings(database_url=database_url))
    config = migrate.alembic_config(engine)
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO sites (code, name, created_at) VALUES ('OLD1', 'Old', :at)"),
            {"at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC)},
        )
    command.downgrade(config, "0005")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT code FROM sites")).scalars().all() == ["OLD1"]
    migrate.upgrade(engine)
    migrate.check(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT backfill_days FROM sites")).scalars().all() == [None]
    engine.dispose()


def test_cli_refuses_implausible_diaries_in_one_line(database_url: str) -> None:
    url = cli_patient(database_url, tz="UTC")
    today = dt.datetime.now(dt.UTC).date()
    base = ("diary", "add", "--site", "LON1", "--code", "P-9", *url)
    for extra, field in (
        (("--date", today.isoformat(), "--pain", "7", "--worst", "3"), "daily_diary.worst_pain"),
        (("--date", "2001-01-01", "--pain", "3"), "date"),
    ):
        code, out, err = run_cli(*base, *extra)
        assert code == 2, (out, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        assert field in lines[0], err
    code, out, err = run_cli("site", "backfill-days", "LON1", "14", *url)
    assert code == 0, err
    code, out, err = run_cli("site", "backfill-days", "LON1", "4000", *url)
    assert code == 2
    assert "backfill_days" in err


def test_a_site_sets_its_own_crisis_lines_from_the_cli(clinic: Clinic, database_url: str) -> None:
    url = ("--database-url", database_url)
    code, out, err = run_cli(
        "site", "crisis-lines", "SITEA", "Samaritans=116 123", "GP=+44 20 7946 0000", *url
    )
    assert code == 0, err
    assert "Samaritans 116 123" in out
    for bad, field in (("Samaritans", "lines"), ("Help=call us", "number"), ("=999", "label")):
        code, _, err = run_cli("site", "crisis-lines", "SITEA", bad, *url)
        assert code == 2, err
        assert field in err
    with clinic.db.transaction() as session:
        lines = crisis_lines(session, clinic.site_a.id)
    # the refusals changed nothing: the lines set first are the site's
    assert [(c.label, c.tel) for c in lines] == [
        ("Samaritans", "tel:116123"),
        ("GP", "tel:+442079460000"),
    ]
    assert run_cli("site", "crisis-lines", "SITEA", *url)[0] == 0
    with clinic.db.transaction() as session:
        defaults = crisis_lines(session, clinic.site_a.id)
    assert [c.number for c in defaults][:3] == ["911", "999", "112"]  # the catalog's set again
