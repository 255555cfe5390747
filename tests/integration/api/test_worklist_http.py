"""GET /api/v1/worklist: the clinic worklist through the real server (same service as the page)."""

from __future__ import annotations

import httpx

from helpers import Clinic, FixedClock
from integration.api.live import Login
from microtrial.domain.actors import system_actor
from microtrial.services import patients, records
from microtrial.services.records import DiaryInput


def test_the_worklist_route_orders_searches_filters_and_pages(
    api: httpx.Client, login: Login, clinic: Clinic, clock: FixedClock
) -> None:
    system = system_actor("test")
    for n in range(12):
        patients.enrol_patient(
            clinic.db,
            system,
            site_code="SITEA",
            study_code=f"W-{n:02d}",
            birth_year=1970,
            sex="other",
            time_zone="Europe/London",
            clock=lambda: clinic.enrolled_at,
        )
    phq9 = {f"q{i}": 0 for i in range(1, 10)} | {"q9": 1}
    urgent = clinic.patients["A-002"].id
    entry = DiaryInput(clock().date(), phq9, "phq9")
    records.record_diary_entry(clinic.db, system, urgent, entry, clock=clock)
    doc = login("clinician_sitea")

    first = api.get("/worklist", params={"page_size": 10}, headers=doc)
    assert first.status_code == 200, first.text
    body = first.json()
    assert (body["total"], body["pages"], body["page"]) == (14, 2, 1)
    rows = body["rows"]
    assert [r["study_code"] for r in rows][:2] == ["A-002", "A-001"]
    assert (rows[0]["tier"], rows[0]["reason"], rows[0]["urgent_alerts"]) == (
        0,
        "open urgent alert",
        1,
    )
    assert rows[1]["conditions"] == ["Other or unspecified migraine (G43.909)"]
    second = api.get("/worklist", params={"page_size": 10, "page": 2}, headers=doc).json()
    assert [r["study_code"] for r in second["rows"]] == ["W-08", "W-09", "W-10", "W-11"]
    found = api.get("/worklist", params={"q": "w-1"}, headers=doc).json()
    assert [r["study_code"] for r in found["rows"]] == ["W-10", "W-11"]
    flagged = api.get("/worklist", params={"alerts": "true"}, headers=doc).json()
    assert [r["study_code"] for r in flagged["rows"]] == ["A-002"]
    none = api.get("/worklist", params={"status": "none"}, headers=doc).json()
    assert none["total"] == 14

    refused = api.get("/worklist", params={"page_size": 7}, headers=doc)
    assert refused.status_code == 422
    assert "page_size" in refused.text
    assert api.get("/worklist", params={"status": "lost"}, headers=doc).status_code == 422
    other = api.get("/worklist", headers=login("clinician_siteb")).json()
    assert [r["study_code"] for r in other["rows"]] == ["B-001"]
    assert api.get("/worklist", headers=login("researcher_sitea")).status_code == 403
    assert api.get("/worklist", headers=login("p_A-001")).status_code == 403
