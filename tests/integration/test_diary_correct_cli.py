"""``microtrial diary correct``: a saved day corrected from the command line, the reason kept."""

from __future__ import annotations

import datetime as dt

from helpers import cli_patient, run_cli
from microtrial.domain.actors import system_actor
from microtrial.services import patients
from microtrial.services.diary_corrections import diary_day
from microtrial.settings import Settings
from microtrial.store.db import Database


def test_cli_corrects_a_day_and_keeps_the_first_version(database_url: str) -> None:
    url = cli_patient(database_url, tz="UTC")
    today = dt.datetime.now(dt.UTC).date().isoformat()
    base = ("--site", "LON1", "--code", "P-9", "--date", today, *url)
    code, out, err = run_cli("diary", "add", *base, "--pain", "6")
    assert code == 0, err
    code, out, err = run_cli(
        "diary", "correct", *base, "--pain", "4", "--answer", "sleep_quality=8",
        "--note", "phoned the clinic", "--reason", "patient phoned: entered 6 by mistake",
    )  # fmt: skip
    assert code == 0, err
    assert "version 2" in out
    code, out, err = run_cli("diary", "correct", *base, "--pain", "11", "--reason", "typo")
    assert code == 2
    assert "average_pain" in err
    code, out, err = run_cli("diary", "correct", *base, "--pain", "3", "--reason", " ")
    assert code == 2
    assert "reason" in err
    db = Database.from_settings(Settings(database_url=url[1]))
    try:
        actor = system_actor()
        patient = patients.find_patient(db, actor, "LON1", "P-9")
        versions = diary_day(db, actor, patient.id, dt.date.fromisoformat(today))["daily_diary"]
        assert [(v.answers, v.note, v.change_reason) for v in versions] == [
            ({"average_pain": 6}, None, None),
            (
                {"average_pain": 4, "sleep_quality": 8},
                "phoned the clinic",
                "patient phoned: entered 6 by mistake",
            ),
        ]
        assert versions[1].recorded_by.startswith("system")
    finally:
        db.dispose()


def test_cli_sets_a_users_new_password_with_the_usual_rules(database_url: str) -> None:
    from typer.testing import CliRunner

    from microtrial.cli.main import app
    from microtrial.services import auth

    url = cli_patient(database_url, tz="UTC")
    runner = CliRunner()

    def cli(*args: str, stdin: str) -> tuple[int, str, str]:
        result = runner.invoke(app, list(args), input=stdin)
        return result.exit_code, result.stdout, result.stderr

    add = ("user", "add", "--site", "LON1", "--role", "clinician", "--username", "dr.x")
    code, out, err = cli(*add, "--email", "x@example.org", "--password-stdin", *url,
                         stdin="first long secret\n")  # fmt: skip
    assert code == 0, err
    code, out, err = cli("user", "set-password", "dr.x", "--password-stdin", *url, stdin="short\n")
    assert code == 2
    assert "at least 12 characters" in err
    code, out, err = cli(
        "user", "set-password", "dr.x", "--password-stdin", *url, stdin="second long secret\n"
    )
    assert code == 0, err
    assert "new password for dr.x set" in out
    db = Database.from_settings(Settings(database_url=url[1]))
    try:
        assert auth.authenticate(db, "dr.x", "second long secret") is not None
        assert auth.authenticate(db, "dr.x", "first long secret") is None
    finally:
        db.dispose()
