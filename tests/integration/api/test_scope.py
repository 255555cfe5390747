"""Access scope through the real server: out-of-scope objects answer 404, researchers get no
identifiers. The routes checked are read from the app's OpenAPI, so a new patient-scoped route
without an entry here fails the coverage test."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import httpx
import pytest

from helpers import Clinic, FixedClock
from integration.api.live import Login
from microtrial.services import patients, records

# A valid body for every create or update, so that the server gets past body validation and the
# answer shows the access check, not a 422.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("post", "/patients/{patient_id}/medications"): {"name": "Ibuprofen 400 mg"},
    ("patch", "/patients/{patient_id}/medications/{record_id}"): {
        "name_as_entered": "Ibuprofen 200 mg",
        "reason": "typo",
    },
    ("post", "/patients/{patient_id}/conditions"): {"icd10_code": "M79.7"},
    ("patch", "/patients/{patient_id}/conditions/{record_id}"): {
        "status": "resolved",
        "reason": "resolved",
    },
    ("post", "/patients/{patient_id}/diary-entries"): {
        "local_date": "2026-03-01",
        "answers": {"average_pain": 4},
    },
    ("post", "/patients/{patient_id}/adverse-events"): {
        "term": "nausea",
        "grade": 1,
        "onset_date": "2026-03-01",
    },
}
# Which record a {record_id} in a path refers to (created for the target patient).
RECORD_KIND = {"medications": "medication", "conditions": "condition", "adverse-events": "ae"}
OUTSIDERS = ("clinician_siteb", "unblinded_staff_siteb", "p_A-002", "p_B-001")


def patient_routes(api: httpx.Client) -> list[tuple[str, str]]:
    """(method, path) of every API route that names a patient, from the OpenAPI document."""
    spec = api.get("/openapi.json").json()
    return sorted(
        (method, path.removeprefix("/api/v1"))
        for path, operations in spec["paths"].items()
        if "{patient_id}" in path
        for method in operations
    )


@pytest.fixture
def target(clinic: Clinic, clock: FixedClock) -> dict[str, Any]:
    """Patient A-001 with one record of each kind."""
    clinician = clinic.actors["clinician_sitea"]
    pid = clinic.patients["A-001"].id
    return {
        "patient_id": pid,
        "medication": patients.add_medication(clinic.db, clinician, pid, "Sertraline", clock=clock),
        "condition": clinic.patients["A-001"].conditions[0],
        "ae": records.record_adverse_event(
            clinic.db,
            clinician,
            pid,
            term="headache",
            grade=1,
            serious=False,
            onset_date=dt.date(2026, 3, 1),
            clock=clock,
        ),
    }


def request(
    api: httpx.Client,
    headers: dict[str, str],
    method: str,
    template: str,
    target: dict[str, Any],
    patient_id: int | None = None,
) -> httpx.Response:
    kind = re.search(r"/patients/\{patient_id\}/([a-z-]+)/\{record_id\}", template)
    path = template.replace("{patient_id}", str(patient_id or target["patient_id"]))
    if kind:
        path = path.replace("{record_id}", target[RECORD_KIND[kind.group(1)]].record_id)
    extra = {"If-Match": '"1"'} if method == "patch" else {}
    return api.request(
        method.upper(),
        path,
        json=BODIES.get((method, template)),
        headers={**headers, **extra},
    )


def test_every_patient_route_is_covered(api: httpx.Client) -> None:
    routes = patient_routes(api)
    assert len(routes) >= 10
    writes = {(m, p) for m, p in routes if m in ("post", "put", "patch")}
    assert writes <= set(BODIES), f"add a body for {sorted(writes - set(BODIES))}"
    for _, path in routes:
        kind = re.search(r"/patients/\{patient_id\}/([a-z-]+)/\{record_id\}", path)
        assert kind is None or kind.group(1) in RECORD_KIND, path


def test_outsiders_get_404_on_every_patient_route(
    api: httpx.Client, login: Login, target: dict[str, Any]
) -> None:
    problems = []
    for username in OUTSIDERS:
        headers = login(username)
        for method, template in patient_routes(api):
            answer = request(api, headers, method, template, target)
            if answer.status_code == 404:
                continue
            # A route the role may never use is refused alike for every object (no existence leak).
            if answer.status_code == 403:
                own = request(api, headers, method, template, target, patient_id=999_999)
                if own.status_code == 403 and own.json() == answer.json():
                    continue
            problems.append(f"{username} {method.upper()} {template}: {answer.status_code}")
    assert problems == []


def test_a_record_under_another_patients_path_is_404(
    api: httpx.Client, login: Login, target: dict[str, Any], clinic: Clinic
) -> None:
    other = clinic.patients["A-002"].id  # same site, so the clinician may see both patients
    headers = login("clinician_sitea")
    for method, template in patient_routes(api):
        if "{record_id}" in template:
            answer = request(api, headers, method, template, target, patient_id=other)
            assert answer.status_code == 404, (method, template, answer.text)


def test_insiders_reach_the_same_routes(
    api: httpx.Client, login: Login, target: dict[str, Any]
) -> None:
    headers = login("clinician_sitea")
    for method, template in patient_routes(api):
        answer = request(api, headers, method, template, target)
        assert answer.status_code < 300, (method, template, answer.status_code, answer.text)
    own = login("p_A-001")
    for method, template in patient_routes(api):
        if method == "get":
            answer = request(api, own, method, template, target)
            assert answer.status_code == 200, (template, answer.text)


def test_a_researcher_never_receives_identifiers(
    api: httpx.Client, login: Login, target: dict[str, Any], clinic: Clinic
) -> None:
    headers = login("researcher_sitea")
    codes = [p.study_code for p in clinic.patients.values()]
    answers = [api.get("/patients", headers=headers)]
    answers += [
        request(api, headers, method, template, target) for method, template in patient_routes(api)
    ]
    for answer in answers:
        assert answer.status_code in (403, 404), answer.request.url
        assert not any(code in answer.text for code in codes)
        assert "birth_year" not in answer.text
