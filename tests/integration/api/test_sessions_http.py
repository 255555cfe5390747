"""Issue 16, findings 1 and 5 through the real server: sessions and tokens end on sign-out,
password change, deactivation and role change, have an absolute lifetime, and are not renewed
by visiting the sign-in page; administrators manage users of their own site only."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from helpers import Clinic, FixedClock
from integration.api import test_scope
from integration.api.live import PASSWORD, LiveServer, sqlite_copy
from microtrial.domain.actors import system_actor
from microtrial.services import admin

scope_target = test_scope.target  # patient A-001 with a planned trial and its kits
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
NEW = "a much longer new password"


@pytest.fixture
def database_url(sqlite_template: Path, tmp_path: Path) -> str:
    """SQLite: the service tests run these rules on both engines."""
    return sqlite_copy(sqlite_template, tmp_path)


@pytest.fixture
def clients() -> Iterator[list[httpx.Client]]:
    opened: list[httpx.Client] = []
    yield opened
    for client in opened:
        client.close()


@pytest.fixture
def admins(clinic: Clinic, clock: FixedClock) -> None:
    for site in ("SITEA", "SITEB"):
        admin.add_user(
            clinic.db, system_actor("test"), site_code=site, role="admin",
            username=f"admin_{site.lower()}", password=PASSWORD, clock=clock,
        )  # fmt: skip


def csrf(page: httpx.Response) -> str:
    found = CSRF.search(page.text)
    assert found, page.text[:300]
    return found.group(1)


def browser(server: LiveServer, clients: list[httpx.Client], username: str) -> httpx.Client:
    """A client signed in through the login form."""
    client = httpx.Client(base_url=server.url, timeout=30)
    clients.append(client)
    token = csrf(client.get("/login"))
    answer = client.post(
        "/login", data={"username": username, "password": PASSWORD, "csrf_token": token}
    )
    assert answer.status_code == 303, answer.text
    return client


def signed_in(server: LiveServer, cookie: str) -> bool:
    """Whether a request carrying only this session cookie gets a signed-in page."""
    answer = httpx.get(f"{server.url}/account/password", cookies={"mt_session": cookie})
    assert answer.status_code in (200, 303), answer.status_code
    return answer.status_code == 200


def token(api: httpx.Client, username: str, password: str = PASSWORD) -> dict[str, str]:
    answer = api.post("/auth/token", data={"username": username, "password": password})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def test_visiting_the_login_page_does_not_renew_a_session(
    server: LiveServer, clients: list[httpx.Client]
) -> None:
    client = browser(server, clients, "clinician_sitea")
    page = client.get("/login")
    assert page.status_code == 200
    assert "set-cookie" not in page.headers  # before: re-signed with a fresh 12-hour lifetime


def test_sessions_have_an_absolute_lifetime(
    server: LiveServer, clients: list[httpx.Client], clock: FixedClock
) -> None:
    client = browser(server, clients, "clinician_sitea")
    cookie = client.cookies["mt_session"]
    clock.advance(hours=11)
    assert signed_in(server, cookie)
    clock.advance(hours=1, seconds=1)  # 12 hours since sign-in, however active
    assert not signed_in(server, cookie)
    assert client.get("/account/password").status_code == 303


def test_sign_out_ends_copied_cookies_and_tokens(
    server: LiveServer, clients: list[httpx.Client], api: httpx.Client
) -> None:
    client = browser(server, clients, "clinician_sitea")
    captured = client.cookies["mt_session"]
    elsewhere = browser(server, clients, "clinician_sitea").cookies["mt_session"]
    bearer = token(api, "clinician_sitea")
    assert signed_in(server, captured)
    assert api.get("/me", headers=bearer).status_code == 200
    form = client.get("/account/password")
    assert client.post("/logout", data={"csrf_token": csrf(form)}).status_code == 303
    assert not signed_in(server, captured)  # a cookie captured before sign-out
    assert not signed_in(server, elsewhere)
    assert api.get("/me", headers=bearer).status_code == 401
    assert signed_in(server, browser(server, clients, "clinician_sitea").cookies["mt_session"])


def test_a_password_change_keeps_this_session_and_ends_the_others(
    server: LiveServer, clients: list[httpx.Client], api: httpx.Client
) -> None:
    client = browser(server, clients, "p_A-001")
    other = browser(server, clients, "p_A-001").cookies["mt_session"]
    bearer = token(api, "p_A-001")
    form = client.get("/account/password")
    changed = client.post(
        "/account/password",
        data={
            "current_password": PASSWORD,
            "new_password": NEW,
            "new_password_repeat": NEW,
            "csrf_token": csrf(form),
        },
    )
    assert changed.status_code == 200, changed.text
    assert client.get("/account/password").status_code == 200
    assert not signed_in(server, other)
    assert api.get("/me", headers=bearer).status_code == 401


@pytest.mark.usefixtures("admins")
def test_deactivation_and_role_change_end_access_at_once(
    server: LiveServer, clients: list[httpx.Client], api: httpx.Client
) -> None:
    """The finding: a deactivated pharmacist kept reading the allocation with their token."""
    boss = token(api, "admin_sitea")
    pharmacist = browser(server, clients, "unblinded_staff_sitea").cookies["mt_session"]
    bearer = token(api, "unblinded_staff_sitea")
    assert api.get("/me", headers=bearer).status_code == 200
    gone = api.post("/users/unblinded_staff_sitea/deactivate", headers=boss)
    assert gone.status_code == 204, gone.text
    assert api.get("/me", headers=bearer).status_code == 401
    assert not signed_in(server, pharmacist)
    refused = api.post(
        "/auth/token", data={"username": "unblinded_staff_sitea", "password": PASSWORD}
    )
    assert refused.status_code == 401
    researcher = token(api, "researcher_sitea")
    moved = api.put("/users/researcher_sitea/role", json={"role": "clinician"}, headers=boss)
    assert moved.status_code == 204, moved.text
    assert api.get("/me", headers=researcher).status_code == 401
    assert api.get("/me", headers=token(api, "researcher_sitea")).json()["role"] == "clinician"
    reset = api.put("/users/clinician_sitea/password", json={"password": NEW}, headers=boss)
    assert reset.status_code == 204
    assert api.get("/me", headers=token(api, "clinician_sitea", NEW)).status_code == 200
    listed = api.get("/users", headers=boss).json()
    assert {u["site_code"] for u in listed} == {"SITEA"}


@pytest.mark.usefixtures("admins")
def test_an_admin_of_another_site_reaches_none_of_its_users(api: httpx.Client) -> None:
    other = token(api, "admin_siteb")
    victim = token(api, "clinician_sitea")
    for method, path, body in (
        ("post", "/users/clinician_sitea/deactivate", None),
        ("put", "/users/clinician_sitea/role", {"role": "admin"}),
        ("put", "/users/clinician_sitea/password", {"password": NEW}),
    ):
        answer = api.request(method.upper(), path, json=body, headers=other)
        assert answer.status_code == 404, (path, answer.text)
    # The same answer as for a name that does not exist anywhere.
    missing = api.post("/users/clinician_sitez/deactivate", headers=other)
    there = api.post("/users/clinician_sitea/deactivate", headers=other)
    assert missing.status_code == there.status_code == 404
    assert missing.text.replace("sitez", "sitea") == there.text
    assert api.get("/me", headers=victim).status_code == 200  # untouched


@pytest.mark.usefixtures("admins")
def test_a_deactivated_pharmacist_no_longer_reads_the_allocation(
    api: httpx.Client, scope_target: dict[str, Any]
) -> None:
    """The finding as reproduced: the token kept reading a trial's kits after deactivation."""
    pharmacist = token(api, "unblinded_staff_sitea")
    kits = f"/trials/{scope_target['trial_id']}/kits"
    # 409 while the trial is only planned: past the access check, as the matrix counts it.
    assert api.get(kits, headers=pharmacist).status_code in (200, 409)
    boss = token(api, "admin_sitea")
    assert api.post("/users/unblinded_staff_sitea/deactivate", headers=boss).status_code == 204
    assert api.get(kits, headers=pharmacist).status_code == 401


def test_a_program_signs_out_through_the_api(
    server: LiveServer, clients: list[httpx.Client], api: httpx.Client
) -> None:
    bearer = token(api, "clinician_sitea")
    cookie = browser(server, clients, "clinician_sitea").cookies["mt_session"]
    assert api.post("/auth/logout", headers=bearer).status_code == 204
    assert api.get("/me", headers=bearer).status_code == 401
    assert not signed_in(server, cookie)
    assert api.post("/auth/logout", headers=bearer).status_code == 401
