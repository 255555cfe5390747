"""A migraine patient logs an attack on a phone: start, end, severity, acute medication."""

from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe

from e2e.conftest import Pages
from helpers import Clinic, FixedClock
from microtrial.services.attacks import list_attacks
from microtrial.services.diary_corrections import diary_day


@pytest.mark.parametrize("viewport", ["phone"], indirect=True)
def test_patient_logs_a_migraine_attack(pages: Pages, clinic: Clinic, clock: FixedClock) -> None:
    pid = clinic.patients["A-001"].id
    page = pages.open("p_A-001", "/today")
    page.get_by_role("link", name="Log a headache attack").click()
    page.get_by_role("heading", name="Log a migraine attack").wait_for()
    page.get_by_label("When did it start?").fill("2026-03-02T07:30")
    page.get_by_label("When did it end?").fill("2026-03-02T06:45")
    page.get_by_label("2 – Moderate").check()
    page.get_by_role("button", name="Save this attack").click()
    ended = page.get_by_label("When did it end?")
    assert ended.get_attribute("aria-invalid") == "true"
    assert "When it ended: is before the start" in page.inner_text("main")
    assert page.get_by_label("2 – Moderate").is_checked()  # what was typed is kept
    results = Axe().run(page)
    assert results.violations_count == 0, results.generate_report()
    pages.shot(page, "attack-refused")
    ended.fill("2026-03-02T08:45")
    page.get_by_label("Took acute headache medication").check()
    page.get_by_label("Which medicine, and how much?").fill("ibuprofen 400 mg")
    page.get_by_role("button", name="Save this attack").click()
    page.get_by_text("Your attack is saved.").wait_for()
    row = page.get_by_role("table", name="My latest attacks").locator("tbody tr").first
    assert row.inner_text().split("\t") == [
        "Mon 02 Mar 07:30",
        "08:45",
        "2 – Moderate",
        "ibuprofen 400 mg",
    ]
    results = Axe().run(page)
    assert results.violations_count == 0, results.generate_report()
    pages.shot(page, "attack-saved")
    doc = clinic.actors["clinician_sitea"]
    assert [a.severity for a in list_attacks(clinic.db, doc, pid)] == [2]
    day = diary_day(clinic.db, doc, pid, clock().date())["migraine_diary"][-1]
    assert day.answers == {
        "headache": True,
        "peak_severity": 2,
        "headache_duration_minutes": 75,
        "acute_medication": True,
    }
