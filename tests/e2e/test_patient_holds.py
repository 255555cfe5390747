"""A hold reaches the patient first (issue 14): after home BP 210/125 the page the patient lands on
shows the hold and no capsule prompt; PHQ-9 item 9 shows crisis lines (tel: links) at once and on
Today; a withdrawn patient is told why."""

from __future__ import annotations

import re

import pytest

from e2e.conftest import Pages
from e2e.setup import running_trial
from helpers import Clinic, FixedClock
from microtrial.services import alerts, dosing, trial_lifecycle


def test_bp_crisis_replaces_the_capsule_prompt_with_the_hold(
    pages: Pages, clinic: Clinic, clock: FixedClock
) -> None:
    trial = running_trial(clinic, clock)
    page = pages.open("p_A-001")
    assert page.get_by_role("heading", name="Capsule check-in").count() == 1
    fieldset = page.get_by_role("group", name=re.compile("^Average pain"))
    fieldset.get_by_text("5", exact=True).click()
    page.locator("summary", has_text="Blood pressure").click()
    page.get_by_label("Systolic blood pressure (mmHg)").fill("210")
    page.get_by_label("Diastolic blood pressure (mmHg)").fill("125")
    page.get_by_role("button", name="Save today's diary").click()
    page.wait_for_load_state()
    notice = page.locator("#hold-notice")
    notice.wait_for()
    text = notice.inner_text()
    assert "Do not take a capsule" in text
    assert "Your blood pressure reading on 2 March 2026 was very high." in text
    assert "clinic" in text
    assert page.get_by_role("heading", name="Capsule check-in").count() == 0
    assert page.get_by_label("Kit code on the capsule pack").count() == 0
    pages.shot(page, "today-held")
    doc = clinic.actors["clinician_sitea"]
    assert dosing.list_doses(clinic.db, doc, trial.id) == []
    assert {a.code for a in alerts.list_alerts(clinic.db, doc)} == {"bp-crisis"}


def test_phq9_item9_shows_crisis_lines_at_once_and_on_today(
    pages: Pages, clinic: Clinic, clock: FixedClock
) -> None:
    running_trial(clinic, clock)
    page = pages.open("p_A-001", "/questionnaires/phq9")
    for i in range(1, 10):
        value = 1 if i == 9 else 0
        page.locator(f"input[name='phq9.q{i}'][value='{value}']").check()
    page.get_by_role("button", name=re.compile("^Save")).click()
    page.wait_for_load_state()
    crisis = page.locator("#crisis")
    crisis.wait_for()
    assert crisis.locator('a[href="tel:988"]').count() == 1
    assert crisis.locator('a[href="tel:116123"]').count() == 1
    page.goto("/today")
    assert page.locator("#crisis").is_visible()
    assert page.locator("#hold-notice").is_visible()
    assert "thoughts" in page.locator("#hold-notice").inner_text()
    assert page.get_by_role("heading", name="Capsule check-in").count() == 0
    pages.shot(page, "today-crisis")


def test_a_withdrawn_patient_is_told_why(pages: Pages, clinic: Clinic, clock: FixedClock) -> None:
    trial = running_trial(clinic, clock)
    trial_lifecycle.transition(
        clinic.db,
        clinic.actors["clinician_sitea"],
        trial.id,
        "withdraw",
        reason="your liver tests need checking first",
        clock=clock,
    )
    page = pages.open("p_A-001")
    ended = page.locator("#ended-notice").inner_text()
    assert "stopped your trial early" in ended
    assert "your liver tests need checking first" in ended
    assert page.get_by_role("heading", name="Capsule check-in").count() == 0
    pages.shot(page, "today-withdrawn")


def test_a_seizure_reported_after_the_diary_reaches_the_clinic_and_says_get_help_now(
    pages: Pages, clinic: Clinic, clock: FixedClock
) -> None:
    running_trial(clinic, clock)
    page = pages.open("p_A-001")
    fieldset = page.get_by_role("group", name=re.compile("^Average pain"))
    fieldset.get_by_text("4", exact=True).click()
    page.get_by_role("button", name="Save today's diary").click()
    page.wait_for_load_state()
    # Later the same day: the page offers to add to today, with the side effects open.
    page.get_by_role("heading", name="Add to today").wait_for()
    assert page.get_by_role("group", name=re.compile("^Average pain")).count() == 0
    page.get_by_label("Seizure").check()
    page.get_by_role("button", name="Add to today").click()
    page.wait_for_load_state()
    urgent = page.locator("#urgent-care")
    urgent.wait_for()
    assert "get medical help now" in urgent.inner_text()
    assert urgent.locator('a[href="tel:911"]').count() == 1
    assert "seizure" in page.locator("#hold-notice").inner_text()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"]
    pages.shot(page, "today-later-seizure")
    doc = clinic.actors["clinician_sitea"]
    assert "seizure" in {a.code for a in alerts.list_alerts(clinic.db, doc)}


@pytest.mark.parametrize("viewport", ["phone"])
def test_chest_pain_ticked_on_a_phone_holds_the_capsule_and_says_get_help_now(
    pages: Pages, clinic: Clinic, clock: FixedClock
) -> None:
    running_trial(clinic, clock)
    page = pages.open("p_A-001")
    page.get_by_role("group", name=re.compile("^Average pain")).get_by_text("4", exact=True).click()
    page.locator("summary", has_text="Side effects today").click()
    flags = page.get_by_role("group", name="Did any of these happen? Tick each one that did.")
    for words in (
        "Chest pain or tightness",
        "Fainting or passing out",
        "Thoughts of hurting yourself or of ending your life",
        "I am pregnant, or a pregnancy test was positive",
    ):
        assert flags.get_by_label(words).count() == 1, words
    flags.get_by_label("Chest pain or tightness").check()
    pages.shot(page, "side-effects-red-flags")
    page.get_by_role("button", name="Save today's diary").click()
    page.wait_for_load_state()
    urgent = page.locator("#urgent-care")
    urgent.wait_for()
    assert "get medical help now" in urgent.inner_text()
    assert "chest pain, breathlessness or fainting" in page.locator("#hold-notice").inner_text()
    assert page.get_by_role("heading", name="Capsule check-in").count() == 0
    pages.shot(page, "today-chest-pain")
    doc = clinic.actors["clinician_sitea"]
    assert "cardiac-red-flag" in {a.code for a in alerts.list_alerts(clinic.db, doc)}
