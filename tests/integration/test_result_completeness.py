"""An incomplete trial's result says so, paused days count for no arm, one adherence figure."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from helpers import Clinic, FixedClock
from integration.api.live import LiveServer
from integration.api.test_pages import sign_in
from integration.test_reports import finish, walk_trial
from microtrial.http.app import create_app
from microtrial.http.config import ServerSettings
from microtrial.reports.trial_report import trial_report
from microtrial.services import analysis, dosing, records, trial_lifecycle
from microtrial.services.records import DiaryInput


def paused_after_three_periods(clinic: Clinic, clock: FixedClock) -> int:
    """Three of four periods, then a 10-day pause with diary entries, then completed, unblinded."""
    trial_id = walk_trial(clinic, clock, seed=11, last_period=3)
    doc = clinic.actors["clinician_sitea"]
    trial_lifecycle.transition(clinic.db, doc, trial_id, "pause", reason="flu", clock=clock)
    me = clinic.actors["p_A-001"]
    pid = clinic.patients["A-001"].id
    for _ in range(10):
        clock.advance(days=1)
        answers = {"average_pain": 2, "worst_pain": 3, "sleep_quality": 7}
        records.record_diary_entry(
            clinic.db, me, pid, DiaryInput(clock.now.date(), answers), clock=clock
        )
    finish(clinic, clock, trial_id, "patient moved away during the pause")
    return trial_id


def test_incomplete_paused_trial_warns_and_keeps_one_adherence_figure(
    clinic: Clinic, clock: FixedClock
) -> None:
    trial_id = paused_after_three_periods(clinic, clock)
    doc = clinic.actors["clinician_sitea"]
    found = analysis.analyse_trial(clinic.db, doc, trial_id, clock=clock)
    days = found.days
    paused = days[days["phase"] == "paused"]
    assert len(paused) >= 10
    assert set(paused["arm"]) == {"paused"}  # off protocol: never counted as an arm
    assert paused["pain"].notna().sum() >= 10
    assert (found.completeness.pairs_complete, found.completeness.pairs_planned) == (1, 2)
    assert any("Only 1 of 2 pairs of periods are complete" in w for w in found.warnings)
    assert any("not counted as either arm" in w for w in found.warnings)
    periods = found.period_means
    active = days[(days["arm"] == "active") & ~days["wash_in"]]
    placebo = days[(days["arm"] == "placebo") & ~days["wash_in"]]
    assert int(periods["days_observed"].sum()) == int(
        active["pain"].notna().sum() + placebo["pain"].notna().sum()
    )
    # the trial page, the result and the report count the same doses
    shown = dosing.adherence(clinic.db, doc, trial_id, clock=clock)
    assert (shown["taken"], shown["planned"]) == (found.doses_taken, found.doses_planned)
    # doses are due in the three periods run; none while paused (no missed dose charged there)
    assert not paused["dose_day"].any()
    assert found.doses_planned == int(days.loc[days["period"] <= 3, "dose_day"].sum()) > 0
    html = trial_report(clinic.db, doc, trial_id, clock=clock)
    assert isinstance(html, str)
    assert re.search(
        rf"Doses taken on planned dose days</th><td[^>]*>{found.doses_taken} of "
        rf"{found.doses_planned}\b",
        html,
    )
    assert "Only 1 of 2 pairs of periods are complete" in html


@pytest.fixture
def database_url(sqlite_template: Path, tmp_path: Path) -> str:
    """Pages over HTTP on SQLite (the services above run on both backends)."""
    import shutil

    path = tmp_path / "result.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


def test_result_page_shows_the_warning_and_the_paused_series(
    clinic: Clinic, clock: FixedClock, database_url: str
) -> None:
    trial_id = paused_after_three_periods(clinic, clock)
    settings = ServerSettings(database_url=database_url, secret_key="r" * 40)
    with LiveServer(create_app(settings, clock=clock)) as server:
        page = sign_in(server.url, "clinician_sitea").get(f"/clinic/trials/{trial_id}/result")
    assert page.status_code == 200, page.text
    text = page.text
    warning = text.index("Only 1 of 2 pairs of periods are complete")
    assert warning < text.index("P(benefit)")  # read before the headline numbers
    assert "Complete pairs of periods: 1 of 2" in text
    assert "paused (off protocol, not analysed)" in text  # its own series on the chart
    assert clock.now.date() > dt.date(2026, 3, 2)


def test_result_page_shows_the_short_series_warning(
    clinic: Clinic, clock: FixedClock, database_url: str
) -> None:
    """A trial with few diary days: the engine's warning on rho is read before the numbers."""
    trial_id = walk_trial(clinic, clock, seed=8, diary_share=0.4)
    finish(clinic, clock, trial_id, "all periods done")
    settings = ServerSettings(database_url=database_url, secret_key="r" * 40)
    with LiveServer(create_app(settings, clock=clock)) as server:
        page = sign_in(server.url, "clinician_sitea").get(f"/clinic/trials/{trial_id}/result")
    assert page.status_code == 200, page.text
    text = page.text
    warning = text.index("too few days to estimate the day-to-day correlation")
    assert warning < text.index("P(benefit)")
