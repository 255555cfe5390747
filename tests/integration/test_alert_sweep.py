"""Every rule runs: diary-history rules on each entry, the site-scoped sweep and its CLI, and
escalation of overdue urgent alerts, on both databases."""

from __future__ import annotations

import datetime as dt

import typer
from sqlalchemy import select
from typer.testing import CliRunner

from helpers import Clinic, FixedClock
from integration.test_safety_services import FADIMAN, clear_history
from microtrial.cli import alert_cmds
from microtrial.domain.actors import Actor
from microtrial.domain.design import DesignSpec
from microtrial.services import (
    adverse_events,
    alerts,
    records,
    screening,
    sweeps,
    trial_lifecycle,
    trial_planning,
)
from microtrial.services.records import DiaryInput
from microtrial.store.models import AlertRow, SiteRow

runner = CliRunner()
cli = typer.Typer()
alert_cmds.register(cli)


def running_trial(
    clinic: Clinic,
    clock: FixedClock,
    code: str,
    run_in: int = 7,
    steps: tuple[str, ...] = ("schedule", "start"),
) -> int:
    """Patient ``code``'s trial, started today with a ``run_in``-day baseline (or only taken
    through ``steps``); the patient id."""
    doc = clinic.actors["clinician_sitea" if code.startswith("A") else "clinician_siteb"]
    pid = clinic.patients[code].id
    clear_history(clinic, doc, pid)
    result = screening.screen_patient(clinic.db, doc, pid, "psilocybin", clock=clock)
    assert result.decision == "no-known-issues", result.findings
    trial = trial_planning.plan_trial(
        clinic.db,
        doc,
        pid,
        FADIMAN,
        DesignSpec(run_in_days=run_in),
        start_date=clock().date(),
        seed=3,
        clock=clock,
    )
    for action in steps:
        trial_lifecycle.transition(clinic.db, doc, trial.id, action, clock=clock)
    return pid


def diary(clinic: Clinic, clock: FixedClock, who: str, pid: int, pain: int, **more: object) -> None:
    """The patient's daily diary for the clock's day, then the clock moves to the next day."""
    answers: dict[str, object] = {"average_pain": pain, **more}
    records.record_diary_entry(
        clinic.db, clinic.actors[who], pid, DiaryInput(clock().date(), answers), clock=clock
    )
    clock.advance(days=1)


def codes(clinic: Clinic, doc: Actor, open_only: bool = False) -> list[str]:
    return sorted(a.code for a in alerts.list_alerts(clinic.db, doc, open_only=open_only))


def test_weekly_pain_worsening_is_raised_once_per_run(clinic: Clinic, clock: FixedClock) -> None:
    doc = clinic.actors["clinician_sitea"]
    pid = running_trial(clinic, clock, "A-001")
    for _ in range(7):
        diary(clinic, clock, "p_A-001", pid, 4)
    # Two weeks at 6/10 (50 % above a baseline of 4; the rule needs 30 %), but never a 3-day
    # run 3 points above baseline (7), so no pain flare.
    for _ in range(14):
        diary(clinic, clock, "p_A-001", pid, 6)
    assert codes(clinic, doc) == ["pain-worsening"]
    # A third bad week continues the same run: nothing new, even once acknowledged.
    [alert] = alerts.list_alerts(clinic.db, doc)
    alerts.acknowledge_alert(clinic.db, doc, alert.id, "called; plan unchanged", clock=clock)
    for _ in range(7):
        diary(clinic, clock, "p_A-001", pid, 6)
    assert codes(clinic, doc, open_only=False) == ["pain-worsening"]


def test_grade2_persistence_from_the_checklist(clinic: Clinic, clock: FixedClock) -> None:
    doc = clinic.actors["clinician_sitea"]
    pid = running_trial(clinic, clock, "A-001", run_in=0)
    me = clinic.actors["p_A-001"]
    for day in range(8):
        records.record_diary_entry(
            clinic.db,
            me,
            pid,
            DiaryInput(clock().date(), {"nausea_gi": 2}, instrument_id="ae_checklist"),
            clock=clock,
        )
        if day < 7:
            assert "ae-grade-2-persistent" not in codes(clinic, doc)
        clock.advance(days=1)
    assert codes(clinic, doc) == ["ae-grade-2-persistent"]
    [alert] = alerts.list_alerts(clinic.db, doc)
    assert "nausea_gi" in alert.message


