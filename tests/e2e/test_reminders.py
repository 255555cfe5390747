"""Reminders on the patient's terms in the browser (phone): the patient picks times and the
calendar channel, gets the webcal link once, pauses and resumes; the clinic sees the state on
the patient page and the worklist and stops the feed, whose address then answers 404."""

from __future__ import annotations

import re
from typing import Any

import httpx
import icalendar
import pytest
from axe_playwright_python.sync_playwright import Axe

from e2e.conftest import Pages
from helpers import Clinic


def no_axe_violations(page: Any) -> None:
    """axe-core finds nothing wrong on the page."""
    results = Axe().run(page)
    assert results.violations_count == 0, results.generate_report()


@pytest.mark.parametrize("viewport", ["phone"], indirect=True)
def test_patient_sets_reminders_and_the_clinic_stops_the_feed(pages: Pages, clinic: Clinic) -> None:
    page = pages.open("p_A-001", "/today")
    page.get_by_role("link", name="Reminders").first.click()
    page.get_by_role("heading", name="My reminders").wait_for()
    assert "does not replace your clinician" in page.inner_text("footer")
    no_axe_violations(page)
    pages.shot(page, "reminders-first")
    page.get_by_label("Diary reminder").fill("20:30")
    page.get_by_label("Capsule reminder (on capsule days)").fill("08:15")
    page.get_by_label("In my phone's calendar (a private calendar link)").check()
    page.get_by_role("button", name="Save my reminders").click()
    page.get_by_role("heading", name="Your calendar link").wait_for()
    webcal = page.get_by_role("link", name="Add to my phone's calendar").get_attribute("href")
    assert webcal is not None
    assert webcal.startswith("webcal://")
    address = page.get_by_label("Or copy this address into your calendar app:").input_value()
    assert address.startswith("http")
    assert "iPhone" in page.inner_text("#feed-steps")
    assert "Android" in page.inner_text("#feed-steps")
    no_axe_violations(page)
    pages.shot(page, "reminders-link")
    path = re.sub(r"^https?://[^/]+", "", address)
    with httpx.Client(base_url=pages.server.url, timeout=30) as anonymous:
        feed = anonymous.get(path)
        assert feed.status_code == 200
        assert list(icalendar.Calendar.from_ical(feed.text).walk("VEVENT"))
        page.get_by_role("button", name="Pause my reminders").click()
        assert page.locator("#reminder-state").get_attribute("data-state") == "paused"
        page.get_by_role("button", name="Resume my reminders").click()
        assert page.locator("#reminder-state").get_attribute("data-state") == "on"
        assert "webcal://" not in page.content()  # the link is shown only when made
        # The clinic sees the reminders and stops the feed.
        clinic_page = pages.open("clinician_sitea", "/clinic/patients")
        row = clinic_page.locator("td.reminders").first
        row.wait_for()
        assert "On" in clinic_page.inner_text("table")
        pid = clinic.patients["A-001"].id
        clinic_page.goto(f"/clinic/patients/{pid}")
        assert "Reminders: on" in clinic_page.inner_text("#reminders-state")
        no_axe_violations(clinic_page)
        clinic_page.get_by_role("button", name="Stop the calendar link").click()
        clinic_page.wait_for_load_state()
        assert "Reminders: off" in clinic_page.inner_text("#reminders-state")
        assert anonymous.get(path).status_code == 404
