"""The bulk demo path: rows that obey the normal path's rules and chain into the audit log.

Built once per backend (60 patients: 57 in bulk, 3 adaptive through the services), then read
back through the ordinary services as the clinic's staff and patients would.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from integration.test_demo import assert_kits_handed_out
from microtrial.cli.main import app
from microtrial.domain.alerts import alerts_for_score
from microtrial.domain.catalog import load_catalog
from microtrial.domain.paging import ListRequest
from microtrial.domain.scoring import score
from microtrial.domain.trend_rules import DiaryHistory, diary_trend_alerts
from microtrial.errors import ValidationError
from microtrial.services import admin, diary_list, patients, trial_views
from microtrial.services.audit import verify_audit_log
from microtrial.services.demo import DemoSummary
from microtrial.services.demo_bulk import check_patients, populate_bulk
from microtrial.settings import Settings
from microtrial.store.db import Database
from microtrial.store.models import AlertRow, DiaryEntryRow, PatientRow, TrialRow, UserRow

N = 60
NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)])
def built(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Database, DemoSummary]]:
    """A bulk demo of N patients on each backend."""
    if request.param == "sqlite":
        import shutil

        path = tmp_path_factory.mktemp("bulk") / "bulk.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        url = f"sqlite:///{path}"
    else:
        from conftest import _reset_postgres

        url = request.getfixturevalue("pg_database_url")
        fresh = Database.from_settings(Settings(database_url=url))
        _reset_postgres(fresh)
        fresh.dispose()
    db = Database.from_settings(Settings(database_url=url))
    summary = populate_bulk(db, Path("bulk.db"), N, seed=11, clock=lambda: NOW)
    yield db, summary
    db.dispose()


def test_counts_are_as_asked(built: tuple[Database, DemoSummary]) -> None:
    db, summary = built
    assert len(summary.patients) == N
    with db.transaction() as session:
        assert len(session.execute(select(PatientRow.id)).all()) == N
        logins = session.execute(select(UserRow.id).where(UserRow.role == "patient")).all()
        assert len(logins) == N
        statuses = Counter(session.execute(select(TrialRow.status)).scalars())
    stages = Counter(p.stage for p in summary.patients)
    # every stage of the brief: screened out, planned, running, paused, completed, withdrawn
    for stage in ("screen-failed", "planned", "running", "paused", "completed", "withdrawn"):
        assert stages[stage] > 0, stage
    for status in ("scheduled", "running", "paused", "unblinded", "withdrawn"):
        assert statuses[status] > 0, status
    completed = [p for p in summary.patients if p.stage == "completed" and len(p.code) == 6]
    assert completed
    # about 120 diary days a completed trial (10 % missed)
    assert all(95 <= p.diary_days + p.missing_days <= 125 for p in completed)


def test_audit_chain_verifies(built: tuple[Database, DemoSummary]) -> None:
    problems, checked = verify_audit_log(built[0])
    assert problems == []
    assert checked > N * 50


def test_every_stage_reads_through_the_services(built: tuple[Database, DemoSummary]) -> None:
    db, summary = built
    doc = admin.user_actor(db, "dr.demo")
    page = patients.patient_page(db, doc, ListRequest(size=100), clock=lambda: NOW)
    assert page.info.total == N
    with db.transaction() as session:
        by_code = dict(session.execute(select(PatientRow.study_code, PatientRow.id)).all())
    seen: set[str] = set()
    for p in summary.patients:
        if p.stage in seen or p.trial_id is None:
            continue
        seen.add(p.stage)
        pid = by_code[p.code]
        trial = trial_views.get_trial(db, doc, p.trial_id, clock=lambda: NOW)
        calendar = trial_views.trial_calendar(db, doc, p.trial_id, clock=lambda: NOW)
        assert calendar.days
        me = admin.actor_for_patient(db, pid)
        diary = diary_list.diary_page(
            db, me, pid, ListRequest(size=100), instrument="daily_diary", clock=lambda: NOW
        )
        assert diary.info.total == p.diary_days
        assert trial.status in {"scheduled", "running", "paused", "unblinded", "withdrawn"}
    assert {"planned", "running", "paused", "completed", "withdrawn"} <= seen


def test_stored_alerts_are_what_the_rules_compute(built: tuple[Database, DemoSummary]) -> None:
    db, summary = built
    catalog = load_catalog()
    bulk = {p.code for p in summary.patients if len(p.code) == 6}  # P00001.. (not adaptive)
    with db.transaction() as session:
        codes = dict(session.execute(select(PatientRow.id, PatientRow.study_code)).all())
        trials = {t.id: t for t in session.execute(select(TrialRow)).scalars()}
        entries = session.execute(
            select(DiaryEntryRow).order_by(DiaryEntryRow.patient_id, DiaryEntryRow.local_date)
        ).scalars()
        expected: Counter[tuple[int, str]] = Counter()
        histories: dict[int, DiaryHistory] = {}
        causes: set[tuple[int, str]] = set()
        for entry in entries:
            if codes[entry.patient_id] not in bulk:
                continue
            result = score(catalog.instrument(entry.instrument_id), entry.answers)
            assert entry.scores["primary"] == result.primary_score
            for alert in alerts_for_score(result):
                expected[(entry.patient_id, alert.code)] += 1
            if entry.trial_id is None or entry.instrument_id != "daily_diary":
                continue
            trial = trials[entry.trial_id]
            assert trial.start_date is not None
            history = histories.setdefault(
                entry.trial_id, DiaryHistory(trial.start_date, trial.plan["design"]["run_in_days"])
            )
            history.pain[entry.local_date] = float(entry.answers["average_pain"])
            for cause in diary_trend_alerts(history, entry.local_date):
                if (entry.patient_id, cause.cause) not in causes:
                    causes.add((entry.patient_id, cause.cause))
                    expected[(entry.patient_id, cause.alert.code)] += 1
        stored = Counter(
            (pid, code)
            for pid, code, trigger in session.execute(
                select(AlertRow.patient_id, AlertRow.code, AlertRow.trigger)
            )
            if codes[pid] in bulk and "diary_entry" in trigger
        )
    # pain flares are raised once while one is open (DEDUPLICATED): count kinds, not repeats
    dedup = {"pain-flare", "missed-diary-days"}
    assert set(stored) == set(expected)
    for key, count in stored.items():
        assert count == expected[key] or key[1] in dedup


def test_the_pharmacist_hands_out_each_started_period_kit(
    built: tuple[Database, DemoSummary],
) -> None:
    db, _ = built
    assert_kits_handed_out(db)  # the bulk rows as the pharmacy service writes them


def test_patients_out_of_range_name_the_option(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="--patients"):
        check_patients(10_001)
    result = CliRunner().invoke(app, ["demo", "--patients", "0", "--out", str(tmp_path)])
    assert result.exit_code != 0
    assert "--patients" in result.output
    assert "1..10000" in result.output
