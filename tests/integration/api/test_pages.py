"""Server-rendered pages over HTTP: sign-in security, CSRF, scope and role checks, results."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from helpers import Clinic
from integration.api.live import PASSWORD, LiveServer, sqlite_copy
from microtrial.domain.actors import system_actor
from microtrial.http.app import create_app
from microtrial.http.config import ServerSettings
from microtrial.services import admin
from microtrial.services.demo import DEMO_PASSWORD
from microtrial.store.db import Database


@pytest.fixture
def database_url(sqlite_template: Path, tmp_path: Path) -> str:
    """SQLite only: page rendering, sessions and csrf do not depend on the database engine."""
    return sqlite_copy(sqlite_template, tmp_path)


CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(page: httpx.Response) -> str:
    found = CSRF.search(page.text)
    assert found, page.text[:300]
    return found.group(1)


OPEN: list[httpx.Client] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while OPEN:
        OPEN.pop().close()


def sign_in(base_url: str, username: str, password: str = PASSWORD) -> httpx.Client:
    """A browser-like client signed in through the login form (closed after the test)."""
    client = httpx.Client(base_url=base_url, timeout=30)
    OPEN.append(client)
    token = csrf_of(client.get("/login"))
    answer = client.post(
        "/login", data={"username": username, "password": password, "csrf_token": token}
    )
    assert answer.status_code == 303, answer.text
    return client


@pytest.fixture
def browser(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


@pytest.mark.usefixtures("clinic")
def test_login_needs_the_forms_csrf_token(browser: httpx.Client) -> None:
    browser.get("/login")
    bare = browser.post("/login", data={"username": "p_A-001", "password": PASSWORD})
    assert bare.status_code == 422  # the token field is required
    forged = browser.post(
        "/login", data={"username": "p_A-001", "password": PASSWORD, "csrf_token": "forged"}
    )
    assert forged.status_code == 403


@pytest.mark.usefixtures("clinic")
def test_login_renews_the_session_and_sets_safe_cookie_flags(browser: httpx.Client) -> None:
    page = browser.get("/login")
    before = browser.cookies["mt_session"]
    cookie = page.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "samesite=lax" in cookie.lower()
    assert "Secure" not in cookie  # plain HTTP here; HTTPS requests get Secure
    signed_in = browser.post(
        "/login", data={"username": "p_A-001", "password": PASSWORD, "csrf_token": csrf_of(page)}
    )
    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == "/today"
    after = browser.cookies["mt_session"]
    assert after != before
    today = browser.get("/today")
    assert csrf_of(today) != csrf_of(page)
    assert "MicroTrial does not replace your clinician" in today.text


@pytest.mark.usefixtures("clinic")
def test_failed_logins_look_alike_and_are_throttled(browser: httpx.Client) -> None:
    token = csrf_of(browser.get("/login"))

    def attempt(username: str, password: str) -> httpx.Response:
        return browser.post(
            "/login", data={"username": username, "password": password, "csrf_token": token}
        )

    wrong = attempt("clinician_sitea", "wrong password!")
    unknown = attempt("nobody_at_all", "wrong password!")
    assert wrong.status_code == unknown.status_code == 401
    assert "Incorrect username or password." in wrong.text
    assert "Incorrect username or password." in unknown.text
    attempt("clinician_sitea", "wrong password!")
    attempt("clinician_sitea", "wrong password!")
    locked = attempt("clinician_sitea", PASSWORD)
    assert locked.status_code == 429
    assert "retry-after" in locked.headers


def test_forms_change_nothing_on_get_and_need_the_token(server: LiveServer, clinic: Clinic) -> None:
    patient = sign_in(server.url, "p_A-001")
    assert patient.get("/logout").status_code == 405
    page = patient.get("/today")
    form = {
        "local_date": "2026-03-02",
        "daily_diary.average_pain": "4",
        "submission_id": "abcdefabcdef",
    }
    assert patient.post("/today", data=form).status_code == 403
    assert patient.post("/today", data={**form, "csrf_token": "nope"}).status_code == 403
    saved = patient.post("/today", data={**form, "csrf_token": csrf_of(page)})
    assert saved.status_code == 303
    again = patient.post("/today", data={**form, "csrf_token": csrf_of(page)})
    assert again.status_code == 303  # a double submission lands once
    from microtrial.services import records

    entries = records.list_diary_entries(
        clinic.db, clinic.actors["p_A-001"], clinic.patients["A-001"].id
    )
    assert [(e.local_date.isoformat(), e.answers) for e in entries] == [
        ("2026-03-02", {"average_pain": 4})
    ]


def test_pages_refuse_other_roles_and_hide_other_sites(server: LiveServer, clinic: Clinic) -> None:
    patient = sign_in(server.url, "p_A-001")
    assert patient.get("/clinic/patients").status_code == 403
    assert patient.get("/pharmacy/kits").status_code == 403
    outsider = sign_in(server.url, "clinician_siteb")
    assert outsider.get(f"/clinic/patients/{clinic.patients['A-001'].id}").status_code == 404
    listing = outsider.get("/clinic/patients")
    assert "B-001" in listing.text
    assert "A-001" not in listing.text
    assert 'id="simulated-data"' not in listing.text  # a real clinic is not marked as the demo
    assert outsider.get("/today").status_code == 403
    anonymous = httpx.get(f"{server.url}/clinic/patients")
    assert anonymous.status_code == 303
    assert anonymous.headers["location"] == "/login?next=/clinic/patients"


def test_an_admin_adds_users_at_their_own_site_only(server: LiveServer, clinic: Clinic) -> None:
    """Issue 16 finding 4: an admin made unblinded logins at any site; sites are the operator's."""
    admin.add_user(
        clinic.db,
        system_actor("test"),
        site_code="SITEA",
        role="admin",
        username="root_admin",
        password=PASSWORD,
    )
    page_client = sign_in(server.url, "root_admin")
    page = page_client.get("/admin")
    assert page.status_code == 200
    assert "SITEB" not in page.text
    assert 'action="/admin/sites"' not in page.text  # the operator adds sites
    token = csrf_of(page)
    site = page_client.post("/admin/sites", data={"code": "SITEC", "csrf_token": token})
    assert site.status_code == 403
    user = page_client.post(
        "/admin/users",
        data={
            "site": "SITEA",
            "role": "clinician",
            "username": "dr_c",
            "password": "long enough pass",
            "csrf_token": token,
        },
    )
    assert user.status_code == 303
    listed = page_client.get("/admin").text
    assert "dr_c" in listed
    assert "clinician_siteb" not in listed
    elsewhere = page_client.post(
        "/admin/users",
        data={
            "site": "SITEB",
            "role": "unblinded_staff",
            "username": "mole",
            "password": "long enough pass",
            "csrf_token": token,
        },
    )
    assert elsewhere.status_code == 404  # another site is "not found" to a site's admin
    assert "mole" not in page_client.get("/admin").text
    short = page_client.post(
        "/admin/users",
        data={
            "site": "SITEA",
            "role": "clinician",
            "username": "dr_d",
            "password": "short",
            "csrf_token": token,
        },
    )
    assert short.status_code == 422
    assert "password" in short.text


