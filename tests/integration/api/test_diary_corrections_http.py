"""Correcting a saved diary day over HTTP: GET with an ETag, PATCH with If-Match (412, 428)."""

from __future__ import annotations

import httpx

from helpers import Clinic
from integration.api.live import Login


def test_a_day_is_corrected_with_if_match_and_every_version_is_kept(
    api: httpx.Client, login: Login, clinic: Clinic
) -> None:
    pid = clinic.patients["A-001"].id
    me = login("p_A-001")
    body = {"local_date": "2026-03-01", "answers": {"average_pain": 6}, "note": "bad night"}
    assert api.post(f"/patients/{pid}/diary-entries", json=body, headers=me).status_code == 201
    url = f"/patients/{pid}/diary-entries/2026-03-01/daily_diary"
    got = api.get(url, headers=me)
    assert got.status_code == 200
    assert (got.json()["answers"], got.json()["note"], got.headers["ETag"]) == (
        {"average_pain": 6},
        "bad night",
        '"1"',
    )
    fix = {"answers": {"average_pain": 4, "worst_pain": 7}, "reason": "wrong button"}
    missing = api.patch(url, json=fix, headers=me)
    assert missing.status_code == 428
    done = api.patch(url, json=fix, headers={**me, "If-Match": got.headers["ETag"]})
    assert done.status_code == 200, done.text
    assert done.headers["ETag"] == '"2"'
    assert done.json()["answers"] == {"average_pain": 4, "worst_pain": 7}
    assert done.json()["change_reason"] == "wrong button"
    stale = api.patch(url, json=fix, headers={**me, "If-Match": '"1"'})
    assert stale.status_code == 412
    # The clinician of the site reads the latest and sees the first version kept.
    clinician = login("clinician_sitea")
    assert api.get(url, headers=clinician).json()["answers"]["average_pain"] == 4
    versions = api.get(f"{url}/versions", headers=clinician).json()
    assert [(v["version"], v["answers"]["average_pain"], v["change_reason"]) for v in versions] == [
        (1, 6, None),
        (2, 4, "wrong button"),
    ]
    # A correction without a reason names the field; another site's clinician sees nothing.
    blank = api.patch(url, json={"reason": " "}, headers={**clinician, "If-Match": '"2"'})
    assert blank.status_code == 422
    assert blank.json()["detail"][0]["field"] == "reason"
    assert api.get(url, headers=login("clinician_siteb")).status_code == 404
    assert (
        api.get(f"/patients/{pid}/diary-entries/2026-02-01/daily_diary", headers=me).status_code
        == 404
    )


def test_the_patch_is_documented_with_its_action(api: httpx.Client) -> None:
    spec = api.get("/openapi.json").json()
    operation = spec["paths"][
        "/api/v1/patients/{patient_id}/diary-entries/{local_date}/{instrument_id}"
    ]["patch"]
    assert operation["x-action"] == "correct diary entries"
    assert any(p["name"] == "If-Match" for p in operation["parameters"])


def test_a_migraine_attack_is_logged_and_listed(
    api: httpx.Client, login: Login, clinic: Clinic
) -> None:
    pid = clinic.patients["A-001"].id
    me = login("p_A-001")
    body = {
        "instrument_id": "migraine_diary",
        "started": "2026-03-01T07:00:00",
        "ended": "2026-03-01T08:30:00",
        "severity": 3,
        "medication_items": ["migraine_specific_medication"],
        "medication": "sumatriptan 50 mg",
    }
    logged = api.post(f"/patients/{pid}/attacks", json=body, headers=me)
    assert logged.status_code == 201, logged.text
    assert logged.json()["local_date"] == "2026-03-01"
    listed = api.get(f"/patients/{pid}/attacks", headers=login("clinician_sitea")).json()
    assert [(a["severity"], a["medication"]) for a in listed] == [(3, "sumatriptan 50 mg")]
    day = api.get(f"/patients/{pid}/diary-entries/2026-03-01/migraine_diary", headers=me).json()
    assert day["answers"] == {
        "headache": True,
        "peak_severity": 3,
        "headache_duration_minutes": 90,
        "migraine_specific_medication": True,
    }
    wrong = api.post(f"/patients/{pid}/attacks", json={**body, "severity": 9}, headers=me)
    assert wrong.status_code == 422
    assert wrong.json()["detail"][0]["field"] == "severity"
