"""API acceptance tests run against a real Uvicorn server on the test database."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from helpers import Clinic, FixedClock
from integration.api.live import PASSWORD, LiveServer, Login
from microtrial.http.app import create_app
from microtrial.http.config import ServerSettings


@pytest.fixture
def server(clinic: Clinic, database_url: str, clock: FixedClock) -> Iterator[LiveServer]:
    """The app on Uvicorn over the clinic's database (two sites' users), with the test clock."""
    del clinic  # built first: its users must exist before anyone signs in
    settings = ServerSettings(
        database_url=database_url,
        secret_key="k" * 40,
        login_max_failures=3,
        max_request_bytes=64_000,
    )
    with LiveServer(create_app(settings, clock=clock)) as live:
        yield live


@pytest.fixture
def api(server: LiveServer) -> Iterator[httpx.Client]:
    """An HTTP client for the server's JSON API."""
    with httpx.Client(base_url=f"{server.url}/api/v1", timeout=30) as client:
        yield client


@pytest.fixture
def login(api: httpx.Client) -> Login:
    """Bearer-token headers for a clinic user (tokens cached per username)."""
    cache: dict[str, dict[str, str]] = {}

    def headers(username: str) -> dict[str, str]:
        if username not in cache:
            answer = api.post("/auth/token", data={"username": username, "password": PASSWORD})
            assert answer.status_code == 200, answer.text
            cache[username] = {"Authorization": f"Bearer {answer.json()['access_token']}"}
        return cache[username]

    return headers
