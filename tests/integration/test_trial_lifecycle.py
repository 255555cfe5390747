"""A trial's whole life through the services and the CLI; the arm never leaks before unblinding."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from helpers import Clinic, FixedClock
from microtrial.cli.main import app
from microtrial.domain.actors import Actor
from microtrial.domain.design import DesignSpec
from microtrial.errors import ConflictError, PermissionDenied, SafetyBlock, ValidationError
from microtrial.interop.ical import calendar_to_ics
from microtrial.services import (
    alerts,
    dosing,
    patients,
    records,
    screening,
    trial_allocation,
    trial_lifecycle,
    trial_planning,
    trial_views,
)
from microtrial.services.records import DiaryInput
from microtrial.services.trial_planning import RegimenChoice

ARM_WORDS = ("placebo", "active")
REGIMEN = RegimenChoice(
    template="fadiman", substance="psilocybin", amount=100, unit="mg dried material"
)
SPEC = DesignSpec(run_in_days=7, pairs=2, period_days=14, wash_in_days=3)


def screened_patient(clinic: Clinic, clock: FixedClock) -> tuple[Actor, int]:
    doc = clinic.actors["clinician_sitea"]
    pid = clinic.patients["A-001"].id
    for flag in screening.history_flag_ids():
        patients.set_history_flag(clinic.db, doc, pid, flag, False, clock=clock)
    assert screening.screen_patient(clinic.db, doc, pid, "psilocybin").decision == "no-known-issues"
    return doc, pid


def calendar_json(calendar: object) -> str:
    return json.dumps(
        [
            {k: str(v) for k, v in vars(d).items()}
            for d in calendar.days  # type: ignore[attr-defined]
        ]
    )


def assert_no_arm(payloads: list[str]) -> None:
    for text in payloads:
        lowered = text.lower()
        for word in ARM_WORDS:
            assert word not in lowered, f"{word!r} leaked in: {text[:300]}"


def test_lifecycle_conceals_the_allocation_until_unblinding(
    clinic: Clinic, clock: FixedClock
) -> None:
    doc, pid = screened_patient(clinic, clock)
    me = clinic.actors["p_A-001"]
    pharmacist = clinic.actors["unblinded_staff_sitea"]
    researcher = clinic.actors["researcher_sitea"]
    trial = trial_planning.plan_trial(
        clinic.db, doc, pid, REGIMEN, SPEC, start_date=clock().date(), seed=11, clock=clock
    )
    assert trial.status == "screened"
    seen: list[str] = []
    for step in ("schedule", "start"):
        seen.append(
            trial_lifecycle.transition(
                clinic.db, doc, trial.id, step, clock=clock
            ).model_dump_json()
        )
    for who in (doc, me):
        seen.append(trial_views.get_trial(clinic.db, who, trial.id).model_dump_json())
        calendar = trial_views.trial_calendar(clinic.db, who, trial.id)
        seen.append(calendar_json(calendar))
        seen.append(calendar_to_ics(calendar, uid_prefix="t", generated_at=clock()))
        seen.append(json.dumps(dosing.adherence(clinic.db, who, trial.id, clock=clock)))
        seen.extend(t.model_dump_json() for t in trial_views.list_trials(clinic.db, who))
    with pytest.raises(PermissionDenied):
        trial_views.get_trial(clinic.db, researcher, trial.id)
    with pytest.raises(PermissionDenied):
        trial_allocation.kit_preparation(clinic.db, doc, trial.id)
    with pytest.raises(PermissionDenied):
        trial_allocation.kit_preparation(clinic.db, me, trial.id)

    # a run through the periods: diary, doses on dose days, guesses at period ends
    calendar = trial_views.trial_calendar(clinic.db, me, trial.id)
    for day in calendar.days:
        clock.now = dt.datetime.combine(day.date, dt.time(20), tzinfo=dt.UTC)
        records.record_diary_entry(
            clinic.db, me, pid, DiaryInput(day.date, {"average_pain": 5}), clock=clock
        )
        if day.is_dose_day:
            dose = dosing.record_dose(
                clinic.db,
                me,
                trial.id,
                taken_at=clock.now - dt.timedelta(hours=10),
                kit_code=str(day.kit_code),
                clock=clock,
            )
            seen.append(dose.model_dump_json())
        period = next((p for p in trial.periods if p.end_date == day.date), None)
        if period is not None:
            guess = dosing.record_guess(
                clinic.db, me, trial.id, period.number, "dont_know", 50, clock=clock
            )
            seen.append(guess.model_dump_json())
    seen.extend(a.model_dump_json() for a in alerts.list_alerts(clinic.db, doc, open_only=False))
    assert json.loads(seen[-1] if seen else "{}") is not None
    adherence = dosing.adherence(clinic.db, doc, trial.id, clock=clock)
    assert adherence["planned"] == adherence["taken"] > 0
    assert adherence["deviations"] == []
    clock.advance(days=1)
    done = trial_lifecycle.transition(
        clinic.db, doc, trial.id, "complete", reason="all periods done", clock=clock
    )
    seen.append(done.model_dump_json())
    assert_no_arm(seen)

    prep = trial_allocation.kit_preparation(clinic.db, pharmacist, trial.id)
    arms_by_kit = {k.code: k.arm for k in prep.kits}
    assert sorted(arms_by_kit.values()) == ["active", "active", "placebo", "placebo"]
    unblinded = trial_lifecycle.unblind_trial(clinic.db, doc, trial.id, clock=clock)
    assert unblinded.status == "unblinded"
    assert not unblinded.unblinded_early
    assert {p.kit_code: p.arm for p in unblinded.periods} == arms_by_kit
    for p in unblinded.periods:  # each block holds each arm once
        block = [q.arm for q in unblinded.periods if q.block == p.block]
        assert sorted(block) == ["active", "placebo"]


def test_emergency_unblinding_needs_a_reason_and_is_marked(
    clinic: Clinic, clock: FixedClock
) -> None:
    doc, pid = screened_patient(clinic, clock)
    trial = trial_planning.plan_trial(
        clinic.db, doc, pid, REGIMEN, SPEC, start_date=clock().date(), clock=clock
    )
    trial_lifecycle.transition(clinic.db, doc, trial.id, "schedule", clock=clock)
    trial_lifecycle.transition(clinic.db, doc, trial.id, "start", clock=clock)
    with pytest.raises(ValidationError, match="reason"):
        trial_lifecycle.unblind_trial(clinic.db, doc, trial.id, "  ")
    assert trial_views.get_trial(clinic.db, doc, trial.id).status == "running"
    done = trial_lifecycle.unblind_trial(
        clinic.db, doc, trial.id, "suspected serotonin toxicity in ED", clock=clock
    )
    assert done.unblinded_early
    assert done.unblind_reason == "suspected serotonin toxicity in ED"
    assert all(p.arm in ("active", "placebo") for p in done.periods)
    from sqlalchemy import select

    from microtrial.store.models import AuditEventRow

    with clinic.db.transaction() as session:
        event = session.execute(
            select(AuditEventRow).where(AuditEventRow.action == "unblind")
        ).scalar_one()
    assert event.detail == {"early": True, "reason": "suspected serotonin toxicity in ED"}
    assert event.actor == "clinician_sitea"
    # a dose reported after the end is still a fact: stored as a deviation, urgently alerted
    late = dosing.record_dose(
        clinic.db,
        clinic.actors["p_A-001"],
        trial.id,
        taken_at=clock(),
        kit_code=done.periods[0].kit_code,
        clock=clock,
    )
    assert "dose-during-hold" in (late.deviation or "")


def test_lifecycle_guards(clinic: Clinic, clock: FixedClock) -> None:
    doc = clinic.actors["clinician_sitea"]
    pid = clinic.patients["A-001"].id
    trial = trial_planning.plan_trial(
        clinic.db, doc, pid, REGIMEN, SPEC, start_date=clock().date(), clock=clock
    )
    assert trial.status == "draft"  # never screened
    with pytest.raises(SafetyBlock, match="no psilocybin screening"):
        trial_lifecycle.transition(clinic.db, doc, trial.id, "confirm-screening")
    with pytest.raises(ConflictError, match="cannot start a draft"):
        trial_lifecycle.transition(clinic.db, doc, trial.id, "start")
    with pytest.raises(ConflictError, match="open trial"):
        trial_planning.plan_trial(
            clinic.db, doc, pid, REGIMEN, SPEC, start_date=clock().date(), clock=clock
        )
    with pytest.raises(ValidationError, match="start_date"):
        trial_planning.plan_trial(
            clinic.db,
            doc,
            clinic.patients["A-002"].id,
            REGIMEN,
            SPEC,
            start_date=clock().date() - dt.timedelta(days=1),
            clock=clock,
        )
    with pytest.raises(ValidationError, match="pairs"):
        DesignSpec(pairs=9)
    with pytest.raises(ConflictError, match="version"):
        trial_lifecycle.transition(
            clinic.db, doc, trial.id, "withdraw", reason="x", expected_version=99
        )
    other = clinic.actors["clinician_siteb"]
    from microtrial.errors import NotFound

    with pytest.raises(NotFound):
        trial_views.get_trial(clinic.db, other, trial.id)
    with pytest.raises(NotFound):
        trial_views.get_trial(clinic.db, clinic.actors["p_A-002"], trial.id)


def run_cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_trial_cli_plans_shows_kits_and_unblinds(database_url: str, tmp_path: Path) -> None:
    url = ("--database-url", database_url)
    assert run_cli("db", "upgrade", *url)[0] == 0
    assert run_cli("site", "add", "LON1", *url)[0] == 0
    assert (
        run_cli(
            "patient",
            "add",
            "--site",
            "LON1",
            "--code",
            "P-9",
            "--birth-year",
            "1970",
            "--sex",
            "male",
            "--tz",
            "America/New_York",
            *url,
        )[0]
        == 0
    )
    start = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    code, out, err = run_cli(
        "trial",
        "plan",
        "--patient",
        "P-9",
        "--regimen",
        "twice_weekly",
        "--weekday",
        "mon",
        "--weekday",
        "thu",
        "--substance",
        "lsd",
        "--amount",
        "10",
        "--unit",
        "µg",
        "--start",
        start,
        "--pairs",
        "2",
        "--json",
        *url,
    )
    assert code == 0, err
    planned = json.loads(out)
    assert planned["status"] == "draft"
    assert len(planned["periods"]) == 4
    code, out, err = run_cli("trial", "show", str(planned["id"]), "--json", *url)
    assert code == 0, err
    shown = json.loads(out)
    dose_days = [d for d in shown["calendar"] if d["dose"]]
    assert {dt.date.fromisoformat(d["date"]).weekday() for d in dose_days} == {0, 3}
    assert_no_arm([out])
    pdf = tmp_path / "kits.pdf"
    # no kits for a draft trial (not screened, not scheduled)
    code, out, err = run_cli("trial", "kits", str(planned["id"]), "--pdf", str(pdf), *url)
    assert code != 0
    assert "not a draft one" in err
    assert not pdf.exists()
    ics = tmp_path / "doses.ics"
    assert run_cli("trial", "ics", str(planned["id"]), "--out", str(ics), *url)[0] == 0
    assert ics.read_text().count("BEGIN:VEVENT") == len(dose_days)
    code, _, err = run_cli("trial", "unblind", str(planned["id"]), *url)
    assert code != 0
    assert "status" in err
    code, _, err = run_cli(
        "trial",
        "plan",
        "--patient",
        "P-9",
        "--regimen",
        "nope",
        "--substance",
        "lsd",
        "--amount",
        "1",
        "--unit",
        "µg",
        *url,
    )
    assert code == 2
    assert "fadiman" in err
