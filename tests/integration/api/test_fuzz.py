"""Schemathesis over the whole OpenAPI document, once per role, against the real server.

Every operation gets a bounded number of generated requests (half with the real ids of patient
A-001's objects in the path, so that the handlers run, half with generated ids), sent with the
role's bearer token. No answer may be a 5xx, and every answer whose status the document declares
must match its schema and content type. Failures of every operation are collected and reported
together (no shrinking, to keep the run short)."""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from helpers import Clinic, FixedClock
from integration.api import test_scope
from integration.api.live import PASSWORD, LiveServer, Login
from microtrial.domain.actors import system_actor
from microtrial.services import admin

# test_scope.py's ``target`` fixture (A-001 with records, a trial, an alert) as ``scope_target``.
scope_target = test_scope.target

# Generated cases per operation and role: 30 operations x 5 roles in seconds; PostgreSQL runs
# a shorter pass (the SQLite pass is the thorough one: the checks do not depend on the engine).
# MICROTRIAL_FUZZ_EXAMPLES=200 runs a deeper, randomised sweep locally.
DEEP = int(os.environ.get("MICROTRIAL_FUZZ_EXAMPLES", "0"))
EXAMPLES = {"sqlite": DEEP or 10, "postgresql": DEEP or 4}
ROLES = ("clinician_sitea", "unblinded_staff_sitea", "researcher_sitea", "p_A-001", "admin_fuzz")
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


@pytest.fixture
def fuzz_admin(clinic: Clinic, clock: FixedClock) -> None:
    admin.add_user(
        clinic.db,
        system_actor("test"),
        site_code="SITEA",
        role="admin",
        username="admin_fuzz",
        password=PASSWORD,
        clock=clock,
    )


def fuzz_operation(
    operation: Any, base_url: str, headers: dict[str, str], ids: dict[str, Any], examples: int
) -> None:
    """Run one operation's generated cases; raise on the first failing check."""
    path = operation.path
    fixed = {name: value for name, value in ids.items() if f"{{{name}}}" in path}
    strategies = [operation.as_strategy(headers=headers)]
    if fixed:
        strategies.append(operation.as_strategy(headers=headers, path_parameters=fixed))

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=not DEEP,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=st.one_of(strategies))
    def run(case: schemathesis.Case) -> None:
        response = case.call(base_url=base_url, timeout=30)
        case.validate_response(response, checks=CHECKS)

    run()


@pytest.mark.slow
@pytest.mark.parametrize("username", ROLES)
def test_schemathesis_finds_no_server_errors(
    server: LiveServer,
    api: httpx.Client,
    login: Login,
    scope_target: dict[str, Any],
    fuzz_admin: None,
    username: str,
    database_url: str,
) -> None:
    del fuzz_admin
    examples = EXAMPLES["sqlite" if database_url.startswith("sqlite") else "postgresql"]
    spec = api.get("/openapi.json").json()
    schema = schemathesis.openapi.from_dict(spec)
    headers = login(username)
    ids = {
        "patient_id": scope_target["patient_id"],
        "trial_id": scope_target["trial_id"],
        "alert_id": scope_target["alert_id"],
        "substance": "psilocybin",
    }
    failures = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path == "/api/v1/auth/token":
            continue  # fuzzed sign-ins would only lock the test users out; test_auth covers it
        if operation.path == "/api/v1/auth/logout":
            continue  # would end the role's token for every later operation; tested elsewhere
        operations += 1
        try:
            fuzz_operation(operation, server.url, headers, ids, examples)
        except (Exception, BaseExceptionGroup) as exc:  # collect every operation's failure
            failures.append(f"{operation.label}: {type(exc).__name__}: {str(exc)[:600]}")
    assert operations >= 30
    assert failures == [], "\n\n".join(failures)


# Integers past the database's range in every integer field of a body or header.
HUGE = (2**31, 2**63, -(2**63), 10**40)


def test_out_of_range_integers_are_client_errors(
    api: httpx.Client, login: Login, scope_target: dict[str, Any]
) -> None:
    target = scope_target
    clinician, patient = login("clinician_sitea"), login("p_A-001")
    pid, tid = target["patient_id"], target["trial_id"]
    ae = {"term": "nausea", "grade": 1, "onset_date": "2026-03-01"}
    enrol = {"site_code": "SITEA", "study_code": "A-900", "birth_year": 1970, "sex": "female"}
    enrol["time_zone"] = "Europe/London"
    plan = dict(test_scope.BODIES[("post", "/patients/{patient_id}/trials")])
    probes: list[tuple[str, str, dict[str, Any], dict[str, Any], str]] = []
    for value in HUGE:
        probes += [
            ("post", f"/trials/{tid}/guesses", patient, {"period": value, "guess": "active"}, ""),
            (
                "post",
                f"/trials/{tid}/guesses",
                patient,
                {"period": 1, "guess": "active", "confidence": value},
                "",
            ),
            ("post", f"/patients/{pid}/adverse-events", patient, {**ae, "grade": value}, ""),
            ("post", "/patients", clinician, {**enrol, "birth_year": value}, ""),
            ("get", f"/patients/{value}", clinician, {}, ""),
            ("get", f"/trials/{value}/calendar", clinician, {}, ""),
            ("get", "/patients", clinician, {}, f"?limit={value}"),
            ("post", f"/trials/{tid}/transitions", clinician, {"action": "withdraw"}, str(value)),
        ]
        for key in ("run_in_days", "pairs", "period_days", "wash_in_days", "max_run_length"):
            body = {**plan, "design": {key: value}}
            probes.append(("post", f"/patients/{pid}/trials", clinician, body, ""))
    problems = []
    for method, path, headers, body, extra in probes:
        if method == "post" and path.endswith("/transitions"):
            answer = api.post(path, json=body, headers={**headers, "If-Match": f'"{extra}"'})
        else:
            answer = api.request(method.upper(), path + extra, json=body or None, headers=headers)
        if answer.status_code >= 500:
            problems.append(f"{method.upper()} {path}{extra} {body}: {answer.status_code}")
    assert problems == []
    # An id no key column can hold is simply not there: 404, like any missing object.
    for path in ("/patients/{}", "/trials/{}", "/alerts/{}/acknowledge"):
        for value in HUGE:
            url = path.format(value)
            method = "POST" if url.endswith("acknowledge") else "GET"
            body = {"note": "seen"} if method == "POST" else None
            answer = api.request(method, url, json=body, headers=clinician)
            assert answer.status_code == 404, (url, answer.text)


def test_times_in_answers_carry_their_utc_offset(
    api: httpx.Client, login: Login, scope_target: dict[str, Any]
) -> None:
    """Found by the schema check on SQLite: stored UTC times came back without an offset."""
    headers = login("clinician_sitea")
    alert = api.get("/alerts", headers=headers).json()["items"][0]
    screening = api.get(
        f"/patients/{scope_target['patient_id']}/screenings/psilocybin", headers=headers
    ).json()
    for stamp in (alert["created_at"], screening["recorded_at"]):
        assert dt.datetime.fromisoformat(stamp).utcoffset() == dt.timedelta(0), stamp
