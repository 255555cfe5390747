"""The FHIR $everything operation through the real server."""

from __future__ import annotations

from typing import Any

import httpx
from fhir.resources.R4B.bundle import Bundle

from helpers import Clinic
from integration.api.live import Login
from microtrial.interop.fhir import bundle_problems


def test_everything_is_a_valid_bundle_for_the_patients_clinician(
    api: httpx.Client, login: Login, clinic: Clinic
) -> None:
    pid = clinic.patients["A-001"].id
    answer = api.get(f"/fhir/Patient/{pid}/$everything", headers=login("clinician_sitea"))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/fhir+json")
    bundle = Bundle.model_validate(answer.json())
    assert bundle.type == "searchset"  # $everything is a search result, not a transaction
    assert all(e.request is None and e.search.mode == "match" for e in bundle.entry or [])
    kinds = {entry.resource.get_resource_type() for entry in bundle.entry or []}
    assert {"Patient", "Condition"} <= kinds
    assert "A-001" in answer.text  # the pseudonymous study code is the identifier
    other = api.get(f"/fhir/Patient/{pid}/$everything", headers=login("clinician_siteb"))
    assert other.status_code == 404
    researcher = api.get(f"/fhir/Patient/{pid}/$everything", headers=login("researcher_sitea"))
    assert researcher.status_code == 403


def test_everything_after_a_patch_carries_the_correction_under_the_same_id(
    api: httpx.Client, login: Login, clinic: Clinic
) -> None:
    pid = clinic.patients["A-001"].id
    me, doc = login("p_A-001"), login("clinician_sitea")
    body = {"local_date": "2026-03-01", "answers": {"average_pain": 7}}
    assert api.post(f"/patients/{pid}/diary-entries", json=body, headers=me).status_code == 201

    def response() -> dict[str, Any]:
        answer = api.get(f"/fhir/Patient/{pid}/$everything", headers=doc)
        assert answer.status_code == 200, answer.text
        bundle = answer.json()
        assert bundle_problems(bundle) == []  # every reference resolves, ids match fullUrls
        (found,) = [
            e for e in bundle["entry"] if e["resource"]["resourceType"] == "QuestionnaireResponse"
        ]
        return dict(found)

    before = response()
    url = f"/patients/{pid}/diary-entries/2026-03-01/daily_diary"
    fix = {"answers": {"average_pain": 4}, "reason": "typed 7 for 4"}
    done = api.patch(url, json=fix, headers={**me, "If-Match": '"1"'})
    assert done.status_code == 200, done.text
    after = response()
    assert after["fullUrl"] == before["fullUrl"]
    assert after["resource"]["id"] == before["resource"]["id"]
    assert before["fullUrl"] == f"urn:uuid:{before['resource']['id']}"
    assert (before["resource"]["status"], after["resource"]["status"]) == ("completed", "amended")
    assert after["resource"]["item"][0]["answer"] == [{"valueInteger": 4}]
