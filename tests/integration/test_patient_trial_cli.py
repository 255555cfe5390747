"""Issue 18 on the command line: a stored patient is screened (and signed off), a trial planned
from the CLI is moved out of draft to completed and unblinded as a named user, and imported
instruments are found through the one configured folder from any working directory."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from helpers import cli_patient, run_cli
from microtrial.cli.main import app
from microtrial.settings import Settings
from microtrial.store.db import Database
from microtrial.store.models import (
    AuditEventRow,
    HistoryFlagRow,
    MedicationRow,
    PeriodRow,
    ScreeningResultRow,
    TrialRow,
)

SECRET = "a long enough secret"


def _add_user(url: tuple[str, str], role: str, username: str) -> None:
    args = ["user", "add", "--site", "LON1", "--role", role, "--username", username]
    result = CliRunner().invoke(app, [*args, "--password-stdin", *url], input=f"{SECRET}\n")
    assert result.exit_code == 0, result.stderr


def _rows(url: str, model: type, **where: object) -> list:  # type: ignore[type-arg]
    db = Database.from_settings(Settings(database_url=url))
    try:
        with db.transaction() as session:
            query = select(model).where(*(getattr(model, k) == v for k, v in where.items()))
            return list(session.execute(query).scalars())
    finally:
        db.dispose()


def _advance(url: str, cli_url: tuple[str, str], trial_id: str, action: str, status: str) -> None:
    """Take one lifecycle step as the clinician and check the stored status."""
    reason = ["--reason", f"{action} from the CLI"] if action != "schedule" else []
    code, out, err = run_cli(
        "trial", "advance", trial_id, action, *reason, "--as", "dr.who", *cli_url
    )
    assert code == 0, f"{action}: {err}"
    assert f"is now {status}" in out
    assert _rows(url, TrialRow)[0].status == status


def _as_if_over(url: str) -> None:
    """Move the one trial's dates a year back: the CLI runs on the wall clock, so this stands in
    for the weeks of the trial passing (its pauses, dated today, then lie after its end)."""
    year = dt.timedelta(days=365)
    db = Database.from_settings(Settings(database_url=url))
    try:
        with db.transaction() as session:
            trial = session.execute(select(TrialRow)).scalar_one()
            assert trial.start_date is not None
            trial.start_date -= year
            for period in session.execute(select(PeriodRow)).scalars():
                period.start_date -= year
                period.end_date -= year
    finally:
        db.dispose()


def test_screen_sign_off_and_every_trial_transition(database_url: str) -> None:
    url = cli_patient(database_url, tz="UTC")
    _add_user(url, "clinician", "dr.who")
    _add_user(url, "researcher", "res.one")

    # a researcher may not screen: one line, nothing stored
    code, _, err = run_cli(
        "patient", "screen", "P-9", "--substance", "psilocybin", "--med", "sertraline",
        "--as", "res.one", *url,
    )  # fmt: skip
    assert code == 6
    assert err.count("\n") == 1
    assert "researcher" in err
    assert _rows(database_url, MedicationRow) == []
    # an unknown history flag is refused before anything is written
    code, _, err = run_cli(
        "patient", "screen", "P-9", "--substance", "psilocybin", "--med", "sertraline",
        "--history", "no-such-flag", *url,
    )  # fmt: skip
    assert code == 2
    assert "no-such-flag" in err
    assert _rows(database_url, MedicationRow) == []

    # a trial planned from the CLI before any screening is a draft
    code, out, err = run_cli(
        "trial", "plan", "--patient", "P-9", "--regimen", "fadiman", "--substance",
        "psilocybin", "--amount", "100", "--unit", "mg dried material",
        "--pairs", "2", "--json", "--as", "dr.who", *url,
    )  # fmt: skip
    assert code == 0, err
    trial_id = str(json.loads(out)["id"])
    assert json.loads(out)["status"] == "draft"
    # the researcher may not move it: refused in one line, status unchanged
    code, _, err = run_cli(
        "trial", "advance", trial_id, "confirm-screening", "--as", "res.one", *url
    )
    assert code == 6
    assert err.count("\n") == 1
    [trial] = _rows(database_url, TrialRow)
    assert trial.status == "draft"
    # out of order: refused, nothing changes
    code, _, err = run_cli("trial", "advance", trial_id, "start", "--as", "dr.who", *url)
    assert code != 0
    assert err.count("\n") == 1
    assert _rows(database_url, TrialRow)[0].status == "draft"
    # no screening yet: it cannot leave draft
    code, _, err = run_cli(
        "trial", "advance", trial_id, "confirm-screening", "--as", "dr.who", *url
    )
    assert code != 0
    assert err.count("\n") == 1
    assert _rows(database_url, TrialRow)[0].status == "draft"

    # every question answered no, no medication, a normal clinic reading: no known issues
    code, out, err = run_cli(
        "patient", "screen", "P-9", "--substance", "psilocybin", "--other-history-no",
        "--bp", "122/78", "--as", "dr.who", "--json", *url,
    )  # fmt: skip
    assert code == 0, err
    stored = json.loads(out)
    assert stored["decision"] == "no-known-issues"
    flags = _rows(database_url, HistoryFlagRow, is_current=True)
    assert flags
    assert all(f.value is False for f in flags)
    [screening] = _rows(database_url, ScreeningResultRow, is_current=True)
    assert (screening.decision, screening.substance) == ("no-known-issues", "psilocybin")

    steps = [
        ("confirm-screening", "screened"),
        ("schedule", "scheduled"),
        ("start", "running"),
        ("pause", "paused"),
        ("resume", "running"),
    ]
    for action, status in steps:
        _advance(database_url, url, trial_id, action, status)
    # before the last period has ended, completing is refused (one line, still running)
    code, _, err = run_cli(
        "trial", "advance", trial_id, "complete", "--reason", "done", "--as", "dr.who", *url
    )
    assert code == 7
    assert "last period" in err
    assert _rows(database_url, TrialRow)[0].status == "running"
    _as_if_over(database_url)
    _advance(database_url, url, trial_id, "complete", "completed")
    code, out, err = run_cli("trial", "unblind", trial_id, "--as", "dr.who", *url)
    assert code == 0, err
    [trial] = _rows(database_url, TrialRow)
    assert trial.status == "unblinded"
    assert trial.unblinded_early is False
    # the audit names the clinician for each step, not the operator
    moves = _rows(database_url, AuditEventRow, entity="trial")
    assert {"confirm-screening", "start", "complete", "unblind"} <= {m.action for m in moves}
    assert all(m.actor == "dr.who" for m in moves if m.action != "read")


def test_do_not_start_and_sign_off_refusals(database_url: str) -> None:
    url = cli_patient(database_url, tz="UTC")
    _add_user(url, "clinician", "dr.who")
    code, out, err = run_cli(
        "patient", "screen", "P-9", "--substance", "psilocybin", "--other-history-no",
        "--med", "Lithobid 300 mg ER tab", "--as", "dr.who", *url,
    )  # fmt: skip
    assert code == 4, err
    assert "decision: do-not-start" in out
    [med] = _rows(database_url, MedicationRow)
    assert med.name_as_entered == "Lithobid 300 mg ER tab"
    [screening] = _rows(database_url, ScreeningResultRow, is_current=True)
    assert screening.decision == "do-not-start"
    # screening again with the same medication does not add it twice
    code, _, _ = run_cli(
        "patient", "screen", "P-9", "--substance", "psilocybin",
        "--med", "lithobid 300 mg er tab", *url,
    )  # fmt: skip
    assert code == 4
    assert len(_rows(database_url, MedicationRow)) == 1
    # a do-not-start cannot be signed off; the operator cannot sign off at all
    code, _, err = run_cli(
        "patient", "sign-off", "P-9", "--substance", "psilocybin", "--reason", "seen",
        "--as", "dr.who", *url,
    )  # fmt: skip
    assert code == 8
    assert "do-not-start" in err
    assert _rows(database_url, ScreeningResultRow, is_current=True)[0].signed_off_at is None
    # a trial planned on a do-not-start screening stays a draft
    code, out, err = run_cli(
        "trial", "plan", "--patient", "P-9", "--regimen", "fadiman", "--substance",
        "psilocybin", "--amount", "100", "--unit", "mg dried material", "--json", *url,
    )  # fmt: skip
    assert code == 0, err
    trial_id = str(json.loads(out)["id"])
    code, _, err = run_cli("trial", "advance", trial_id, "confirm-screening", *url)
    assert code != 0
    assert err.count("\n") == 1
    assert _rows(database_url, TrialRow)[0].status == "draft"
    # withdrawing needs a reason; with one, the draft trial is withdrawn
    code, _, err = run_cli("trial", "advance", trial_id, "withdraw", *url)
    assert code == 2
    assert "reason" in err
    assert _rows(database_url, TrialRow)[0].status == "draft"
    code, out, err = run_cli("trial", "advance", trial_id, "withdraw", "--reason", "lithium", *url)
    assert code == 0, err
    assert _rows(database_url, TrialRow)[0].status == "withdrawn"


def test_clinician_review_is_signed_off_by_a_named_clinician(database_url: str) -> None:
    url = cli_patient(database_url, tz="UTC")
    _add_user(url, "clinician", "dr.who")
    # questions left unanswered: a clinician must review
    code, out, err = run_cli("patient", "screen", "P-9", "--substance", "lsd", *url)
    assert code == 3, err
    assert "decision: clinician-review" in out
    base = ("patient", "sign-off", "P-9", "--substance", "lsd", "--reason", "reviewed")
    code, _, err = run_cli(*base, "--as", "nobody", *url)
    assert code == 5
    assert _rows(database_url, ScreeningResultRow, is_current=True)[0].signed_off_at is None
    code, out, err = run_cli(*base, "--as", "dr.who", *url)
    assert code == 0, err
    assert "signed off by dr.who" in out
    [current] = _rows(database_url, ScreeningResultRow, is_current=True)
    assert (current.signed_off_by, current.sign_off_reason) == ("dr.who", "reviewed")
    code, _, err = run_cli(*base, "--as", "dr.who", *url)
    assert code == 7
    assert "already signed off" in err


QUESTIONNAIRE = {
    "resourceType": "Questionnaire",
    "status": "active",
    "name": "MorningCheck",
    "title": "Morning check",
    "item": [{"linkId": "rested", "text": "Rested?", "type": "boolean", "required": True}],
}


def test_imported_instrument_found_from_another_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "clinic"
    data.mkdir()
    url = ("--database-url", f"sqlite:///{data / 'microtrial.db'}")
    monkeypatch.delenv("MICROTRIAL_INSTRUMENT_DIR", raising=False)
    source = tmp_path / "q.json"
    source.write_text(json.dumps(QUESTIONNAIRE))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli("import", "questionnaire", str(source), *url)
    assert code == 0, err
    saved = sorted(p.name for p in (data / "instruments").glob("*.yaml"))
    assert len(saved) == 1
    assert not (tmp_path / "instruments").exists()  # not the working directory
    monkeypatch.chdir(elsewhere)
    code, out, err = run_cli("catalog", "list", "--kind", "user", "--json", *url)
    assert code == 0, err
    assert Path(saved[0]).stem in json.loads(out)["user"]
    # the database's services see it too (the same function resolves the folder)
    settings = Settings(database_url=url[1])
    assert settings.instrument_path() == data / "instruments"
    db = Database.from_settings(settings)
    try:
        assert db.instruments.find(Path(saved[0]).stem) is not None
    finally:
        db.dispose()
    # an absolute setting is used as it is
    monkeypatch.setenv("MICROTRIAL_INSTRUMENT_DIR", str(tmp_path / "shared"))
    assert Settings(database_url=url[1]).instrument_path() == tmp_path / "shared"
