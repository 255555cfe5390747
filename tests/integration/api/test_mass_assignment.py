"""Mass assignment through the real server: fields the server owns (site, patient, role, arm,
version, id, who recorded it) sent in a create or update body are rejected with 422 and nothing
is stored; query parameters naming another site or patient are ignored. Valid bodies store the
server's values: the path's patient, the caller as recorder, version 1."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from helpers import Clinic
from integration.api import test_scope
from integration.api.live import PASSWORD, Login
from microtrial.store.db import Database
from microtrial.store.models import (
    AdverseEventRow,
    Base,
    DiaryEntryRow,
    MedicationRow,
    PatientRow,
    UserRow,
)

# test_scope.py's ``target`` fixture (A-001 with records, a trial, an alert) as ``scope_target``.
scope_target = test_scope.target

# Server-owned fields and a hostile value for each (other site, other patient, a privilege, ...).
HOSTILE: dict[str, Any] = {
    "site_id": "{site_b}",
    "site": "SITEB",
    "patient_id": "{patient_b}",
    "role": "admin",
    "arm": "active",
    "version": 99,
    "lock_version": 99,
    "id": 424242,
    "record_id": "00000000-0000-0000-0000-000000000000",
    "recorded_by": "mallory",
    "recorded_by_user_id": 1,
    "is_current": False,
}

ENROL = {
    "site_code": "SITEA",
    "study_code": "A-777",
    "birth_year": 1970,
    "sex": "female",
    "time_zone": "Europe/London",
}


def write_routes() -> dict[tuple[str, str], dict[str, Any]]:
    """Every create and update with a valid body (test_scope's table plus enrolment); the
    body-less writes (``test_scope.BODYLESS``) take nothing a client could smuggle a field in."""
    return {("post", "/patients"): ENROL, **test_scope.BODIES}


def test_body_less_writes_ignore_no_field_because_they_read_no_body(api: httpx.Client) -> None:
    """A body-less write declares no request body in OpenAPI: nothing sent is ever read."""
    spec = api.get("/openapi.json").json()
    for method, template in test_scope.BODYLESS:
        operation = spec["paths"][f"/api/v1{template}"][method]
        assert "requestBody" not in operation, (method, template)
        assert (method, template) not in test_scope.BODIES


def fill(template: str, target: dict[str, Any]) -> str:
    path = template
    for name in ("patient_id", "trial_id", "alert_id", "substance"):
        path = path.replace(f"{{{name}}}", str(target[name]))
    kind = re.search(r"/([a-z-]+)/\{record_id\}", template)
    if kind:
        path = path.replace("{record_id}", target[test_scope.RECORD_KIND[kind.group(1)]].record_id)
    return path


def snapshot(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (the audit log included)."""
    with db.engine.connect() as conn:
        return {
            table.name: sorted(
                (tuple(map(repr, row)) for row in conn.execute(table.select())), key=repr
            )
            for table in Base.metadata.sorted_tables
        }


@pytest.fixture
def hostile(clinic: Clinic, scope_target: dict[str, Any]) -> dict[str, Any]:
    """HOSTILE with the other site's and the other site patient's ids filled in."""
    values = json.loads(
        json.dumps(HOSTILE)
        .replace('"{site_b}"', str(clinic.site_b.id))
        .replace('"{patient_b}"', str(clinic.patients["B-001"].id))
    )
    assert values["patient_id"] != scope_target["patient_id"]
    return values


def test_server_owned_fields_in_bodies_are_rejected_and_nothing_is_stored(
    api: httpx.Client,
    login: Login,
    clinic: Clinic,
    scope_target: dict[str, Any],
    hostile: dict[str, Any],
) -> None:
    target = scope_target
    # Each body goes in as the user allowed to send it, so the only fault is the extra field.
    senders = {
        ("post", "/trials/{trial_id}/guesses"): "p_A-001",
        ("put", "/patients/{patient_id}/reminders"): "p_A-001",
    }
    headers = {name: login(name) for name in ("clinician_sitea", "p_A-001")}
    before = snapshot(clinic.db)
    problems = []
    for (method, template), body in write_routes().items():
        valid = json.loads(json.dumps(body).replace("{kit_code}", target["kit_code"]))
        sender = headers[senders.get((method, template), "clinician_sitea")]
        conditional = method in ("patch", "put") or "transitions" in template
        extra = {"If-Match": '"1"'} if conditional else {}
        for field, value in hostile.items():
            answer = api.request(
                method.upper(),
                fill(template, target),
                json={**valid, field: value},
                headers={**sender, **extra},
            )
            fields = (
                [e.get("field") for e in answer.json()["detail"]]
                if answer.status_code == 422
                else []
            )
            if answer.status_code != 422 or field not in fields:
                problems.append(f"{method.upper()} {template} +{field}: {answer.status_code}")
        if (method, template) == ("post", "/patients/{patient_id}/trials"):
            nested = {**valid, "regimen": {**valid["regimen"], "arm": "active"}}
            nested_design = {**valid, "design": {"seed": 1, "sequence": ["active"] * 6}}
            for bad in (nested, nested_design):
                answer = api.post(fill(template, target), json=bad, headers=sender)
                if answer.status_code != 422:
                    problems.append(f"nested arm/seed in a trial plan: {answer.status_code}")
    assert problems == []
    assert snapshot(clinic.db) == before, "a rejected body changed the database"


def test_valid_creates_store_the_servers_values(
    api: httpx.Client, login: Login, clinic: Clinic, scope_target: dict[str, Any]
) -> None:
    target = scope_target
    pid = target["patient_id"]
    clinician, patient = login("clinician_sitea"), login("p_A-001")
    created = {
        "medication": api.post(
            f"/patients/{pid}/medications", json={"name": "Naproxen"}, headers=clinician
        ),
        "diary": api.post(
            f"/patients/{pid}/diary-entries",
            json={"local_date": "2026-03-01", "answers": {"average_pain": 5}},
            headers=patient,
        ),
        "ae": api.post(
            f"/patients/{pid}/adverse-events",
            json={"term": "dizziness", "grade": 1, "onset_date": "2026-03-01"},
            headers=patient,
        ),
        "patient": api.post("/patients", json=ENROL, headers=clinician),
    }
    assert all(a.status_code == 201 for a in created.values()), {
        k: a.text for k, a in created.items()
    }
    with clinic.db.transaction() as session:
        users = {u.username: u.id for u in session.execute(select(UserRow)).scalars()}
        medication = session.execute(
            select(MedicationRow).where(MedicationRow.name_as_entered == "Naproxen")
        ).scalar_one()
        diary = session.execute(
            select(DiaryEntryRow).where(
                DiaryEntryRow.record_id == created["diary"].json()["record_id"]
            )
        ).scalar_one()
        ae = session.execute(
            select(AdverseEventRow).where(AdverseEventRow.term == "dizziness")
        ).scalar_one()
        enrolled = session.get(PatientRow, created["patient"].json()["id"])
        assert enrolled is not None
        for row, user in ((medication, "clinician_sitea"), (diary, "p_A-001"), (ae, "p_A-001")):
            assert (row.patient_id, row.version, row.is_current) == (pid, 1, True)
            assert row.recorded_by_user_id == users[user]
            assert row.recorded_by != "mallory"
        assert enrolled.site_id == clinic.site_a.id


def test_a_patch_cannot_move_a_record_or_rewrite_its_version(
    api: httpx.Client, login: Login, clinic: Clinic, scope_target: dict[str, Any]
) -> None:
    target = scope_target
    medication = target["medication"]
    path = f"/patients/{target['patient_id']}/medications/{medication.record_id}"
    headers = {**login("clinician_sitea"), "If-Match": '"1"'}
    corrected = api.patch(
        path, json={"name_as_entered": "Sertraline 50 mg", "reason": "dose"}, headers=headers
    )
    assert corrected.status_code == 200, corrected.text
    with clinic.db.transaction() as session:
        versions = list(
            session.execute(
                select(MedicationRow)
                .where(MedicationRow.record_id == medication.record_id)
                .order_by(MedicationRow.version)
            ).scalars()
        )
    assert [(v.version, v.is_current, v.patient_id) for v in versions] == [
        (1, False, target["patient_id"]),
        (2, True, target["patient_id"]),
    ]
    assert versions[0].name_as_entered == "Sertraline"  # the old version is untouched


def test_query_parameters_naming_another_site_or_patient_are_ignored(
    api: httpx.Client, login: Login, clinic: Clinic, scope_target: dict[str, Any]
) -> None:
    site_b, patient_b = clinic.site_b.id, clinic.patients["B-001"].id
    headers = login("clinician_sitea")
    listed = api.get("/patients", params={"site_id": site_b, "site_code": "SITEB"}, headers=headers)
    assert sorted(p["study_code"] for p in listed.json()["items"]) == ["A-001", "A-002"]
    alerts = api.get(
        "/alerts", params={"site_id": site_b, "patient_id": patient_b}, headers=headers
    )
    assert [a["id"] for a in alerts.json()["items"]] == [scope_target["alert_id"]]
    trials = api.get(
        f"/patients/{scope_target['patient_id']}/trials",
        params={"patient_id": patient_b},
        headers=headers,
    )
    assert [t["id"] for t in trials.json()["items"]] == [scope_target["trial_id"]]


def test_sign_in_form_cannot_pick_a_role_or_site(api: httpx.Client, clinic: Clinic) -> None:
    answer = api.post(
        "/auth/token",
        data={
            "username": "p_A-001",
            "password": PASSWORD,
            "scope": "admin clinician",
            "role": "admin",
            "site_id": "2",
        },
    )
    assert answer.status_code == 200, answer.text
    me = api.get("/me", headers={"Authorization": f"Bearer {answer.json()['access_token']}"})
    assert me.json()["role"] == "patient"
    assert me.json()["username"] == "p_A-001"
    assert me.json()["site_id"] == clinic.site_a.id
