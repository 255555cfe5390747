"""Per-trial fits are computed once, stored, made stale by their inputs, and read by requests.

The engine is watched through a spy that counts calls and passes them on to the real
``fit_trials`` (the numbers stay the engine's own).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import delete, select, text, update

from helpers import Clinic, FixedClock, StatementCount, audit_count, run_cli
from integration.api.live import LiveServer
from integration.api.test_pages import sign_in
from integration.test_reports import finish, walk_trial
from microtrial.analysis import fit_trials
from microtrial.domain.actors import system_actor
from microtrial.http.app import create_app
from microtrial.http.config import ServerSettings
from microtrial.reports.cohort_report import cohort_report
from microtrial.services import admin, analysis, analysis_fit, exports, records
from microtrial.services.cohort_store import refresh_cohort_results
from microtrial.services.demo import DEMO_PASSWORD
from microtrial.services.diary_corrections import DiaryCorrection, correct_diary_entry
from microtrial.services.records import DiaryInput
from microtrial.services.trial_fits import refresh_fits
from microtrial.settings import Settings
from microtrial.store.db import Database
from microtrial.store.models import CohortResultRow, TrialFitRow, TrialRow

Spy = list[set[str]]  # the trial ids of each engine call


@pytest.fixture
def engine_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Spy, list[Callable[[], None]]]]:
    """Count the batched engine's calls (and run ``during`` hooks inside the first one)."""
    calls: Spy = []
    during: list[Callable[[], None]] = []

    def spy(frame: pd.DataFrame, **kwargs: Any) -> pd.DataFrame:
        calls.append(set(frame["trial_id"].astype(str)))
        while during:
            during.pop(0)()
        return fit_trials(frame, **kwargs)

    monkeypatch.setattr(analysis_fit, "fit_trials", spy)
    return calls, during


def pain_effect(cohort: analysis.CohortAnalysis) -> float:
    pain = cohort.results[cohort.results["outcome"] == "pain"]
    return float(pain["effect_mean"].iloc[0])


def open_transactions_elsewhere(db: Database) -> int:
    """PostgreSQL: other sessions of this database inside a transaction right now."""
    with db.engine.connect() as connection:
        return int(
            connection.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid() AND xact_start IS NOT NULL"
                )
            ).scalar_one()
        )


