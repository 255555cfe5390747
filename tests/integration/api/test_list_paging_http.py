"""List routes and pages through the real server: sort and filter by whitelisted values only,
totals and cursors, and page links that keep the filters."""

from __future__ import annotations

import re

import httpx

from helpers import Clinic, FixedClock
from integration.api.live import LiveServer, Login
from integration.api.test_list_costs import grow, web_client


def refused(answer: httpx.Response, field: str) -> str:
    """The refusal's text, checked to be a 422 naming ``field``."""
    assert answer.status_code == 422, answer.text
    assert [e["field"] for e in answer.json()["detail"]] == [field]
    return answer.text


def test_api_lists_sort_filter_count_and_refuse_unknown_values(
    api: httpx.Client, login: Login, clinic: Clinic, clock: FixedClock
) -> None:
    grow(clinic, clock, 7)
    doc = login("clinician_sitea")
    first = api.get("/patients", params={"limit": 4, "sort": "-study_code"}, headers=doc).json()
    assert first["total"] == 9
    assert [p["study_code"] for p in first["items"]] == ["G-006", "G-005", "G-004", "G-003"]
    params = {"limit": 4, "sort": "-study_code", "cursor": first["next_cursor"]}
    second = api.get("/patients", params=params, headers=doc).json()
    assert [p["study_code"] for p in second["items"]] == ["G-002", "G-001", "G-000", "A-002"]
    # a cursor belongs to its sort: changing the sort midway is refused, not mixed
    mixed = api.get("/patients", params={**params, "sort": "id"}, headers=doc)
    assert "another sort" in refused(mixed, "cursor")
    found = api.get("/patients", params={"q": "g-00"}, headers=doc).json()
    assert found["total"] == 7
    assert "-birth_year" in refused(
        api.get("/patients", params={"sort": "name"}, headers=doc), "sort"
    )
    # alerts: every grown patient has an urgent one; filters by severity, sorts by patient
    urgent = api.get(
        "/alerts", params={"severity": "urgent", "sort": "patient"}, headers=doc
    ).json()
    assert urgent["total"] == 7
    assert [a["study_code"] for a in urgent["items"]][:2] == ["G-000", "G-001"]
    info = api.get("/alerts", params={"severity": "info"}, headers=doc).json()
    assert (info["total"], info["items"]) == (0, [])
    assert "urgent" in refused(
        api.get("/alerts", params={"severity": "red"}, headers=doc), "severity"
    )
    assert refused(api.get("/alerts", params={"sort": "message"}, headers=doc), "sort")
    # other sites see none of it
    other = api.get("/patients", headers=login("clinician_siteb")).json()
    assert (other["total"], [p["study_code"] for p in other["items"]]) == (1, ["B-001"])
    assert api.get("/alerts", headers=login("clinician_siteb")).json()["total"] == 0
    # a short per-patient list has one order: asking for another is refused, naming sort
    pid = clinic.patients["G-000"].id
    assert refused(
        api.get(f"/patients/{pid}/adverse-events", params={"sort": "id"}, headers=doc), "sort"
    )
    trials = api.get(f"/patients/{pid}/trials", params={"status": "scheduled"}, headers=doc)
    assert trials.json()["total"] == 1
    assert refused(
        api.get(f"/patients/{pid}/trials", params={"status": "x"}, headers=doc), "status"
    )


NEXT = re.compile(r'<a href="([^"]+)" rel="next">')


def test_pages_show_their_window_and_links_keep_the_filters(
    server: LiveServer, clinic: Clinic, clock: FixedClock
) -> None:
    grow(clinic, clock, 12)
    web = web_client(server.url, "clinician_sitea")
    try:
        page = web.get("/clinic/alerts", params={"severity": "urgent", "size": 5})
        assert page.status_code == 200
        assert "Showing 1–5 of 12" in page.text
        following = NEXT.search(page.text)
        assert following is not None
        link = following[1].replace("&amp;", "&")
        for kept in ("severity=urgent", "size=5", "page=2"):
            assert kept in link
        second = web.get(link)
        assert "Showing 6–10 of 12" in second.text
        assert 'rel="prev"' in second.text
        assert "Showing 11–12 of 12" in web.get("/clinic/alerts?size=5&page=9").text  # last page
        bad = web.get("/clinic/alerts", params={"severity": "red"})
        assert bad.status_code == 422
        assert "Severity: not a listed choice (allowed: urgent, high, info)" in bad.text
        assert web.get("/clinic/alerts", params={"size": "500"}).status_code == 422
        assert "Showing 1–10 of 14" in web.get("/clinic/patients?size=10").text
    finally:
        web.close()


def test_a_short_list_paged_from_memory_says_its_total_too(
    api: httpx.Client, login: Login, clinic: Clinic, clock: FixedClock
) -> None:
    """The QA walk-through found ``"total": null`` on a patient's adverse events."""
    pid = clinic.patients["A-001"].id
    doc = login("clinician_sitea")
    for term in ("nausea", "headache", "rash"):
        body = {"term": term, "grade": 1, "onset_date": clock().date().isoformat()}
        assert api.post(f"/patients/{pid}/adverse-events", json=body, headers=doc).is_success
    first = api.get(f"/patients/{pid}/adverse-events", params={"limit": 2}, headers=doc).json()
    assert (first["total"], len(first["items"])) == (3, 2)
    rest = api.get(
        f"/patients/{pid}/adverse-events",
        params={"limit": 2, "cursor": first["next_cursor"]},
        headers=doc,
    ).json()
    assert (rest["total"], len(rest["items"]), rest["next_cursor"]) == (3, 1, None)
