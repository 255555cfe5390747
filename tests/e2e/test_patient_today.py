"""A patient signs in on a phone or desktop and submits today's diary with a capsule check-in."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from playwright.sync_api import expect

from e2e.conftest import Pages
from e2e.setup import hand_out, running_trial
from helpers import Clinic, FixedClock
from microtrial.services import alerts, dosing, records, trial_views


def choose(page: Any, group: str, value: str) -> None:
    """Pick ``value`` in the radio group whose legend starts with ``group`` (by its label)."""
    fieldset = page.get_by_role("group", name=re.compile(f"^{re.escape(group)}"))
    fieldset.get_by_text(value, exact=True).click()


def test_patient_submits_todays_diary_and_dose_check_in(
    pages: Pages, clinic: Clinic, clock: FixedClock
) -> None:
    trial = running_trial(clinic, clock)
    plan = trial_views.trial_calendar(clinic.db, clinic.actors["clinician_sitea"], trial.id)
    today = plan.on(clock.now.date())
    assert today is not None
    assert today.is_dose_day
    hand_out(clinic, clock, trial.id, str(today.kit_code))  # the pharmacy handed it out
    page = pages.open("p_A-001")
    assert page.url.endswith("/today")
    page.get_by_role("heading", name=re.compile("^Today")).wait_for()
    assert "MicroTrial does not replace your clinician" in page.inner_text("footer")
    pages.shot(page, "today-empty")

    choose(page, "Average pain", "6")
    choose(page, "Worst pain", "8")
    choose(page, "How would you rate last night", "5")
    choose(page, "Today's capsule", "Taken")
    page.get_by_label("Kit code on the capsule pack").fill(today.kit_code or "")
    page.locator("summary", has_text="Side effects today").click()
    page.get_by_label(re.compile("^Headache")).select_option("1")
    page.locator("summary", has_text="Blood pressure").click()
    page.get_by_label("Systolic blood pressure (mmHg)").fill("128")
    page.get_by_label("Diastolic blood pressure (mmHg)").fill("82")
    pages.shot(page, "today-filled")
    page.get_by_role("button", name="Save today's diary").click()

    page.get_by_text("Today's diary is saved").wait_for()
    assert page.get_by_role("status").first.is_visible()
    pages.shot(page, "today-saved")

    page.get_by_role("link", name="History").first.click()
    page.locator("#pain-figure svg[role='img']").wait_for()  # drawn by the server, no script
    assert page.get_by_role("table", name=re.compile("^My diary, latest day first")).locator(
        "tbody tr"
    ).first.inner_text().split("\t") == ["2 Mar 2026", "6", "8", "5", "Taken"]
    pages.shot(page, "history")

    stored = records.list_diary_entries(
        clinic.db, clinic.actors["clinician_sitea"], clinic.patients["A-001"].id
    )
    by_instrument = {e.instrument_id: e for e in stored}
    assert set(by_instrument) == {"daily_diary", "ae_checklist", "home_bp"}
    diary = by_instrument["daily_diary"]
    assert diary.local_date == dt.date(2026, 3, 2)
    assert diary.answers == {
        "average_pain": 6,
        "worst_pain": 8,
        "sleep_quality": 5,
        "dose_check_in": "taken",
    }
    assert by_instrument["ae_checklist"].answers == {"headache": 1}
    assert by_instrument["home_bp"].answers == {"systolic": 128, "diastolic": 82}
    doses = dosing.list_doses(clinic.db, clinic.actors["clinician_sitea"], trial.id)
    assert [(d.local_date, d.kit_code, d.status) for d in doses] == [
        (dt.date(2026, 3, 2), today.kit_code, "taken")
    ]
    # On the calendar, with the right kit, handed out: no alert.
    raised = alerts.list_alerts(
        clinic.db, clinic.actors["clinician_sitea"], patient_id=clinic.patients["A-001"].id
    )
    assert [a.code for a in raised] == []


def test_an_out_of_range_value_is_shown_and_kept_for_correction(pages: Pages) -> None:
    page = pages.open("p_A-001")
    choose(page, "Average pain", "4")
    page.locator("summary", has_text="Blood pressure").click()
    page.get_by_label("Systolic blood pressure (mmHg)").fill("400")
    page.get_by_label("Diastolic blood pressure (mmHg)").fill("10")
    page.get_by_role("button", name="Save today's diary").click()
    alert = page.get_by_role("alert")
    alert.wait_for()
    # named by its label, beside the field, which has the focus (the section is opened for it)
    assert "Systolic blood pressure (mmHg): value 400 out of range" in alert.inner_text()
    # every refused answer at once, each beside its field
    assert "Diastolic blood pressure (mmHg): value 10 out of range" in alert.inner_text()
    assert page.locator("#home-bp-diastolic-error").inner_text().startswith("Diastolic")
    assert "home_bp" not in page.inner_text("main")
    systolic = page.get_by_label("Systolic blood pressure (mmHg)")
    assert systolic.input_value() == "400"
    assert systolic.get_attribute("aria-invalid") == "true"
    assert page.locator("#home-bp-systolic-error").inner_text().startswith("Systolic")
    # the deferred script sets the focus, and it may run after the alert is shown: wait for it
    expect(systolic).to_be_focused()
    pages.shot(page, "today-invalid")