def test_result_and_research_pages_on_the_demo_clinic(demo_clinic: Database) -> None:
    from microtrial.services import admin, trial_views

    url = demo_clinic.engine.url.render_as_string(hide_password=False)
    settings = ServerSettings(database_url=url, secret_key="d" * 40, export_secret="e" * 40)
    doctor = admin.user_actor(demo_clinic, "dr.demo")
    unblinded = [t for t in trial_views.list_trials(demo_clinic, doctor) if t.status == "unblinded"]
    with LiveServer(create_app(settings)) as server:
        clinician = sign_in(server.url, "dr.demo", DEMO_PASSWORD)
        result = clinician.get(f"/clinic/trials/{unblinded[0].id}/result")
        assert result.status_code == 200, result.text
        assert "Effect of the active capsules compared with placebo" in result.text
        assert "of the periods with a named guess, “don't know” answers left out" in result.text
        assert clinician.get("/research").status_code == 403
        researcher = sign_in(server.url, "researcher.demo", DEMO_PASSWORD)
        cohort = researcher.get("/research")
        assert cohort.status_code == 200
        assert not re.search(r"\bP\d{3}\b", cohort.text)
        assert "of the periods with a named guess" in cohort.text
        export = researcher.get("/research/export.zip")
        assert export.status_code == 200
        assert export.content.startswith(b"PK")
        pdf = clinician.get(f"/clinic/trials/{unblinded[0].id}/report.pdf")
        assert pdf.status_code == 200
        assert pdf.content.startswith(b"%PDF")
        own = admin.user_actor(demo_clinic, "patient01")
        mine = [t.id for t in trial_views.list_trials(demo_clinic, own) if t.status == "unblinded"]
        assert mine, "the demo's first patient has a finished trial"
        patient = sign_in(server.url, "patient01", DEMO_PASSWORD)
        history = patient.get("/history").text
        assert f"/my/trials/{mine[0]}/report.pdf" in history
        report = patient.get(f"/my/trials/{mine[0]}/report.html")
        assert report.status_code == 200
        assert "<html" in report.text.lower()
        assert "Simulated demo data" in report.text  # a demo clinic's report says so
        assert "Microdosing for pain is unproven" in report.text
        for page in (result, cohort, patient.get("/today")):  # every page of the demo says so
            assert 'id="simulated-data"' in page.text
            assert "simulated data, not a real patient" in page.text
        others = [t.id for t in unblinded if t.id not in mine]
        assert patient.get(f"/my/trials/{others[0]}/report.html").status_code == 404


@pytest.mark.usefixtures("clinic")
def test_the_cookie_is_secure_behind_a_trusted_tls_proxy(
    browser: httpx.Client, database_url: str
) -> None:
    # an untrusted sender of X-Forwarded-Proto (no proxy configured) changes nothing
    untrusted = browser.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert "Secure" not in untrusted.headers["set-cookie"]
    settings = ServerSettings(
        database_url=database_url, secret_key="t" * 40, trusted_proxies="127.0.0.1"
    )
    with LiveServer(create_app(settings)) as proxied, httpx.Client(base_url=proxied.url) as c:
        behind_tls = c.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert "Secure" in behind_tls.headers["set-cookie"]


def test_every_post_form_carries_a_csrf_token() -> None:
    from importlib.resources import files

    forms = 0
    for template in (files("microtrial.web") / "templates").iterdir():
        text = template.read_text(encoding="utf-8")
        for form in re.findall(r"<form[^>]*method=\"post\".*?</form>", text, flags=re.S):
            forms += 1
            assert 'name="csrf_token"' in form, (template.name, form[:120])
    assert forms >= 15
