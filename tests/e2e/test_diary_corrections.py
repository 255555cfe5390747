"""A patient sees and corrects a saved day (phone), fills in a missed one; a clinician corrects."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe

from e2e.conftest import Pages
from helpers import Clinic, FixedClock
from microtrial.services import adverse_events, records
from microtrial.services.diary_corrections import diary_day
from microtrial.services.records import DiaryInput


def no_axe_violations(page: Any) -> None:
    """axe-core finds nothing wrong on the page."""
    results = Axe().run(page)
    assert results.violations_count == 0, results.generate_report()


def choose(page: Any, group: str, value: str) -> None:
    """Pick ``value`` in the radio group whose legend starts with ``group``."""
    fieldset = page.get_by_role("group", name=re.compile(f"^{re.escape(group)}"))
    fieldset.get_by_text(value, exact=True).click()


def saved_today(clinic: Clinic, clock: FixedClock) -> int:
    pid = clinic.patients["A-001"].id
    records.record_diary_entry(
        clinic.db,
        clinic.actors["p_A-001"],
        pid,
        DiaryInput(clock().date(), {"average_pain": 3, "worst_pain": 4}, note="slept badly"),
        clock=clock,
    )
    return pid


@pytest.mark.parametrize("viewport", ["phone"], indirect=True)
def test_patient_corrects_a_saved_day_with_a_reason(
    pages: Pages, clinic: Clinic, clock: FixedClock
) -> None:
    pid = saved_today(clinic, clock)
    page = pages.open("p_A-001", "/today")
    page.get_by_role("link", name="See or correct it").click()
    page.get_by_role("heading", name=re.compile("^My diary for Monday 02 March 2026")).wait_for()
    answers = page.locator("dl.answers").first.inner_text()
    assert "Average pain in the last 24 hours" in answers
    assert "slept badly" in answers
    no_axe_violations(page)
    pages.shot(page, "day-saved")

    page.get_by_role("link", name="Correct daily pain diary").click()
    # The saved answers are in the form; without a reason nothing is saved.
    assert page.get_by_label("3", exact=True).first.is_checked()
    choose(page, "Average pain", "5")
    page.get_by_role("button", name="Save the correction").click()
    reason = page.get_by_label(re.compile("^Reason for the correction"))
    assert reason.get_attribute("aria-invalid") == "true"
    assert "Reason for the correction: please say why the day is corrected" in page.inner_text(
        "#reason-error"
    )
    assert "reason:" not in page.inner_text("main")
    no_axe_violations(page)
    pages.shot(page, "correct-refused")
    assert page.get_by_label("5", exact=True).first.is_checked()  # what was typed is kept
    reason = page.get_by_label(re.compile("^Reason for the correction"))
    reason.fill("I tapped 3 by mistake")
    page.get_by_role("button", name="Save the correction").click()
    # Worst pain (4) below the new average (5) is refused, naming both by their questions.
    error = page.inner_text("div.error")
    assert "Worst pain in the last 24 hours" in error, error
    assert "daily_diary" not in page.inner_text("main")
    choose(page, "Worst pain", "6")
    page.get_by_label(re.compile("^Note for the day")).fill("slept badly, better by noon")
    page.get_by_role("button", name="Save the correction").click()

    page.get_by_text("Your correction is saved.").wait_for()
    answers = page.locator("dl.answers").first.inner_text()
    assert "5" in answers.split("Average pain in the last 24 hours", 1)[1].split("\n")[1]
    assert "slept badly, better by noon" in answers
    assert "Reason: I tapped 3 by mistake" in page.inner_text("main")
    page.locator("summary", has_text="Earlier answers (1)").click()
    assert "Average pain in the last 24 hours (0 = no pain, 10 = worst pain imaginable): 3" in (
        page.inner_text("details")
    )
    no_axe_violations(page)
    pages.shot(page, "day-corrected")
    versions = diary_day(clinic.db, clinic.actors["clinician_sitea"], pid, clock().date())
    assert [v.answers["average_pain"] for v in versions["daily_diary"]] == [3, 5]


@pytest.mark.parametrize("viewport", ["phone"], indirect=True)
def test_patient_fills_in_a_missed_day_from_the_diary_list(
    pages: Pages, clinic: Clinic, clock: FixedClock
) -> None:
    saved_today(clinic, clock)
    page = pages.open("p_A-001", "/today")
    # Today's diary is saved already: Today offers to add to the day (side effects, blood
    # pressure, the capsule), not the diary's questions again, and links to where it is corrected.
    page.get_by_role("heading", name="Add to today").wait_for()
    assert page.get_by_role("group", name=re.compile("^Average pain")).count() == 0
    page.get_by_role("link", name="See or correct it").click()
    page.get_by_role("heading", name=re.compile("^My diary for")).wait_for()
    page.goto("/today")
    page.get_by_role("link", name="Fill in or correct a day").click()
    page.get_by_role("heading", name="My diary days").wait_for()
    no_axe_violations(page)
    pages.shot(page, "diary-days")
    page.get_by_role("link", name="Fill in 28 February").click()
    choose(page, "Average pain", "7")
    page.get_by_label(re.compile("^Note for the day")).fill("migraine all day")
    no_axe_violations(page)
    pages.shot(page, "fill-missed-day")
    page.get_by_role("button", name="Save this day's diary").click()
    page.get_by_role("heading", name=re.compile("Saturday 28 February 2026")).wait_for()
    assert "migraine all day" in page.inner_text("dl.answers")
    saved = records.list_diary_entries(
        clinic.db, clinic.actors["p_A-001"], clinic.patients["A-001"].id
    )
    assert (saved[0].local_date, saved[0].answers, saved[0].note) == (
        dt.date(2026, 2, 28),
        {"average_pain": 7},
        "migraine all day",
    )


@pytest.mark.parametrize("viewport", ["phone"], indirect=True)
def test_a_severe_side_effect_of_a_missed_day_sends_the_patient_to_get_help(
    pages: Pages, clinic: Clinic
) -> None:
    page = pages.open("p_A-001", "/diary")
    page.get_by_role("link", name="Fill in 01 March").click()
    page.get_by_role("heading", name=re.compile("^Diary for Sunday 01 March 2026")).wait_for()
    choose(page, "Average pain", "3")
    # The same optional sections as Today, worded for that day.
    page.locator("summary", has_text="Side effects that day").click()
    page.get_by_label("Fast or pounding heartbeat").select_option("3")
    page.locator("summary", has_text="Blood pressure").click()
    page.get_by_label("Systolic blood pressure (mmHg)").fill("150")
    page.get_by_label("Diastolic blood pressure (mmHg)").fill("95")
    no_axe_violations(page)
    pages.shot(page, "fill-missed-day-side-effect")
    page.get_by_role("button", name="Save this day's diary").click()

    # Today says what to do now, with the numbers, as it would for a report of today.
    page.get_by_role("heading", name="If you feel unwell now, get medical help now").wait_for()
    assert "The day's diary is saved." in page.inner_text("main")
    assert page.locator("#urgent-care a[href^='tel:']").count() >= 1
    no_axe_violations(page)
    pages.shot(page, "fill-missed-day-get-help")
    doc, pid = clinic.actors["clinician_sitea"], clinic.patients["A-001"].id
    day = {
        e.instrument_id: e.answers
        for e in records.list_diary_entries(clinic.db, doc, pid)
        if e.local_date == dt.date(2026, 3, 1)
    }
    assert day["ae_checklist"] == {"palpitations": 3}
    assert (day["home_bp"]["systolic"], day["home_bp"]["diastolic"]) == (150, 95)
    assert [e.grade for e in adverse_events.list_adverse_events(clinic.db, doc, pid)] == [3]


@pytest.mark.parametrize("viewport", ["desktop"], indirect=True)
def test_clinician_corrects_a_patients_day_with_a_reason(
    pages: Pages, clinic: Clinic, clock: FixedClock
) -> None:
    pid = saved_today(clinic, clock)
    page = pages.open("clinician_sitea", f"/clinic/patients/{pid}")
    page.get_by_role("link", name="Diary days, notes and corrections").click()
    page.get_by_role("heading", name="Diary of patient A-001").wait_for()
    no_axe_violations(page)
    page.get_by_role("link", name="See or correct 02 March").click()
    assert "slept badly" in page.inner_text("dl.answers")
    page.get_by_role("link", name="Correct daily pain diary").click()
    choose(page, "Worst pain", "6")
    page.get_by_label(re.compile("^Reason for the correction")).fill(
        "patient phoned: worst pain was 6"
    )
    no_axe_violations(page)
    pages.shot(page, "clinic-correct")
    page.get_by_role("button", name="Save the correction").click()
    page.get_by_text("The correction is saved.").wait_for()
    main = page.inner_text("main")
    assert "by clinician_sitea" in main
    assert "Reason: patient phoned: worst pain was 6" in main
    no_axe_violations(page)
    pages.shot(page, "clinic-day-corrected")
    latest = diary_day(clinic.db, clinic.actors["p_A-001"], pid, clock().date())["daily_diary"]
    assert (latest[-1].answers["worst_pain"], latest[-1].note) == (6, "slept badly")
