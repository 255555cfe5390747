"""``microtrial serve`` starts Uvicorn with the app: one worker or several sharing one key."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from helpers import Clinic, FixedClock
from integration.api.live import PASSWORD
from microtrial.settings import Settings
from microtrial.store.db import Database

BIN = Path(sys.executable).parent / "microtrial"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serving(database_url: str, *args: str) -> Iterator[str]:
    """Run ``microtrial serve`` until the block ends; yields its base URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MICROTRIAL_")}
    process = subprocess.Popen(
        [str(BIN), "serve", "--port", str(port), "--database-url", database_url, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                output = process.stdout.read().decode() if process.stdout else ""
                pytest.fail(f"serve exited with {process.returncode}: {output}")
            try:
                httpx.get(f"{url}/login", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    pytest.fail("serve did not start in 30 s")
                time.sleep(0.1)
        yield url
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout:
            process.stdout.close()


@pytest.mark.slow
def test_serve_answers_pages_and_api(sqlite_template: Path, tmp_path: Path) -> None:
    shutil.copy(sqlite_template, tmp_path / "serve.db")
    with serving(f"sqlite:///{tmp_path}/serve.db") as url:
        login = httpx.get(f"{url}/login")
        assert login.status_code == 200
        assert "HttpOnly" in login.headers["set-cookie"]
        assert httpx.get(f"{url}/api/v1/openapi.json").status_code == 200
        assert httpx.get(f"{url}/api/v1/me").status_code == 401


@pytest.mark.slow
def test_workers_share_one_signing_key(
    sqlite_template: Path, tmp_path: Path, clock: FixedClock
) -> None:
    shutil.copy(sqlite_template, tmp_path / "workers.db")
    database_url = f"sqlite:///{tmp_path}/workers.db"
    db = Database.from_settings(Settings(database_url=database_url))
    Clinic(db, clock)
    db.dispose()
    with serving(database_url, "--workers", "2") as url:
        token = httpx.post(
            f"{url}/api/v1/auth/token", data={"username": "clinician_sitea", "password": PASSWORD}
        ).json()["access_token"]
        # With two workers, requests land on both: every one must accept the other's token.
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as client:
            statuses = {client.get("/api/v1/me").status_code for _ in range(20)}
        assert statuses == {200}


def test_serve_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            str(BIN),
            "serve",
            "--port",
            str(free_port()),
            "--database-url",
            f"sqlite:///{tmp_path}/empty.db",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if not k.startswith("MICROTRIAL_")},
    )
    assert result.returncode == 7
    assert "microtrial db upgrade" in result.stderr
