"""Edge protections (issue 16, finding 16): trusted proxies only, HSTS over TLS, rate limits on
costly requests, diary Idempotency-Keys scoped per user."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from typer.testing import CliRunner

from helpers import Clinic, FixedClock
from integration.api.live import PASSWORD, LiveServer, Login
from microtrial.cli.main import app as cli
from microtrial.http.app import create_app
from microtrial.http.config import ServerSettings


@contextmanager
def api_on(database_url: str, clock: FixedClock, **settings: object) -> Iterator[httpx.Client]:
    """A live server with ``settings``, and an API client on it."""
    config = ServerSettings(database_url=database_url, secret_key="k" * 40, **settings)
    with (
        LiveServer(create_app(config, clock=clock)) as server,
        httpx.Client(base_url=f"{server.url}/api/v1", timeout=30) as client,
    ):
        yield client


def failed_login(api: httpx.Client, name: str, forwarded_for: str) -> int:
    """Status of a wrong password for ``name`` sent through a proxy for ``forwarded_for``."""
    answer = api.post(
        "/auth/token",
        data={"username": name, "password": "x" * 12},
        headers={"X-Forwarded-For": forwarded_for},
    )
    return answer.status_code


@pytest.mark.usefixtures("clinic")
def test_forwarded_addresses_count_only_from_a_trusted_proxy(
    database_url: str, clock: FixedClock
) -> None:
    # trusted: each forwarded client has its own address budget
    with api_on(
        database_url, clock, trusted_proxies="127.0.0.1", login_client_free_failures=2
    ) as api:
        assert [failed_login(api, f"a{i}", "203.0.113.9") for i in range(3)] == [401, 401, 429]
        assert failed_login(api, "b0", "198.51.100.7") == 401
        tls = api.get("/me", headers={"X-Forwarded-Proto": "https"})
        assert tls.headers["strict-transport-security"].startswith("max-age=31536000")
        assert "strict-transport-security" not in api.get("/me").headers
    clock.advance(hours=1)
    # not configured: the headers are ignored, every request is the local peer's
    with api_on(database_url, clock, login_client_free_failures=2) as api:
        assert [failed_login(api, f"c{i}", "203.0.113.10") for i in range(2)] == [401, 401]
        assert failed_login(api, "d0", "198.51.100.8") == 429  # the same (real) address
        forged = api.get("/me", headers={"X-Forwarded-Proto": "https"})
        assert "strict-transport-security" not in forged.headers


def test_serve_refuses_proxy_headers_without_named_proxies(database_url: str) -> None:
    for extra in ([], ["--forwarded-allow-ips", "*"]):
        result = CliRunner().invoke(
            cli, ["serve", "--proxy-headers", *extra, "--database-url", database_url]
        )
        assert result.exit_code == 2, result.output
        assert "trusted_proxies" in result.output or "forwarded-allow-ips" in result.output


@pytest.mark.usefixtures("clinic")
def test_costly_requests_are_rate_limited_per_user(database_url: str, clock: FixedClock) -> None:
    with api_on(database_url, clock, costly_per_minute=3) as api:

        def bearer(username: str) -> dict[str, str]:
            answer = api.post("/auth/token", data={"username": username, "password": PASSWORD})
            return {"Authorization": f"Bearer {answer.json()['access_token']}"}

        researcher, other = bearer("researcher_sitea"), bearer("researcher_siteb")
        assert [api.get("/cohort", headers=researcher).status_code for _ in range(3)] == [200] * 3
        limited = api.get("/cohort", headers=researcher)
        assert limited.status_code == 429
        assert 0 < int(limited.headers["retry-after"]) <= 60
        assert api.get("/cohort", headers=other).status_code == 200  # per user
        for _ in range(3):  # exports count apart from the cohort
            assert api.get("/cohort/export", headers=researcher).status_code != 429
        assert api.get("/cohort/export", headers=researcher).status_code == 429
        clock.advance(seconds=61)
        assert api.get("/cohort", headers=researcher).status_code == 200
        # the web pages count too (unsigned: per address), answered in words
        pages = [api.get(f"{api.base_url.copy_with(path='/research')}") for _ in range(4)]
        assert 429 not in [p.status_code for p in pages[:3]]
        assert pages[3].status_code == 429
        assert pages[3].text.startswith("Too many requests for cohorts.")


def test_diary_keys_are_scoped_per_user(api: httpx.Client, login: Login, clinic: Clinic) -> None:
    """A clinician reusing the key a patient sent creates their own entry (no cross replay)."""
    pid = clinic.patients["A-001"].id
    key = str(uuid.uuid4())
    mine = {"local_date": "2026-03-01", "answers": {"average_pain": 6}}
    theirs = {"local_date": "2026-03-02", "answers": {"average_pain": 3}}
    patient = {**login("p_A-001"), "Idempotency-Key": key}
    clinician = {**login("clinician_sitea"), "Idempotency-Key": key}
    assert api.post(f"/patients/{pid}/diary-entries", json=mine, headers=patient).status_code == 201
    second = api.post(f"/patients/{pid}/diary-entries", json=theirs, headers=clinician)
    assert second.status_code == 201, second.text
    replay = api.post(f"/patients/{pid}/diary-entries", json=mine, headers=patient)
    assert replay.status_code == 201
    stored = api.get(f"/patients/{pid}/diary-entries", headers=patient).json()["items"]
    assert sorted(e["local_date"] for e in stored) == ["2026-03-01", "2026-03-02"]
