"""Sign-in, tokens, throttling and the protective edges of the API server."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from helpers import FixedClock
from integration.api.live import PASSWORD, LiveServer, Login, sqlite_copy


@pytest.fixture
def database_url(sqlite_template: Path, tmp_path: Path) -> str:
    """SQLite only: tokens, throttling and the server's edges do not depend on the engine."""
    return sqlite_copy(sqlite_template, tmp_path)


def test_token_names_the_user_and_their_scope(api: httpx.Client, login: Login) -> None:
    me = api.get("/me", headers=login("p_A-001"))
    assert me.status_code == 200
    assert me.json()["role"] == "patient"
    assert me.json()["patient_id"] is not None


def test_wrong_password_and_unknown_user_answer_alike(api: httpx.Client) -> None:
    wrong = api.post(
        "/auth/token", data={"username": "clinician_sitea", "password": "nope-nope-nope"}
    )
    unknown = api.post(
        "/auth/token", data={"username": "nobody_here", "password": "nope-nope-nope"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.headers["www-authenticate"] == "Bearer"


def test_repeated_failures_slow_the_account_but_never_lock_the_owner_out(
    api: httpx.Client, clock: FixedClock
) -> None:
    def attempt(password: str) -> httpx.Response:
        return api.post("/auth/token", data={"username": "clinician_sitea", "password": password})

    for _ in range(3):  # the server fixture allows 3 free failures
        assert attempt("x" * 12).status_code == 401
    slowed = attempt(PASSWORD)  # even the right password waits: no guess gets through early
    assert slowed.status_code == 429
    assert int(slowed.headers["retry-after"]) == 1
    # a guesser who keeps going waits longer and longer, up to a minute per guess
    waits = []
    for _ in range(12):
        answer = attempt("x" * 12)
        if answer.status_code == 429:
            waits.append(int(answer.headers["retry-after"]))
            clock.advance(seconds=waits[-1])
            answer = attempt("x" * 12)
        assert answer.status_code == 401
    assert waits == [1, 2, 4, 8, 16, 32, 60, 60, 60, 60, 60, 60]
    # the owner, a minute after the latest wrong guess, signs in (no 15-minute lockout)
    clock.advance(seconds=60)
    assert attempt(PASSWORD).status_code == 200
    assert attempt("x" * 12).status_code == 401  # and their success forgave the failures
    other = api.post("/auth/token", data={"username": "clinician_siteb", "password": PASSWORD})
    assert other.status_code == 200


def test_a_shared_address_is_not_locked_by_a_few_dozen_failures(api: httpx.Client) -> None:
    """A clinic's staff behind one NAT address: 40 failed logins there lock nobody out."""
    for i in range(40):
        wrong = api.post("/auth/token", data={"username": f"typo{i}", "password": "x" * 12})
        assert wrong.status_code == 401
    right = api.post("/auth/token", data={"username": "clinician_siteb", "password": PASSWORD})
    assert right.status_code == 200


def test_missing_forged_or_tampered_tokens_are_refused(api: httpx.Client, login: Login) -> None:
    assert api.get("/me").status_code == 401
    assert api.get("/me", headers={"Authorization": "Bearer not-a-token"}).status_code == 401
    token = login("clinician_sitea")["Authorization"]
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    assert api.get("/me", headers={"Authorization": tampered}).status_code == 401


def test_openapi_is_published_under_api_v1(api: httpx.Client) -> None:
    spec = api.get("/openapi.json")
    assert spec.status_code == 200
    paths = spec.json()["paths"]
    assert "/api/v1/auth/token" in paths
    assert "/api/v1/patients/{patient_id}/diary-entries" in paths
    assert all(path.startswith("/api/v1/") for path in paths)


def test_oversized_bodies_are_refused_before_parsing(api: httpx.Client, login: Login) -> None:
    big = {"local_date": "2026-03-01", "answers": {"average_pain": 1}, "pad": "x" * 70_000}
    answer = api.post("/patients/1/diary-entries", json=big, headers=login("p_A-001"))
    assert answer.status_code == 413


def test_security_headers_on_every_response(server: LiveServer) -> None:
    answer = httpx.get(f"{server.url}/login")
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["x-frame-options"] == "DENY"
    assert "script-src 'self'" in answer.headers["content-security-policy"]
