"""Production mode refuses a predictable secret and a database where the demo logins work."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from typer.testing import CliRunner

from helpers import Clinic
from microtrial.cli.main import app as cli
from microtrial.domain.actors import system_actor
from microtrial.errors import ConflictError
from microtrial.http.app import require_production_ready
from microtrial.http.config import ServerSettings
from microtrial.services import passwords
from microtrial.services.demo import build_demo
from microtrial.settings import Settings
from microtrial.store.db import Database


def test_production_refuses_the_demo_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = build_demo(tmp_path, n_patients=4)  # plus the demo's adaptive-trial patients
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    production = ServerSettings(
        database_url=url, environment="production", secret_key=secrets.token_urlsafe(32)
    )
    db = Database.from_settings(Settings(database_url=url))
    try:
        with pytest.raises(ConflictError, match="demo login"):
            require_production_ready(production, db)
        require_production_ready(ServerSettings(database_url=url), db)  # development: fine
        # the serve command stops before listening
        monkeypatch.setenv("MICROTRIAL_ENVIRONMENT", "production")
        monkeypatch.setenv("MICROTRIAL_SECRET_KEY", secrets.token_urlsafe(32))
        result = CliRunner().invoke(cli, ["serve", "--database-url", url])
        assert result.exit_code == 7
        assert "demo login" in result.output
        # once every demo login has a password of its own, production accepts the database
        for username in (
            "dr.demo",
            "pharmacist.demo",
            "researcher.demo",
            *(f"patient{i:02d}" for i in range(1, len(summary.patients) + 1)),
        ):
            passwords.set_user_password(db, system_actor(), username, "a fresh clinic password")
        require_production_ready(production, db)
    finally:
        db.dispose()


def test_production_accepts_a_clinic_database(clinic: Clinic, database_url: str) -> None:
    production = ServerSettings(
        database_url=database_url, environment="production", secret_key=secrets.token_urlsafe(32)
    )
    require_production_ready(production, clinic.db)