def test_fits_are_stored_made_stale_by_their_inputs_and_refreshed(
    clinic: Clinic, clock: FixedClock, engine_calls: tuple[Spy, list[Callable[[], None]]]
) -> None:
    calls, during = engine_calls
    db, doc = clinic.db, clinic.actors["clinician_sitea"]
    researcher = clinic.actors["researcher_sitea"]
    system = system_actor("test")
    trial_id = walk_trial(clinic, clock, seed=5, diary_share=0.9)
    assert refresh_fits(db, system, clock=clock).checked == 0  # not unblinded: nothing to fit

    # unblinding: the trial is in the cohort, said to be not yet computed, with no numbers
    finish(clinic, clock, trial_id, "all periods done")
    before = analysis.cohort_analysis(db, researcher, clock=clock)
    assert before.fits is not None
    assert (before.fits.missing, before.fits.stale, before.n_trials) == (1, 0, 0)
    assert "1 unblinded trial(s) have no results computed yet" in before.fits.caveat
    assert calls == []  # reading the cohort never fits

    report = refresh_fits(db, system, clock=clock)
    assert (report.checked, report.stale, report.stored, report.changed_meanwhile) == (1, 1, 1, 0)
    assert len(calls) == 3  # one batched call per outcome
    cohort = analysis.cohort_analysis(db, researcher, clock=clock)
    assert cohort.fits is not None
    assert cohort.fits.up_to_date
    assert cohort.fits.computed_from == cohort.fits.computed_to == clock()
    assert f"data version {cohort.fits.data_version}" in cohort.fits.provenance
    direct = analysis.analyse_trial(db, doc, trial_id, clock=clock)
    assert math.isclose(pain_effect(cohort), direct.primary["effect_mean"], abs_tol=1e-12)

    # nothing changed: a refresh fits nothing and writes nothing
    events, fitted = audit_count(db), len(calls)
    assert refresh_fits(db, system, clock=clock).stale == 0
    assert audit_count(db) == events
    assert len(calls) == fitted

    # a diary correction makes it stale; the cohort says so and keeps the marked old numbers
    days = direct.days
    observed = days[days["period"].notna() & ~days["wash_in"] & days["pain"].notna()]
    day = observed["date"].iloc[0]
    pain = int(observed["pain"].iloc[0])
    clock.advance(hours=1)
    answers = {"average_pain": 0} if pain > 0 else {"average_pain": 10, "worst_pain": 10}
    fix = DiaryCorrection(day, "typo", answers)
    correct_diary_entry(db, doc, clinic.patients["A-001"].id, fix, clock=clock)
    stale = analysis.cohort_analysis(db, researcher, clock=clock)
    assert stale.fits is not None
    assert (stale.fits.stale, stale.fits.current) == (1, 0)
    assert "1 of 1 unblinded trial(s) changed after their results were computed" in (
        stale.fits.caveat
    )
    assert stale.results["fit_stale"].all()
    assert pain_effect(stale) == pain_effect(cohort)

    # refreshed while a late entry lands mid-fit: the fit of the old data is not stored
    missing = days[days["period"].notna() & ~days["wash_in"] & days["pain"].isna()]
    late_day = missing["date"].iloc[0]
    me = clinic.actors["p_A-001"]

    def late_entry() -> None:
        # No transaction is open while the engine runs: on SQLite this writer would otherwise
        # wait for the lock and fail; PostgreSQL shows every open transaction.
        if not db.is_sqlite:
            assert open_transactions_elsewhere(db) == 0
        answers = {"average_pain": 1, "worst_pain": 2, "sleep_quality": 8}
        entry = DiaryInput(late_day, answers)
        records.record_diary_entry(db, me, clinic.patients["A-001"].id, entry, clock=clock)

    during.append(late_entry)
    raced = refresh_fits(db, system, clock=clock)
    assert (raced.stale, raced.stored, raced.changed_meanwhile) == (1, 0, 1)
    still = analysis.cohort_analysis(db, researcher, clock=clock)
    assert still.fits is not None
    assert still.fits.stale == 1
    assert pain_effect(still) == pain_effect(cohort)  # not replaced by a fit of old data

    clock.advance(hours=1)
    again = refresh_fits(db, system, clock=clock)
    assert (again.stale, again.stored) == (1, 1)
    fresh = analysis.cohort_analysis(db, researcher, clock=clock)
    assert fresh.fits is not None
    assert fresh.fits.up_to_date
    assert fresh.fits.computed_to == clock()
    assert fresh.fits.data_version != cohort.fits.data_version
    now = analysis.analyse_trial(db, doc, trial_id, clock=clock)
    assert math.isclose(pain_effect(fresh), now.primary["effect_mean"], abs_tol=1e-12)
    assert pain_effect(fresh) != pain_effect(cohort)


def copy_of(db: Database, path: Path) -> Database:
    """A private copy of a (shared, read-only) SQLite database."""
    source = sqlite3.connect(str(db.engine.url.database))
    target = sqlite3.connect(str(path))
    with target:
        source.backup(target)
    source.close()
    target.close()
    return Database.from_settings(Settings(database_url=f"sqlite:///{path}"))


@pytest.fixture
def demo_copy(demo_clinic: Database, tmp_path: Path) -> Iterator[Database]:
    db = copy_of(demo_clinic, tmp_path / "demo.db")
    yield db
    db.dispose()


