"""Bad inputs to the CLI, one table: each ends in one error line naming the file, field or setting.

Every case runs against a real, populated database: afterwards every table holds the rows it held
before, and no file has appeared in the working folder (nothing half-written, no stray SQLite
file from a mistyped URL).
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, inspect, select, table
from typer.testing import CliRunner

from microtrial.cli.main import app

runner = CliRunner()


def unused_port() -> int:
    """A local TCP port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@dataclass(frozen=True)
class Case:
    """One bad input: the arguments (with {db}, {dir} placeholders) and what the line must name."""

    id: str
    args: tuple[str, ...]
    names: str
    exit_code: int = 2


LATIN1 = b"id: caf\xe9\n"  # "café" in Latin-1: not UTF-8
BINARY = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"

URL = "--database-url"
PG = "postgresql+psycopg://u@127.0.0.1:{port}/x"
PG_SECRET = "postgresql+psycopg://u:s3cret@127.0.0.1:{port}/x"
FOLDER = "{dir}: is a folder, not a file"

CASES = [
    # input files: binary, or not UTF-8 text
    Case("analyze-binary", ("analyze", "{dir}/image.png"), "{dir}/image.png: cannot read"),
    Case(
        "check-instrument-latin1",
        ("catalog", "check-instrument", "{dir}/latin1.yaml"),
        "latin1.yaml: not UTF-8 text (byte 0xe9 at offset 7)",
    ),
    Case(
        "score-definition-binary",
        ("score", "phq9", "--answers", "{{}}", "--definition", "{dir}/image.png"),
        "image.png: binary data",
    ),
    Case(
        "catalog-validate-latin1",
        ("catalog", "validate", "--dir", "{dir}/catalog"),
        "catalog/latin1.yaml: not UTF-8",
    ),
    Case(
        # Windows-1252 is read (with a warning); bytes it does not define are refused.
        "import-redcap-undecodable",
        ("import", "redcap", "{dir}/undecodable.csv", "--dir", "{dir}/instruments"),
        "undecodable.csv: is neither UTF-8 nor Windows-1252 text",
    ),
    Case(
        "import-questionnaire-binary",
        ("import", "questionnaire", "{dir}/image.png", "--dir", "{dir}/instruments"),
        "image.png: binary data",
    ),
    # restore: a file that is no backup, or a backup of the other kind of database
    Case(
        "restore-not-a-backup",
        ("restore", "{dir}/latin1.yaml", URL, "sqlite:///{dir}/restored.db"),
        "latin1.yaml: not a backup made by `microtrial backup`",
    ),
    Case(
        "restore-sqlite-into-postgres",
        ("restore", "{dir}/copy.db", URL, PG),
        "copy.db: a sqlite backup cannot be restored into a postgresql database",
    ),
    # output paths that cannot be written: checked before the database is read
    Case("backup-to-folder", ("backup", "{dir}", URL, "{db}"), "FILE " + FOLDER),
    Case(
        "export-fhir-out-folder",
        ("export", "fhir", "--out", "{dir}", "--site", "LON1", URL, "{db}"),
        "--out " + FOLDER,
    ),
    Case(
        "export-redcap-records-under-a-file",
        ("export", "redcap-records", "--out", "{dir}/latin1.yaml/x.csv", URL, "{db}"),
        "--out {dir}/latin1.yaml/x.csv: {dir}/latin1.yaml is a file, not a folder",
    ),
    Case(
        "export-redcap-dictionary-out-folder",
        ("export", "redcap-dictionary", "--out", "{dir}", "--instrument", "phq9"),
        "--out " + FOLDER,
    ),
    Case(
        "export-research-out-file",
        ("export", "research", "--out", "{dir}/latin1.yaml", URL, "{db}"),
        "--out {dir}/latin1.yaml: is a file, not a folder",
    ),
    Case(
        "trial-ics-out-folder",
        ("trial", "ics", "1", "--out", "{dir}", URL, "{db}"),
        "--out " + FOLDER,
    ),
    Case(
        "trial-kits-pdf-folder",
        ("trial", "kits", "1", "--pdf", "{dir}", URL, "{db}"),
        "--pdf " + FOLDER,
    ),
    Case(
        "report-trial-pdf-folder",
        ("report", "trial", "1", "--pdf", "{dir}", URL, "{db}"),
        "--pdf " + FOLDER,
    ),
    Case(
        "analyze-out-folder", ("analyze", "{dir}/latin1.yaml", "--out", "{dir}"), "--out " + FOLDER
    ),
    Case(
        "rotate-key-folder", ("export", "rotate-key", "--key-file", "{dir}"), "--key-file " + FOLDER
    ),
    # the database setting: a SQLite file in a missing folder, a mistyped file, an unreachable
    # PostgreSQL (password masked), an unsupported URL
    Case(
        "sqlite-missing-folder",
        ("patient", "list", URL, "sqlite:///{dir}/missing/x.db"),
        "database_url: folder {dir}/missing does not exist",
    ),
    Case(
        "sqlite-missing-folder-upgrade",
        ("db", "upgrade", URL, "sqlite:///{dir}/missing/x.db"),
        "database_url: folder {dir}/missing does not exist",
    ),
    Case(
        "sqlite-no-such-file",
        ("patient", "list", URL, "sqlite:///{dir}/typo.db"),
        "database_url: no database at {dir}/typo.db",
    ),
    Case(
        "postgres-unreachable",
        ("patient", "list", URL, PG_SECRET),
        "database: cannot connect to postgresql+psycopg://u:***@127.0.0.1:{port}/x: ",
        exit_code=9,
    ),
    Case(
        "postgres-unreachable-upgrade",
        ("db", "upgrade", URL, PG),
        "database: cannot connect to " + PG,
        exit_code=9,
    ),
    Case(
        "unsupported-database-url",
        ("site", "list", URL, "mysql://x/y"),
        "database_url: unsupported database 'mysql'",
    ),
]


