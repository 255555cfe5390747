"""The demo builds a whole clinic through the services, with trials at every stage."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from microtrial.cli.main import app
from microtrial.services.audit import verify_audit_log
from microtrial.services.demo import build_demo
from microtrial.settings import Settings
from microtrial.store.db import Database
from microtrial.store.models import AdverseEventRow, AlertRow, InterimLookRow, TrialRow


@pytest.mark.slow
def test_demo_builds_every_trial_stage(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["demo", "--patients", "12", "--seed", "3", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.stderr
    assert "MicroTrial demo clinic" in result.stdout
    assert "dr.demo" in result.stdout
    db = Database.from_settings(Settings(database_url=f"sqlite:///{tmp_path / 'demo.db'}"))
    try:
        with db.transaction() as session:
            statuses = Counter(session.execute(select(TrialRow.status)).scalars())
            alert_codes = set(session.execute(select(AlertRow.code)).scalars())
            escalated = set(
                session.execute(
                    select(AlertRow.code).where(AlertRow.escalated_at.is_not(None))
                ).scalars()
            )
            waiting = session.execute(
                select(AdverseEventRow.id).where(
                    AdverseEventRow.is_current.is_(True),
                    AdverseEventRow.status == "awaiting review",
                    AdverseEventRow.source == "patient report",
                )
            ).all()
            decisions = list(
                session.execute(
                    select(InterimLookRow.decision, TrialRow.status).join(
                        TrialRow, TrialRow.id == InterimLookRow.trial_id
                    )
                ).tuples()
            )
        # the adaptive trials: stopped early for benefit, for futility, and run to the maximum
        final = {d: status for d, status in decisions if d != "continue"}
        assert final == {
            "stop-benefit": "unblinded",
            "stop-futility": "unblinded",
            "maximum-reached": "unblinded",
        }
        assert "adaptive trial, maximum-reached" in result.stdout
        assert set(statuses) == {"scheduled", "running", "paused", "unblinded"}
        assert statuses["unblinded"] >= 5
        assert "ae-grade-3-or-serious" in alert_codes
        # the safety loop can be seen: a patient held by a blood-pressure reading, urgent
        # alerts escalated after 24 h, patient-reported adverse events awaiting review
        assert "bp-crisis" in alert_codes
        assert {"bp-crisis", "ae-grade-3-or-serious"} <= escalated
        assert waiting
        assert "held after a home blood pressure of 210/125" in result.stdout
        problems, events = verify_audit_log(db)
        assert problems == []
        assert events > 1000
    finally:
        db.dispose()


@pytest.mark.slow
def test_demo_completes_its_trials_while_new_york_is_still_on_yesterday(tmp_path: Path) -> None:
    # 00:38 UTC is 19:38 the day before in New York: a trial whose last period ended
    # "yesterday" in UTC has not ended there yet (the CI run of 1 December failed this way).
    at = dt.datetime(2026, 12, 1, 0, 38, tzinfo=dt.UTC)
    summary = build_demo(tmp_path, n_patients=6, seed=3, clock=lambda: at)
    db = Database.from_settings(Settings(database_url=f"sqlite:///{tmp_path / 'demo.db'}"))
    try:
        with db.transaction() as session:
            statuses = Counter(session.execute(select(TrialRow.status)).scalars())
    finally:
        db.dispose()
    completed = [p.code for p in summary.patients if p.stage == "completed"]
    assert completed
    assert statuses["unblinded"] >= len(completed)
