"""The foundation CLI end to end on a real database: happy path and one-line errors."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from microtrial.cli.main import app

runner = CliRunner()


def invoke(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), input=stdin)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def url(database_url: str) -> str:
    code, _out, err = invoke("db", "upgrade", "--database-url", database_url)
    assert code == 0, err
    code, _, err = invoke("site", "add", "LON1", "--name", "London", "--database-url", database_url)
    assert code == 0, err
    return database_url


def patient_codes(url: str) -> list[str]:
    code, out, err = invoke("patient", "list", "--json", "--database-url", url)
    assert code == 0, err
    return [p["study_code"] for p in json.loads(out)]


def test_enrol_list_and_show(url: str) -> None:
    code, out, err = invoke(
        "patient",
        "add",
        "--site",
        "LON1",
        "--code",
        "P-001",
        "--birth-year",
        "1975",
        "--sex",
        "female",
        "--tz",
        "Europe/London",
        "--condition",
        "G43.909",
        "--condition",
        "m79.7",
        "--database-url",
        url,
    )
    assert code == 0, err
    assert "P-001 enrolled at LON1" in out
    assert patient_codes(url) == ["P-001"]
    code, out, err = invoke(
        "patient", "show", "--site", "LON1", "--code", "P-001", "--database-url", url
    )
    assert code == 0, err
    shown = json.loads(out)
    assert [c["icd10_code"] for c in shown["conditions"]] == ["G43.909", "M79.7"]
    assert "name" not in shown


def test_user_add_reads_password_from_stdin(url: str) -> None:
    code, out, err = invoke(
        "user",
        "add",
        "--site",
        "LON1",
        "--role",
        "clinician",
        "--username",
        "dr.who",
        "--password-stdin",
        "--database-url",
        url,
        stdin="a long enough secret\n",
    )
    assert code == 0, err
    assert "dr.who (clinician) created" in out


@pytest.mark.parametrize(
    ("args", "field", "allowed"),
    [
        (
            (
                "user",
                "add",
                "--site",
                "LON1",
                "--role",
                "surgeon",
                "--username",
                "x1",
                "--password-stdin",
            ),
            "role",
            "admin, clinician, unblinded_staff, researcher, patient",
        ),
        (
            (
                "patient",
                "add",
                "--site",
                "NOPE",
                "--code",
                "P-002",
                "--birth-year",
                "1970",
                "--sex",
                "male",
                "--tz",
                "UTC",
            ),
            "site",
            None,
        ),
        (
            (
                "patient",
                "add",
                "--site",
                "LON1",
                "--code",
                "P-002",
                "--birth-year",
                "2031",
                "--sex",
                "male",
                "--tz",
                "UTC",
            ),
            "birth_year",
            "1900..",
        ),
        (
            (
                "patient",
                "add",
                "--site",
                "LON1",
                "--code",
                "P-002",
                "--birth-year",
                "1970",
                "--sex",
                "unknown",
                "--tz",
                "UTC",
            ),
            "sex",
            "female, male, other",
        ),
        (
            (
                "patient",
                "add",
                "--site",
                "LON1",
                "--code",
                "P-002",
                "--birth-year",
                "1970",
                "--sex",
                "male",
                "--tz",
                "Mars/Olympus",
            ),
            "tz",
            "IANA",
        ),
        (
            (
                "diary",
                "add",
                "--site",
                "LON1",
                "--code",
                "P-001",
                "--date",
                "2026-02-30",
                "--pain",
                "4",
            ),
            "date",
            "YYYY-MM-DD",
        ),
    ],
)
def test_bad_input_gets_one_line_naming_the_field_and_writes_nothing(
    url: str, args: tuple[str, ...], field: str, allowed: str | None
) -> None:
    invoke(
        "patient",
        "add",
        "--site",
        "LON1",
        "--code",
        "P-001",
        "--birth-year",
        "1975",
        "--sex",
        "female",
        "--tz",
        "Europe/London",
        "--database-url",
        url,
    )
    code, _out, err = invoke(*args, "--database-url", url, stdin="a long enough secret\n")
    assert code != 0
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith(f"error: {field}")
    if allowed:
        assert allowed in lines[0]
    assert patient_codes(url) == ["P-001"]


def test_commands_need_a_migrated_database(tmp_path: object) -> None:
    code, _, err = invoke("patient", "list", "--database-url", f"sqlite:///{tmp_path}/new.db")
    assert code != 0
    assert "microtrial db upgrade" in err


@pytest.mark.slow
def test_every_command_has_help() -> None:
    from typer.main import get_command

    root = get_command(app)
    seen = 0

    def walk(cmd: object, path: list[str]) -> None:
        nonlocal seen
        code, out, err = invoke(*path, "--help")
        assert code == 0, (path, err)
        assert "Usage" in out
        seen += 1
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, [*path, name])

    walk(root, [])
    assert seen > 10
