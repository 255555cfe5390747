"""Cohort results are pooled at refresh and stored; pages read them without pooling.

Runs on the demo clinic built on each backend (SQLite and, when configured, PostgreSQL). The
engine and ``pool`` are watched by spies that count calls and pass them on to the real ones.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select

from integration.api.live import LiveServer
from integration.api.test_pages import sign_in
from microtrial.analysis import fit_trials, pool
from microtrial.domain.access import Action
from microtrial.domain.actors import system_actor
from microtrial.http.app import create_app
from microtrial.http.config import ServerSettings
from microtrial.reports.cohort_report import cohort_report
from microtrial.services import admin, analysis, analysis_fit, cohort_results, demo, records
from microtrial.services.common import site_scope
from microtrial.services.demo import DEMO_PASSWORD
from microtrial.services.diary_corrections import DiaryCorrection, correct_diary_entry
from microtrial.services.trial_fits import refresh_fits
from microtrial.store.db import Database
from microtrial.store.models import CohortResultRow, TrialRow


@pytest.fixture
def demo_db(db: Database, tmp_path: Path) -> Database:
    """The demo clinic (8 patients, every trial stage) built on this test's backend."""
    at = dt.datetime.now(dt.UTC)
    demo._populate(db, tmp_path / "demo.db", 8, np.random.default_rng(3), lambda: at)
    return db


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How often the engine fitted and the cohort pooled."""
    counted = {"fit": 0, "pool": 0}

    def fit_spy(frame: pd.DataFrame, **kwargs: Any) -> pd.DataFrame:
        counted["fit"] += 1
        return fit_trials(frame, **kwargs)

    def pool_spy(*args: Any, **kwargs: Any) -> Any:
        counted["pool"] += 1
        return pool(*args, **kwargs)

    monkeypatch.setattr(analysis_fit, "fit_trials", fit_spy)
    monkeypatch.setattr(cohort_results, "pool", pool_spy)
    return counted


def edit_view(db: Database, scope: int | None, change: Callable[[dict[str, Any]], None]) -> None:
    """Change a stored view's payload in place, as no refresh would."""
    with db.transaction() as session:
        row = session.execute(
            select(CohortResultRow).where(
                CohortResultRow.site_id.is_(None)
                if scope is None
                else CohortResultRow.site_id == scope,
                CohortResultRow.condition_group == "",
            )
        ).scalar_one()
        payload = copy.deepcopy(row.payload)  # a new value: nested edits are not tracked
        change(payload)
        row.payload = payload


def overall_effect(cohort: analysis.CohortAnalysis) -> float:
    assert cohort.pooled is not None
    groups = cohort.pooled.groups
    return float(groups[groups["group"] == "overall"]["pooled_effect"].iloc[0])


def test_a_stored_view_is_read_without_pooling_a_refresh_replaces_it_and_none_is_pooled(
    demo_db: Database, calls: dict[str, int]
) -> None:
    researcher = admin.user_actor(demo_db, "researcher.demo")
    scope = site_scope(researcher, Action.READ_COHORT)
    with demo_db.read() as session:
        views = session.execute(select(CohortResultRow)).scalars().all()
        assert {v.condition_group for v in views} >= {""}
        assert any(v.condition_group for v in views)  # a view per condition group too

    def set_effect(payload: dict[str, Any]) -> None:
        groups = payload["pooled_groups"]
        groups["data"] = [
            {**row, "pooled_effect": -7.4321} if row["group"] == "overall" else row
            for row in groups["data"]
        ]

    edit_view(demo_db, scope, set_effect)
    url = demo_db.engine.url.render_as_string(hide_password=False)
    settings = ServerSettings(database_url=url, secret_key="d" * 40, export_secret="e" * 40)
    with LiveServer(create_app(settings)) as server:
        client = sign_in(server.url, "researcher.demo", DEMO_PASSWORD)
        page = client.get("/research").text
        with httpx.Client(base_url=f"{server.url}/api/v1", timeout=30) as api_client:
            token = api_client.post(
                "/auth/token", data={"username": "researcher.demo", "password": DEMO_PASSWORD}
            ).json()["access_token"]
            api = api_client.get("/cohort", headers={"Authorization": f"Bearer {token}"}).json()
    assert "-7.43" in page  # the stored number, not a pool made for the request
    assert "Pooled, descriptive and blinding results computed at " in page
    assert "Not up to date" not in page
    overall = next(g for g in api["pooled"] if g["group"] == "overall")
    assert overall["pooled_effect"] == -7.4321
    assert api["fits"]["pooled_stored"] is True
    html = cohort_report(demo_db, researcher)
    assert isinstance(html, str)
    assert "7.43" in html  # (the report writes a typographic minus)
    assert calls == {"fit": 0, "pool": 0}

    # a correction: the stored view says one trial changed, and still does not pool
    with demo_db.read() as session:
        first = (
            session.execute(
                select(TrialRow).where(TrialRow.status == "unblinded").order_by(TrialRow.id)
            )
            .scalars()
            .first()
        )
        assert first is not None
        patient_id = first.patient_id
    before = analysis.cohort_analysis(demo_db, researcher)
    entries = records.list_diary_entries(demo_db, system_actor(), patient_id)
    entry = next(e for e in entries if e.instrument_id == "daily_diary")
    fix = DiaryCorrection(entry.local_date, "typo", {"average_pain": 10, "worst_pain": 10})
    correct_diary_entry(demo_db, system_actor(), patient_id, fix)
    stale = analysis.cohort_analysis(demo_db, researcher)
    assert stale.fits is not None
    assert stale.fits.stale == 1
    assert stale.results["fit_stale"].any()
    assert overall_effect(stale) == -7.4321
    assert calls == {"fit": 0, "pool": 0}

    # the refresh fits the trial again and pools every view afresh
    report = refresh_fits(demo_db, system_actor("test"))
    assert report.stored == 1
    assert report.cohort_views >= 2
    after = analysis.cohort_analysis(demo_db, researcher)
    assert after.fits is not None
    assert after.fits.up_to_date
    assert not after.fits.pooled_behind
    assert after.fits.pooled_at is not None
    assert overall_effect(after) != -7.4321
    assert overall_effect(after) != pytest.approx(overall_effect(before), abs=0)
    # and a refresh with nothing changed stores nothing
    assert refresh_fits(demo_db, system_actor("test")).cohort_views == 0

    # with no stored view (the demo database built once for both checks: it takes seconds),
    # a request pools for itself, says so, and computes what the stored view held
    pooled_before = calls["pool"]
    stored = analysis.cohort_analysis(demo_db, researcher)
    with demo_db.transaction() as session:
        session.execute(CohortResultRow.__table__.delete())
    computed = analysis.cohort_analysis(demo_db, researcher)
    assert calls["pool"] == pooled_before + 1
    assert computed.fits is not None
    assert computed.fits.pooled_at is None
    assert "computed for this page (none are stored yet" in computed.fits.provenance
    # the stored view holds what the request computes from the same fits
    assert stored.pooled is not None
    assert computed.pooled is not None
    pd.testing.assert_frame_equal(
        stored.pooled.groups, computed.pooled.groups, check_dtype=False, check_exact=False
    )
    pd.testing.assert_frame_equal(
        stored.pooled.forest, computed.pooled.forest, check_dtype=False, check_exact=False
    )
    pd.testing.assert_frame_equal(
        stored.descriptive, computed.descriptive, check_dtype=False, check_exact=False
    )
    assert stored.n_trials == computed.n_trials
