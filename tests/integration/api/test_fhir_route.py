"""The FHIR $everything operation through the real server."""

from __future__ import annotations

import httpx
from fhir.resources.R4B.bundle import Bundle

from helpers import Clinic
from integration.api.live import Login


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
