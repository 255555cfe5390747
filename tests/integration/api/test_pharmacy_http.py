"""POST /api/v1/trials/{id}/kits/prepared and /dispensed through the real server."""

from __future__ import annotations

import httpx

from e2e.setup import plan_for
from helpers import Clinic, FixedClock
from integration.api.live import Login
from microtrial.services import trial_lifecycle


def test_the_pharmacy_records_a_kit_prepared_then_dispensed(
    api: httpx.Client, login: Login, clinic: Clinic, clock: FixedClock
) -> None:
    trial = plan_for(clinic, clock)
    code = trial.periods[0].kit_code
    staff = login("unblinded_staff_sitea")
    body = {"kit_code": code, "capsules": 5}
    early = api.post(f"/trials/{trial.id}/kits/prepared", json=body, headers=staff)
    assert early.status_code == 409  # not scheduled yet
    trial_lifecycle.transition(
        clinic.db, clinic.actors["clinician_sitea"], trial.id, "schedule", clock=clock
    )
    assert (
        api.post(f"/trials/{trial.id}/kits/dispensed", json=body, headers=staff).status_code == 409
    )
    zero = api.post(
        f"/trials/{trial.id}/kits/prepared", json={"kit_code": code, "capsules": 0}, headers=staff
    )
    assert zero.status_code == 422
    assert "capsules" in zero.text
    done = api.post(f"/trials/{trial.id}/kits/prepared", json=body, headers=staff)
    assert done.status_code == 200, done.text
    record = done.json()
    assert (record["code"], record["prepared_by"], record["prepared_capsules"]) == (
        code,
        "unblinded_staff_sitea",
        5,
    )
    assert "arm" not in record
    again = api.post(f"/trials/{trial.id}/kits/prepared", json=body, headers=staff)
    assert again.status_code == 409
    handed = api.post(f"/trials/{trial.id}/kits/dispensed", json=body, headers=staff)
    assert handed.status_code == 200, handed.text
    assert handed.json()["dispensed_capsules"] == 5
    sheet = api.get(f"/trials/{trial.id}/kits", headers=staff).json()
    first = next(k for k in sheet["kits"] if k["code"] == code)
    assert (first["prepared_capsules"], first["dispensed_capsules"]) == (5, 5)
    clinician = login("clinician_sitea")
    refused = api.post(f"/trials/{trial.id}/kits/prepared", json=body, headers=clinician)
    assert refused.status_code == 403
    outsider = login("unblinded_staff_siteb")
    assert (
        api.post(f"/trials/{trial.id}/kits/prepared", json=body, headers=outsider).status_code
        == 404
    )