def unblinded(db: Database) -> list[int]:
    with db.transaction() as session:
        query = select(TrialRow.id).where(TrialRow.status == "unblinded").order_by(TrialRow.id)
        return list(session.execute(query).scalars())


def test_a_refresh_fits_every_stale_trial_in_one_batch(
    demo_copy: Database, engine_calls: tuple[Spy, list[Callable[[], None]]]
) -> None:
    calls, _ = engine_calls
    trials = unblinded(demo_copy)
    assert len(trials) >= 2
    with demo_copy.transaction() as session:
        session.execute(delete(TrialFitRow))
    report = refresh_fits(demo_copy, system_actor("test"))
    assert (report.stale, report.stored) == (len(trials), len(trials))
    # one call per outcome (pain, worst pain, sleep), each holding every trial
    assert len(calls) == 3
    assert all(ids == {str(t) for t in trials} for ids in calls)


def edit_stored_pain(db: Database, trial_id: int, effect: float) -> None:
    """Change a stored fit's pain effect in place, as no refresh would."""
    with db.transaction() as session:
        fit = session.execute(
            select(TrialFitRow).where(TrialFitRow.trial_id == trial_id)
        ).scalar_one()
        fit.results = [
            {**row, "effect_mean": effect} if row["outcome"] == "pain" else row
            for row in fit.results
        ]


def test_research_page_report_and_export_read_stored_fits(
    demo_copy: Database, engine_calls: tuple[Spy, list[Callable[[], None]]]
) -> None:
    calls, _ = engine_calls
    trials = unblinded(demo_copy)
    edit_stored_pain(demo_copy, trials[0], -7.125)
    # the views pooled from the fits are stored at refresh: pool them again from the edited fit
    with demo_copy.transaction() as session:
        session.execute(delete(CohortResultRow))
    refresh_cohort_results(demo_copy)
    url = demo_copy.engine.url.render_as_string(hide_password=False)
    settings = ServerSettings(database_url=url, secret_key="d" * 40, export_secret="e" * 40)
    researcher = admin.user_actor(demo_copy, "researcher.demo")
    with LiveServer(create_app(settings)) as server:
        client = sign_in(server.url, "researcher.demo", DEMO_PASSWORD)
        page = client.get("/research").text
        assert "-7.125" in page  # the stored number, not a fit made for the request
        assert "Per-trial results computed at " in page
        assert "Not up to date" not in page
        # a diary correction of the first trial's patient: the page says one is stale
        with demo_copy.transaction() as session:
            patient_id = session.get_one(TrialRow, trials[0]).patient_id
        entries = records.list_diary_entries(demo_copy, system_actor(), patient_id)
        entry = next(e for e in entries if e.instrument_id == "daily_diary")
        fix = DiaryCorrection(entry.local_date, "typo", {"average_pain": 9, "worst_pain": 10})
        correct_diary_entry(demo_copy, system_actor(), patient_id, fix)
        page = client.get("/research").text
        export = client.get("/research/export.zip")
    assert f"1 of {len(trials)} unblinded trial(s) changed after their results" in page
    assert "-7.125" in page
    html = cohort_report(demo_copy, researcher)
    assert isinstance(html, str)
    assert "Not up to date:" in html
    assert "(stale)" in html
    assert "Per-trial results computed at " in html
    tables = exports.research_export(demo_copy, researcher, secret="e" * 40)
    manifest = json.dumps(tables.manifest("csv"))
    assert "Per-trial results computed at " in manifest
    assert f"1 of {len(trials)} unblinded trial(s) changed" in manifest
    assert export.status_code == 200
    assert calls == []  # the page, the report and the export fitted nothing


