"""The clinician's worklist in the browser: urgency order, search, filters, pages (desktop)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from e2e.conftest import Pages
from e2e.setup import running_trial
from helpers import Clinic, FixedClock
from microtrial.domain.actors import system_actor
from microtrial.services import patients, records
from microtrial.services.records import DiaryInput

pytestmark = pytest.mark.parametrize("viewport", ["desktop"])


def axe_violations(page: Any, *, outside: str = "") -> list[str]:
    """The axe-core rules the page breaks (id and target of each node), except inside
    ``outside`` (a selector for an element another change covers)."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    found = []
    for violation in results.response["violations"]:
        for node in violation["nodes"]:
            target = " ".join(str(t) for t in node["target"])
            if not (outside and target.startswith(outside)):
                found.append(f"{violation['id']}: {target}")
    return found


def row_codes(page: Any) -> list[str]:
    rows = page.locator("table.patients tbody tr[data-patient]")
    return [rows.nth(i).get_attribute("data-patient") for i in range(rows.count())]


def test_the_worklist_puts_urgent_patients_first_and_searches_filters_and_pages(
    pages: Pages, clinic: Clinic, clock: FixedClock
) -> None:
    system = system_actor("test")
    for n in range(22):
        patients.enrol_patient(
            clinic.db,
            system,
            site_code="SITEA",
            study_code=f"W-{n:03d}",
            birth_year=1970,
            sex="other",
            time_zone="Europe/London",
            conditions=["M79.7"],
            clock=lambda: clinic.enrolled_at,
        )
    running_trial(clinic, clock)  # running, period 1 of 6, no diary for a week
    urgent = clinic.patients["A-002"].id
    phq9 = {f"q{i}": 0 for i in range(1, 10)} | {"q9": 2}
    records.record_diary_entry(
        clinic.db,
        clinic.actors["clinician_sitea"],
        urgent,
        DiaryInput(clock().date(), phq9, "phq9"),
        clock=clock,
    )

    w5 = patients.find_patient(clinic.db, system, "SITEA", "W-005").id
    today = clock().date()
    for back, pain in ((0, 7), (1, 7), (2, 7), (7, 3), (8, 3), (9, 3)):
        day = today - dt.timedelta(days=back)
        records.record_diary_entry(
            clinic.db, system, w5, DiaryInput(day, {"average_pain": pain}), clock=clock
        )

    page = pages.open("clinician_sitea")
    assert page.url.endswith("/clinic/patients")
    assert row_codes(page)[:2] == ["A-002", "A-001"]
    first = page.locator("tr[data-patient='A-002']")
    assert "Open urgent alert" in first.inner_text()
    assert first.locator(".badge.urgent").inner_text() == "1 urgent"
    second = page.locator("tr[data-patient='A-001']").inner_text()
    assert "Missed diary" in second
    assert "Running, period 1 of 6" in second
    assert "Other or unspecified migraine (G43.909)" in second
    trend = page.locator("tr[data-patient='W-005'] td.trend")
    assert trend.inner_text() == "↑ Worse: 3 to 7"
    assert "worse" in (trend.get_attribute("class") or "")
    assert "24 patients, page 1 of 2" in page.inner_text("caption")
    assert page.locator("[data-showing]").inner_text() == "Showing 1–20 of 24"
    assert len(row_codes(page)) == 20
    assert axe_violations(page) == []
    pages.shot(page, "worklist")

    page.get_by_role("link", name="Next page").click()
    page.wait_for_url(re.compile(r"page=2"))
    assert row_codes(page) == ["W-018", "W-019", "W-020", "W-021"]
    assert page.get_by_role("link", name="Next page").count() == 0
    page.get_by_role("link", name="Previous page").click()
    page.wait_for_url(re.compile(r"page=1"))
    assert row_codes(page)[0] == "A-002"

    page.get_by_label("Study code").fill("w-01")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url(re.compile(r"q=w-01"))
    assert row_codes(page) == [f"W-{n:03d}" for n in range(10, 20)]
    assert page.get_by_label("Study code").input_value() == "w-01"

    page.get_by_role("link", name="Clear").click()
    page.get_by_label("Trial status").select_option("running")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url(re.compile(r"status=running"))
    assert row_codes(page) == ["A-001"]

    page.get_by_label("Trial status").select_option("")
    page.get_by_label("Only patients needing action").check()
    page.get_by_role("button", name="Show").click()
    page.wait_for_url(re.compile(r"alerts=1"))
    assert row_codes(page) == ["A-002"]
    pages.shot(page, "worklist-filtered")

    page.get_by_label("Study code").fill("nobody")
    page.get_by_role("button", name="Show").click()
    page.get_by_text("No patients match.").wait_for()


def test_the_alert_list_pages_and_its_links_keep_the_filters(
    pages: Pages, clinic: Clinic, clock: FixedClock
) -> None:
    system = system_actor("test")
    phq9 = {f"q{i}": 0 for i in range(1, 10)} | {"q9": 1}
    for n in range(12):
        patient = patients.enrol_patient(
            clinic.db,
            system,
            site_code="SITEA",
            study_code=f"U-{n:03d}",
            birth_year=1970,
            sex="other",
            time_zone="Europe/London",
            clock=lambda: clinic.enrolled_at,
        )
        entry = DiaryInput(clock().date(), phq9, "phq9")
        records.record_diary_entry(clinic.db, system, patient.id, entry, clock=clock)
    page = pages.open("clinician_sitea")
    page.goto("/clinic/alerts?size=5")
    page.get_by_label("Severity").select_option("urgent")
    page.get_by_label("Order").select_option("patient")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url(re.compile(r"severity=urgent"))
    cards = page.locator("article.alert-item h2 a")
    assert [cards.nth(i).inner_text() for i in range(cards.count())] == [
        f"U-{n:03d}" for n in range(5)
    ]
    assert page.locator("[data-showing]").inner_text() == "Showing 1–5 of 12"
    page.get_by_role("link", name="Next page").click()
    page.wait_for_url(re.compile(r"page=2"))
    assert "severity=urgent" in page.url
    assert "sort=patient" in page.url
    assert page.locator("[data-showing]").inner_text() == "Showing 6–10 of 12"
    assert cards.first.inner_text() == "U-005"
    assert page.get_by_label("Severity").input_value() == "urgent"
    page.get_by_role("link", name="Next page").click()
    page.wait_for_url(re.compile(r"page=3"))
    assert page.locator("[data-showing]").inner_text() == "Showing 11–12 of 12"
    assert page.get_by_role("link", name="Next page").count() == 0
    assert axe_violations(page) == []