def test_an_ongoing_grade2_adverse_event_is_found_by_the_sweep(
    clinic: Clinic, clock: FixedClock
) -> None:
    doc = clinic.actors["clinician_sitea"]
    pid = running_trial(clinic, clock, "A-001", run_in=0)
    adverse_events.record_adverse_event(
        clinic.db,
        doc,
        pid,
        term="Headache",
        grade=2,
        serious=False,
        onset_date=clock().date(),
        clock=clock,
    )
    for _ in range(8):  # a diary every day: only the adverse event can raise anything
        diary(clinic, clock, "p_A-001", pid, 3)
    assert "ae-grade-2-persistent" not in codes(clinic, doc)
    sweeps.sweep_alerts(clinic.db, doc, clock=clock)
    sweeps.sweep_alerts(clinic.db, doc, clock=clock)
    assert codes(clinic, doc) == ["ae-grade-2-persistent"]


def test_the_sweep_is_site_scoped_and_idempotent(clinic: Clinic, clock: FixedClock) -> None:
    a_doc, b_doc = clinic.actors["clinician_sitea"], clinic.actors["clinician_siteb"]
    running_trial(clinic, clock, "A-001", run_in=0)
    running_trial(clinic, clock, "B-001", run_in=0)
    clock.advance(days=4)
    # Site B's clinician sweeps only site B (this used to raise NotFound on site A's trial).
    [result] = sweeps.sweep_alerts(clinic.db, b_doc, clock=clock)
    assert result.site_code == "SITEB"
    assert [a.code for a in result.raised] == ["missed-diary-days"]
    assert codes(clinic, a_doc) == []
    # Many runs, one alert per run of missed days, acknowledged or not.
    for _ in range(3):
        sweeps.sweep_alerts(clinic.db, a_doc, clock=clock)
    [alert] = alerts.list_alerts(clinic.db, a_doc)
    assert alert.trigger["cause"] == f"missed-diary-days:{(clock().date() - dt.timedelta(4))}"
    alerts.acknowledge_alert(clinic.db, a_doc, alert.id, "phoned", clock=clock)
    clock.advance(days=1)
    sweeps.sweep_alerts(clinic.db, a_doc, clock=clock)
    assert codes(clinic, a_doc, open_only=False) == ["missed-diary-days"]


def test_cli_sweep_prints_what_it_raised(
    clinic: Clinic, clock: FixedClock, database_url: str
) -> None:
    running_trial(clinic, clock, "A-001", run_in=0)
    # The CLI runs on the wall clock: the trial started "today" (2026-03-02) is days old now.
    result = runner.invoke(
        cli, ["alerts", "sweep", "--site", "SITEA", "--database-url", database_url]
    )
    assert result.exit_code == 0, result.output
    assert "SITEA: 1 raised" in result.output
    assert "missed-diary-days" in result.output
    again = runner.invoke(cli, ["alerts", "sweep", "--database-url", database_url])
    assert again.exit_code == 0, again.output
    assert "SITEA: 0 raised" in again.output
    assert "SITEB: 0 raised" in again.output
    missing = runner.invoke(
        cli, ["alerts", "sweep", "--site", "NOPE", "--database-url", database_url]
    )
    assert missing.exit_code == 5


def test_an_overdue_urgent_alert_is_escalated_once(clinic: Clinic, clock: FixedClock) -> None:
    doc = clinic.actors["clinician_sitea"]
    pid = running_trial(clinic, clock, "A-001", run_in=0)
    answers = {f"q{i}": 0 for i in range(1, 10)} | {"q9": 1}
    records.record_diary_entry(
        clinic.db,
        clinic.actors["p_A-001"],
        pid,
        DiaryInput(clock().date(), answers, instrument_id="phq9"),
        clock=clock,
    )
    clock.advance(hours=23)
    assert alerts.overdue_alerts(clinic.db, doc, clock=clock) == []
    assert sweeps.escalate_due(clinic.db, clock=clock) == []
    clock.advance(hours=2)
    [overdue] = alerts.overdue_alerts(clinic.db, doc, clock=clock)
    assert overdue.code == "phq9-item9"
    [result] = sweeps.escalate_due(clinic.db, clock=clock)
    assert [a.id for a in result.escalated] == [overdue.id]
    assert sweeps.escalate_due(clinic.db, clock=clock) == []  # once
    assert alerts.overdue_alerts(clinic.db, clinic.actors["clinician_siteb"], clock=clock) == []
    # A site may set its own delay.
    with clinic.db.transaction() as session:
        site = session.execute(select(SiteRow).where(SiteRow.code == "SITEA")).scalar_one()
        site.escalate_after_hours = 48
        escalated = session.execute(select(AlertRow.escalated_at)).scalars().all()
    assert escalated == [clock()]
    assert alerts.overdue_alerts(clinic.db, doc, clock=clock) == []
