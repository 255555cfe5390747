"""Where the user instrument folder lies (``Settings.instrument_path``), for each kind of URL."""

from __future__ import annotations

from pathlib import Path

import pytest

from microtrial.settings import Settings


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MICROTRIAL_INSTRUMENT_DIR", raising=False)


def test_relative_folder_lies_beside_the_sqlite_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    absolute = Settings(database_url="sqlite:////srv/clinic/clinic.db")
    assert absolute.instrument_path() == Path("/srv/clinic/instruments")
    # a relative database file is itself taken from the working directory
    relative = Settings(database_url="sqlite:///data/clinic.db", instrument_dir="forms/own")
    assert relative.instrument_path() == tmp_path / "data" / "forms" / "own"


def test_without_a_database_file_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for url in ("postgresql+psycopg://u@127.0.0.1:5432/db", "sqlite://", "not a url"):
        assert Settings(database_url=url).instrument_path() == tmp_path / "instruments"


def test_an_absolute_folder_is_used_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MICROTRIAL_INSTRUMENT_DIR", "/opt/forms")
    for url in ("sqlite:////srv/clinic/clinic.db", "postgresql+psycopg://u@h/db"):
        assert Settings(database_url=url).instrument_path() == Path("/opt/forms")
