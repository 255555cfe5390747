"""Every list page and API list route costs the same number of SQL statements whatever the
number of rows (no query per row), on both engines, through the real server."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx

from e2e.setup import plan_for
from helpers import Clinic, FixedClock, StatementCount
from integration.api.live import PASSWORD, LiveServer, Login
from microtrial.domain.actors import system_actor
from microtrial.services import patients, records, trial_lifecycle
from microtrial.services.records import DiaryInput

PHQ9_URGENT = {f"q{i}": 0 for i in range(1, 10)} | {"q9": 1}
API_ROUTES = (
    "/patients",
    "/patients?sort=-study_code&q=g",
    "/alerts",
    "/alerts?open_only=false&severity=urgent&sort=patient",
    "/worklist",
)
WEB_PAGES = (
    ("clinician_sitea", "/"),  # the clinician's start: the worklist's first page
    ("clinician_sitea", "/clinic/patients"),
    ("clinician_sitea", "/clinic/patients?page=2&size=10"),
    ("clinician_sitea", "/clinic/alerts"),
    ("clinician_sitea", "/clinic/alerts?state=all&size=10&page=2"),
    ("unblinded_staff_sitea", "/pharmacy/kits"),
    ("unblinded_staff_sitea", "/pharmacy/kits?size=2&page=2"),
)


def grow(clinic: Clinic, clock: FixedClock, upto: int) -> None:
    """Enrol site A patients G-000.. up to ``upto``: each with an urgent alert and a side effect
    awaiting review, every fourth
    with a scheduled trial (its kits to prepare)."""
    system = system_actor("test")
    doc = clinic.actors["clinician_sitea"]
    for n in range(len([c for c in clinic.patients if c.startswith("G-")]), upto):
        code = f"G-{n:03d}"
        patient = patients.enrol_patient(
            clinic.db,
            system,
            site_code="SITEA",
            study_code=code,
            birth_year=1970,
            sex="other",
            time_zone="Europe/London",
            conditions=["G43.909"],
            clock=lambda: clinic.enrolled_at,
        )
        clinic.patients[code] = patient
        entry = DiaryInput(clock().date(), PHQ9_URGENT, "phq9")
        records.record_diary_entry(clinic.db, system, patient.id, entry, clock=clock)
        # and a side effect awaiting review (the worklist counts them per page, not per row)
        side_effect = DiaryInput(clock().date(), {"nausea_gi": 2}, "ae_checklist")
        records.record_diary_entry(clinic.db, system, patient.id, side_effect, clock=clock)
        if n % 4 == 0:
            trial = plan_for(clinic, clock, code)
            trial_lifecycle.transition(clinic.db, doc, trial.id, "schedule", clock=clock)


CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def web_client(base_url: str, username: str) -> httpx.Client:
    """A client signed in through the login form."""
    client = httpx.Client(base_url=base_url, timeout=30)
    found = CSRF.search(client.get("/login").text)
    assert found is not None
    answer = client.post(
        "/login", data={"username": username, "password": PASSWORD, "csrf_token": found[1]}
    )
    assert answer.status_code == 303, answer.text
    return client


def costs(fetch: Callable[[str, str], httpx.Response], routes: list[tuple[str, str]]) -> dict:
    """Statements each route costs (each fetched once before, so caches are warm)."""
    found = {}
    for who, path in routes:
        assert fetch(who, path).status_code == 200, path
        with StatementCount() as counted:
            answer = fetch(who, path)
        assert answer.status_code == 200, (path, answer.text[:300])
        found[(who, path)] = counted.count
    return found


def test_list_routes_and_pages_cost_the_same_at_5_and_60_patients(
    server: LiveServer, api: httpx.Client, login: Login, clinic: Clinic, clock: FixedClock
) -> None:
    clients = {who: web_client(server.url, who) for who in {who for who, _ in WEB_PAGES}}
    diary = f"/patients/{clinic.patients['A-001'].id}/diary-entries"
    routes = [("clinician_sitea", r) for r in (*API_ROUTES, diary)]

    def api_get(who: str, path: str) -> httpx.Response:
        return api.get(path, headers=login(who))

    def web_get(who: str, path: str) -> httpx.Response:
        return clients[who].get(path, follow_redirects=True)

    try:
        grow(clinic, clock, 5)
        small = costs(api_get, routes) | costs(web_get, list(WEB_PAGES))
        grow(clinic, clock, 60)
        large = costs(api_get, routes) | costs(web_get, list(WEB_PAGES))
        body = api.get("/patients", params={"limit": 20}, headers=login("clinician_sitea"))
        assert body.json().get("total") == 62, body.text[:500]  # the 60 grown
        assert len(body.json()["items"]) == 20
        start = clients["clinician_sitea"].get("/", follow_redirects=True).text
        assert start.count("<tr data-patient=") == 20  # one page, not every patient
        assert "Showing 1–20 of 62" in start
        kits = clients["unblinded_staff_sitea"].get("/pharmacy/kits").text
        assert "Showing 1–15 of 15" in kits  # every fourth of 60 has a scheduled trial
    finally:
        for client in clients.values():
            client.close()
    assert large == small
