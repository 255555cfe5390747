"""Research pseudonym keys: one source (MICROTRIAL_EXPORT_SECRET or a 0600 key file) for the
server and the CLI, never the signing key, never the database; rotation is a command."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import httpx
import pandas as pd
import pytest
from sqlalchemy import inspect
from typer.testing import CliRunner

from helpers import Clinic, FixedClock
from integration.api.live import PASSWORD, LiveServer
from microtrial.cli.main import app as cli
from microtrial.errors import ConflictError, ValidationError
from microtrial.http.app import create_app
from microtrial.http.config import ServerSettings
from microtrial.services import exports
from microtrial.services.demo import DEMO_PASSWORD, build_demo
from microtrial.settings import Settings, export_secret

SECRET = "export-key-for-tests-0123456789abcdef"


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A small demo clinic (8 patients: enough for the export's k = 5)."""
    out = tmp_path_factory.mktemp("keys-demo")
    build_demo(out, n_patients=8)
    return f"sqlite:///{out / 'demo.db'}"


def web_pseudonyms(
    settings: ServerSettings, user: str = "researcher.demo", password: str = DEMO_PASSWORD
) -> tuple[int, list[str], str]:
    """Status, sorted patient pseudonyms and body of the API's research export."""
    with (
        LiveServer(create_app(settings)) as server,
        httpx.Client(base_url=f"{server.url}/api/v1", timeout=30) as api,
    ):
        token = api.post("/auth/token", data={"username": user, "password": password}).json()[
            "access_token"
        ]
        answer = api.get("/cohort/export", headers={"Authorization": f"Bearer {token}"})
    if answer.status_code != 200:
        return answer.status_code, [], answer.text
    with zipfile.ZipFile(io.BytesIO(answer.content)) as archive:
        patients = pd.read_csv(archive.open("patients.csv"))
    return 200, sorted(patients["patient"]), ""


def test_web_and_cli_exports_share_the_configured_key(
    demo_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = ServerSettings(database_url=demo_url, secret_key="k" * 40, export_secret=SECRET)
    status, web, body = web_pseudonyms(settings)
    assert status == 200, body
    monkeypatch.setenv("MICROTRIAL_EXPORT_SECRET", SECRET)
    result = CliRunner().invoke(
        cli,
        ["export", "research", "--out", str(tmp_path / "r"), "--database-url", demo_url],
    )
    assert result.exit_code == 0, result.output
    from_cli = sorted(pd.read_csv(tmp_path / "r" / "patients.csv")["patient"])
    assert len(web) >= 2
    assert web == from_cli
    # the signing key alone does not give the pseudonyms: another export key, other pseudonyms
    other = ServerSettings(
        database_url=demo_url, secret_key="k" * 40, export_secret="another-" + SECRET
    )
    assert set(web_pseudonyms(other)[1]).isdisjoint(web)


def test_without_a_key_the_export_is_refused_and_nothing_is_stored(
    clinic: Clinic,
    database_url: str,
    clock: FixedClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = ServerSettings(database_url=database_url, secret_key="k" * 40)
    status, _, body = web_pseudonyms(settings, "researcher_sitea", PASSWORD)
    assert status == 409
    assert "MICROTRIAL_EXPORT_SECRET" in body
    monkeypatch.delenv("MICROTRIAL_EXPORT_SECRET", raising=False)
    monkeypatch.delenv("MICROTRIAL_EXPORT_SECRET_FILE", raising=False)
    result = CliRunner().invoke(
        cli, ["export", "research", "--out", str(tmp_path / "r"), "--database-url", database_url]
    )
    assert result.exit_code == 7
    assert "no export key is configured" in result.output
    with pytest.raises(ConflictError):
        exports.research_export(clinic.db, clinic.actors["researcher_sitea"], k=2, clock=clock)
    assert "export_keys" not in inspect(clinic.db.engine).get_table_names()


def test_the_key_is_never_the_signing_key(database_url: str) -> None:
    same = ServerSettings(database_url=database_url, secret_key=SECRET, export_secret=SECRET)
    with pytest.raises(ValidationError, match="signing key"):
        create_app(same)
    # the server-only setting of earlier versions is refused, not silently ignored
    old = ServerSettings(database_url=database_url, secret_key="k" * 40, research_secret=SECRET)
    with pytest.raises(ValidationError, match="no longer read"):
        create_app(old)


def test_rotate_key_writes_a_private_key_file_the_settings_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MICROTRIAL_EXPORT_SECRET", raising=False)
    path = tmp_path / "export.key"
    monkeypatch.setenv("MICROTRIAL_EXPORT_SECRET_FILE", str(path))
    keys = []
    for _ in range(2):
        result = CliRunner().invoke(cli, ["export", "rotate-key"])
        assert result.exit_code == 0, result.output
        assert os.stat(path).st_mode & 0o777 == 0o600
        keys.append(export_secret(Settings()))
        assert keys[-1] is not None
        assert len(keys[-1]) >= 48
        assert keys[-1] not in result.output  # never printed
    assert keys[0] != keys[1]
    os.chmod(path, 0o644)
    with pytest.raises(ValidationError, match="readable by other accounts"):
        export_secret(Settings())