def test_cohort_refresh_command(demo_copy: Database) -> None:
    url = demo_copy.engine.url.render_as_string(hide_password=False)
    with demo_copy.transaction() as session:  # as after an upgrade: nothing computed yet
        session.execute(delete(TrialFitRow))
        session.execute(delete(CohortResultRow))
    code, out, err = run_cli("cohort", "status", "--database-url", url)
    assert code == 0, err
    n = len(unblinded(demo_copy))
    assert f"{n} unblinded trial(s): 0 current, 0 stale, {n} not yet computed" in out
    code, out, err = run_cli("cohort", "refresh", "--database-url", url)
    assert code == 0, err
    assert f"{n} unblinded trial(s), {n} stale or new, {n} fitted and stored" in out
    code, out, _ = run_cli("cohort", "status", "--database-url", url)
    assert f"{n} current, 0 stale, 0 not yet computed" in out
    assert "data version" in out
    assert dt.datetime.now(dt.UTC).date().isoformat() in out


def test_the_server_refreshes_stale_fits_in_the_background(demo_copy: Database) -> None:
    with demo_copy.transaction() as session:  # as after an upgrade: nothing computed yet
        session.execute(delete(TrialFitRow))
        session.execute(delete(CohortResultRow))
    url = demo_copy.engine.url.render_as_string(hide_password=False)
    settings = ServerSettings(database_url=url, secret_key="d" * 40, fit_refresh_interval_s=0.05)
    n = len(unblinded(demo_copy))
    fits = analysis.cohort_analysis(demo_copy, system_actor()).fits
    assert fits is not None
    assert fits.missing == n
    with LiveServer(create_app(settings)):
        # waits for the loop's first refresh (an event, not a speed: the bound only ends a hang)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            fits = analysis.cohort_analysis(demo_copy, system_actor()).fits
            assert fits is not None
            if fits.up_to_date:
                break
            time.sleep(0.2)
    assert fits.up_to_date
    assert fits.current == n


def set_status(db: Database, trials: list[int], status: str) -> None:
    """Move trials between stages by SQL (no service): only to vary how many are unblinded."""
    with db.transaction() as session:
        session.execute(update(TrialRow).where(TrialRow.id.in_(trials)).values(status=status))


def test_the_research_page_reads_in_statements_that_do_not_grow_with_the_trials(
    demo_copy: Database,
) -> None:
    trials = unblinded(demo_copy)
    assert len(trials) >= 3
    url = demo_copy.engine.url.render_as_string(hide_password=False)
    settings = ServerSettings(database_url=url, secret_key="d" * 40, export_secret="e" * 40)
    counts: dict[int, int] = {}
    with LiveServer(create_app(settings)) as server:
        client = sign_in(server.url, "researcher.demo", DEMO_PASSWORD)
        for shown in (trials[:2], trials):
            set_status(demo_copy, [t for t in trials if t not in shown], "completed")
            set_status(demo_copy, shown, "unblinded")
            refresh_fits(demo_copy, system_actor("test"))
            assert client.get("/research").status_code == 200  # the view parsed once here
            with StatementCount() as read:
                page = client.get("/research").text
            assert f"<p>{len(shown)} unblinded trial(s).</p>" in page
            assert "Not up to date" not in page
            counts[len(shown)] = read.count
        assert counts[2] == counts[len(trials)], counts
        # a correction: its trial's data version is computed (and only its), the rest is read
        with demo_copy.transaction() as session:
            patient_id = session.get_one(TrialRow, trials[-1]).patient_id
        entries = records.list_diary_entries(demo_copy, system_actor(), patient_id)
        entry = next(e for e in entries if e.instrument_id == "daily_diary")
        fix = DiaryCorrection(entry.local_date, "typo", {"average_pain": 9, "worst_pain": 10})
        correct_diary_entry(demo_copy, system_actor(), patient_id, fix)
        with StatementCount() as read:
            page = client.get("/research").text
        assert f"1 of {len(trials)} unblinded trial(s) changed after their results" in page
        # seven: the trial, its patient's diary and conditions, its doses, adverse events,
        # guesses and periods (trial_fits.data_versions for the one trial whose stamp moved)
        assert read.count == counts[len(trials)] + 7, (read.count, counts)
