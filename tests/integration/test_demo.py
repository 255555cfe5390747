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
from microtrial.store.models import (
    AdverseEventRow,
    AlertRow,
    DoseEventRow,
    InterimLookRow,
    KitRow,
    PeriodRow,
    TrialRow,
    UserRow,
)


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


def assert_kits_handed_out(db: Database) -> None:
    """Every demo capsule came from a kit the pharmacist recorded prepared and handed out before
    it was taken, so no demo patient has a kit-not-dispensed alert; kits of periods that have
    not started are still with the pharmacy."""
    with db.transaction() as session:
        kits = {
            k.code: (k, p) for k, p in session.execute(select(KitRow, PeriodRow).join(PeriodRow))
        }
        doses = list(session.execute(select(DoseEventRow)).scalars())
        pharmacist = session.execute(
            select(UserRow.id).where(UserRow.username == "pharmacist.demo")
        ).scalar_one()
        flagged = session.execute(select(AlertRow.id).where(AlertRow.code == "kit-not-dispensed"))
        assert flagged.all() == []
    assert doses
    for dose in doses:
        kit, _ = kits[str(dose.kit_code)]
        assert kit.dispensed_at is not None
        assert dose.taken_at is not None
        assert kit.prepared_at is not None
        assert kit.prepared_at <= kit.dispensed_at
        assert kit.dispensed_at <= dose.taken_at, kit.code
        assert kit.dispensed_by_user_id == pharmacist
        assert kit.dispensed_capsules == kit.prepared_capsules
    for kit, period in kits.values():
        if kit.dispensed_at is not None:
            assert kit.dispensed_at.date() == period.start_date  # handed out on its first day


def test_the_demo_pharmacist_hands_out_each_started_period_kit(demo_clinic: Database) -> None:
    assert_kits_handed_out(demo_clinic)
    with demo_clinic.transaction() as session:
        planned = session.execute(
            select(KitRow.dispensed_at).join(TrialRow).where(TrialRow.status == "scheduled")
        ).scalars()
        assert set(planned) == {None}  # a planned trial's kits are not handed out yet