def row_counts(url: str) -> dict[str, int]:
    """Rows in every table of the database at ``url``."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                name: conn.execute(select(func.count()).select_from(table(name))).scalar_one()
                for name in inspect(conn).get_table_names()
            }
    finally:
        engine.dispose()


def files_under(folder: Path) -> set[Path]:
    return set(folder.rglob("*"))


@pytest.fixture
def workspace(tmp_path: Path) -> tuple[Path, str]:
    """A folder of bad input files and a populated SQLite database outside it."""
    folder = tmp_path / "work"
    folder.mkdir()
    (folder / "latin1.yaml").write_bytes(LATIN1)
    (folder / "undecodable.csv").write_bytes(b"Variable / Field Name,Form Name\nq\x81,f\n")
    (folder / "image.png").write_bytes(BINARY)
    (folder / "catalog").mkdir()
    (folder / "catalog" / "latin1.yaml").write_bytes(LATIN1)
    url = f"sqlite:///{tmp_path / 'clinic.db'}"
    for args in (
        ("db", "upgrade"),
        ("site", "add", "LON1", "--name", "London"),
        ("patient", "add", "--site", "LON1", "--code", "P-001", "--birth-year", "1975",
         "--sex", "female", "--tz", "Europe/London", "--condition", "G43.909"),
        ("backup", str(folder / "copy.db")),
    ):  # fmt: skip
        result = runner.invoke(app, [*args, "--database-url", url])
        assert result.exit_code == 0, result.stderr
    return folder, url


def fill(text: str, folder: Path, url: str, port: int) -> str:
    return text.format(dir=folder, db=url, port=port)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_input_is_one_line_and_writes_nothing(case: Case, workspace: tuple[Path, str]) -> None:
    folder, url = workspace
    port = unused_port()
    args = [fill(a, folder, url, port) for a in case.args]
    counts, files = row_counts(url), files_under(folder)

    result = runner.invoke(app, args)

    lines = result.stderr.splitlines()
    assert result.exit_code == case.exit_code, result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert fill(case.names, folder, url, port) in lines[0]
    assert "Traceback" not in result.output
    assert result.stdout == ""
    assert "s3cret" not in result.output
    assert row_counts(url) == counts
    assert files_under(folder) == files


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into a read-only folder")
def test_unwritable_folder_is_refused_before_the_database_is_read(
    workspace: tuple[Path, str],
) -> None:
    folder, url = workspace
    locked = folder / "locked"
    locked.mkdir(mode=0o500)
    counts = row_counts(url)
    result = runner.invoke(
        app,
        [
            "export",
            "fhir",
            "--out",
            str(locked / "b.json"),
            "--site",
            "LON1",
            "--database-url",
            url,
        ],
    )
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"error: --out {locked / 'b.json'}: folder {locked} is not writable"
    ]
    assert row_counts(url) == counts


def test_unexpected_errors_are_one_line_unless_debugging(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug stays visible: one line naming the exception, the traceback with MICROTRIAL_DEBUG=1."""
    from microtrial.cli import catalog_cmds

    def broken() -> None:
        raise KeyError("a programming error")

    monkeypatch.setattr(catalog_cmds, "load_catalog", broken)
    result = runner.invoke(app, ["catalog", "list"])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "error: internal error: KeyError: 'a programming error' "
        "(run with MICROTRIAL_DEBUG=1 for the traceback)"
    ]
    monkeypatch.setenv("MICROTRIAL_DEBUG", "1")
    result = runner.invoke(app, ["catalog", "list"])
    assert isinstance(result.exception, KeyError)


def test_usage_errors_stay_usage_errors() -> None:
    """Typer's own answer to a wrong command line (exit 2) is not taken for a bug."""
    result = runner.invoke(app, ["catalog", "validate", "extra"])
    assert result.exit_code == 2
    assert "unexpected extra argument" in result.output
    assert "internal error" not in result.output


def test_version() -> None:
    from importlib.metadata import version

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout == f"microtrial {version('microtrial')}\n"


# Commands that never open the clinic database, and what they touch instead.
NO_DATABASE = {
    "demo": "builds its own fresh database in --out",
    "screen": "the packaged catalog",
    "score": "the packaged catalog or a definition file",
    "analyze": "CSV/Parquet files",
    "pool": "CSV/Parquet files",
    "power": "nothing: a calculation",
    "blinding": "CSV files",
    "catalog show": "the packaged catalog",
    "catalog validate": "catalog files",
    "catalog check-instrument": "an instrument file",
    "export rotate-key": "the export key file",
    # catalog list, import redcap|questionnaire and export redcap-dictionary open no database
    # but take --database-url: a relative instrument folder lies beside the SQLite file
}


def commands() -> dict[str, list[str]]:
    """Every leaf command of the CLI, by its full name, with its option names."""
    import typer.main

    found: dict[str, list[str]] = {}

    def walk(command: object, prefix: list[str]) -> None:
        subcommands = getattr(command, "commands", None)
        if subcommands is not None:
            for name, sub in subcommands.items():
                walk(sub, [*prefix, name])
            return
        params = getattr(command, "params", [])
        found[" ".join(prefix)] = [option for p in params for option in p.opts]

    walk(typer.main.get_command(app), [])
    return found


def test_every_command_that_opens_the_database_takes_database_url() -> None:
    """A command lacks --database-url only if it is listed above as not opening the database."""
    lacking = {name for name, options in commands().items() if "--database-url" not in options}
    assert lacking == set(NO_DATABASE)
    assert len(commands()) > len(NO_DATABASE)  # the walk found the database commands too
