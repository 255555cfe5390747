"""Exactly-once creates (Idempotency-Key) and optimistic updates (ETag / If-Match)."""

from __future__ import annotations

import uuid

import httpx

from helpers import Clinic
from integration.api.live import Login


def test_a_create_replayed_100_times_stores_one_entry(
    api: httpx.Client, login: Login, clinic: Clinic
) -> None:
    pid = clinic.patients["A-001"].id
    headers = {**login("p_A-001"), "Idempotency-Key": str(uuid.uuid4())}
    body = {"local_date": "2026-03-01", "answers": {"average_pain": 6, "worst_pain": 8}}
    answers = [
        api.post(f"/patients/{pid}/diary-entries", json=body, headers=headers) for _ in range(100)
    ]
    assert {a.status_code for a in answers} == {201}
    assert len({a.json()["record_id"] for a in answers}) == 1
    stored = api.get(f"/patients/{pid}/diary-entries", headers=login("p_A-001")).json()["items"]
    assert [(e["local_date"], e["answers"]) for e in stored] == [
        ("2026-03-01", {"average_pain": 6, "worst_pain": 8})
    ]


def test_the_same_key_with_another_body_is_422(
    api: httpx.Client, login: Login, clinic: Clinic
) -> None:
    pid = clinic.patients["A-001"].id
    headers = {**login("p_A-001"), "Idempotency-Key": str(uuid.uuid4())}
    first = {"local_date": "2026-03-01", "answers": {"average_pain": 6}}
    assert (
        api.post(f"/patients/{pid}/diary-entries", json=first, headers=headers).status_code == 201
    )
    changed = {"local_date": "2026-03-01", "answers": {"average_pain": 2}}
    again = api.post(f"/patients/{pid}/diary-entries", json=changed, headers=headers)
    assert again.status_code == 422
    assert again.json()["detail"][0]["field"] == "Idempotency-Key"
    assert (
        len(api.get(f"/patients/{pid}/diary-entries", headers=login("p_A-001")).json()["items"])
        == 1
    )


def test_every_create_honours_the_key(api: httpx.Client, login: Login, clinic: Clinic) -> None:
    pid = clinic.patients["A-001"].id
    clinician = login("clinician_sitea")
    creates = {
        f"/patients/{pid}/medications": {"name": "Lithium 300 mg"},
        f"/patients/{pid}/conditions": {"icd10_code": "M79.7"},
        f"/patients/{pid}/adverse-events": {
            "term": "nausea",
            "grade": 2,
            "onset_date": "2026-03-01",
        },
        "/patients": {
            "site_code": "SITEA",
            "study_code": "A-010",
            "birth_year": 1975,
            "sex": "male",
            "time_zone": "Europe/Berlin",
        },
    }
    for path, body in creates.items():
        headers = {**clinician, "Idempotency-Key": str(uuid.uuid4())}
        first = api.post(path, json=body, headers=headers)
        assert first.status_code == 201, (path, first.text)
        replays = [api.post(path, json=body, headers=headers) for _ in range(3)]
        assert all(r.status_code == 201 and r.json() == first.json() for r in replays), path
        assert replays[0].headers["idempotent-replayed"] == "true"
        other = api.post(
            path, json={**body, "extra": 1} if path == "/patients" else body, headers=headers
        )
        assert other.status_code in (201, 422), path
    patient = api.get(f"/patients/{pid}", headers=clinician).json()
    assert [m["name_as_entered"] for m in patient["medications"]] == ["Lithium 300 mg"]
    assert sorted(c["icd10_code"] for c in patient["conditions"]) == ["G43.909", "M79.7"]
    events = api.get(f"/patients/{pid}/adverse-events", headers=clinician).json()["items"]
    assert len(events) == 1
    listed = api.get("/patients", headers=clinician).json()["items"]
    assert [p["study_code"] for p in listed].count("A-010") == 1


def test_a_failed_create_releases_its_key(api: httpx.Client, login: Login, clinic: Clinic) -> None:
    pid = clinic.patients["A-001"].id
    headers = {**login("clinician_sitea"), "Idempotency-Key": str(uuid.uuid4())}
    bad = {"term": "nausea", "grade": 9, "onset_date": "2026-03-01"}
    assert api.post(f"/patients/{pid}/adverse-events", json=bad, headers=headers).status_code == 422
    good = {**bad, "grade": 2}
    assert (
        api.post(f"/patients/{pid}/adverse-events", json=good, headers=headers).status_code == 201
    )


def test_updates_need_a_current_if_match(api: httpx.Client, login: Login, clinic: Clinic) -> None:
    pid = clinic.patients["A-001"].id
    clinician = login("clinician_sitea")
    created = api.post(
        f"/patients/{pid}/medications", json={"name": "Sertralin"}, headers=clinician
    )
    url = f"/patients/{pid}/medications/{created.json()['record_id']}"
    etag = api.get(url, headers=clinician).headers["etag"]
    assert etag == created.headers["etag"] == '"1"'
    change = {"name_as_entered": "Sertraline 50 mg", "reason": "spelling"}

    missing = api.patch(url, json=change, headers=clinician)
    assert missing.status_code == 428

    updated = api.patch(url, json=change, headers={**clinician, "If-Match": etag})
    assert updated.status_code == 200, updated.text
    assert updated.headers["etag"] == '"2"'

    stale = api.patch(
        url, json={**change, "reason": "again"}, headers={**clinician, "If-Match": etag}
    )
    assert stale.status_code == 412
    current = api.get(url, headers=clinician)
    assert current.json()["name_as_entered"] == "Sertraline 50 mg"
    assert current.headers["etag"] == '"2"'
    garbage = api.patch(url, json=change, headers={**clinician, "If-Match": 'W/"abc"'})
    assert garbage.status_code == 412


def test_trial_transitions_need_the_current_lock_version(
    api: httpx.Client, login: Login, clinic: Clinic
) -> None:
    pid = clinic.patients["A-001"].id
    clinician = {**login("clinician_sitea"), "Idempotency-Key": str(uuid.uuid4())}
    body = {
        "regimen": {
            "template": "fadiman",
            "substance": "psilocybin",
            "amount": 100,
            "unit": "mg dried material",
        },
        "start_date": "2026-03-09",
    }
    planned = [api.post(f"/patients/{pid}/trials", json=body, headers=clinician) for _ in range(3)]
    assert [p.status_code for p in planned] == [201, 201, 201]
    assert len({p.json()["id"] for p in planned}) == 1
    url = f"/trials/{planned[0].json()['id']}/transitions"
    etag = planned[0].headers["etag"]
    withdraw = {"action": "withdraw", "reason": "patient moved away"}
    assert api.post(url, json=withdraw, headers=login("clinician_sitea")).status_code == 428
    stale = {**login("clinician_sitea"), "If-Match": '"0"'}
    assert api.post(url, json=withdraw, headers=stale).status_code == 412
    done = api.post(url, json=withdraw, headers={**login("clinician_sitea"), "If-Match": etag})
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "withdrawn"
    assert done.headers["etag"] != etag
