"""Clinician, unblinded staff and the PHQ-9 safety path, in the browser."""

from __future__ import annotations

import re
from typing import Any

import pytest

from e2e.conftest import Pages
from e2e.setup import plan_for
from helpers import Clinic
from microtrial.services import patients, records, trial_lifecycle, trial_views


def test_clinician_enrols_screens_signs_off_and_plans_a_trial(pages: Pages, clinic: Clinic) -> None:
    page = pages.open("clinician_sitea")
    assert page.url.endswith("/clinic/patients")
    page.get_by_role("link", name="Enrol a patient").first.click()
    page.get_by_label("Study code").fill("A-777")
    page.get_by_label("Year of birth").fill("1979")
    page.get_by_text("Female", exact=True).click()
    page.get_by_label("Time zone").fill("Europe/London")
    page.get_by_label(re.compile("^Conditions")).fill("G43.909")
    pages.shot(page, "enrol")
    page.get_by_role("button", name="Enrol").click()
    page.get_by_role("heading", name="Patient A-777").wait_for()
    # a new patient's pain chart says so instead of drawing an empty axis
    assert page.locator("#no-entries").inner_text() == "No diary entries yet."
    assert page.locator("#chart").count() == 0

    page.get_by_role("button", name="Run screening for psilocybin").click()
    page.wait_for_url(re.compile(r"#screening$"))
    findings = page.get_by_role("table", name="Findings for Psilocybin")
    assert findings.locator("tbody tr").count() > 1
    assert "Decision: clinician review needed" in page.inner_text("#screening")
    pages.shot(page, "screening")
    page.get_by_label("Reason for clearing this screening (psilocybin)").fill(
        "History taken in clinic; no contraindications; BP 124/80"
    )
    page.get_by_role("button", name="Sign off screening").click()
    page.get_by_text("signed off by clinician_sitea").wait_for()

    page.get_by_role("link", name="Plan a trial").last.click()
    page.get_by_label("Regimen").select_option("fadiman")
    page.get_by_label("Amount per dose").fill("100")
    page.get_by_label("Unit").select_option("mg dried material")
    pages.shot(page, "plan")
    page.get_by_role("button", name="Plan trial").click()
    page.get_by_role("heading", name=re.compile(r"^Trial \d+")).wait_for()
    assert page.locator("[data-status]").inner_text() == "screened"
    kit_codes = page.get_by_role("table", name=re.compile("^Periods and kits")).locator("code")
    assert kit_codes.count() == 6
    page.get_by_role("button", name="Schedule").click()
    page.locator("[data-status='scheduled']").wait_for()
    pages.shot(page, "trial-scheduled")

    enrolled = patients.find_patient(clinic.db, clinic.actors["clinician_sitea"], "SITEA", "A-777")
    planned = trial_views.list_trials(
        clinic.db, clinic.actors["clinician_sitea"], patient_id=enrolled.id
    )
    assert [(t.status, t.regimen_name) for t in planned] == [("scheduled", "fadiman")]


def test_unblinded_staff_open_the_kit_sheet(pages: Pages, clinic: Clinic, clock: Any) -> None:
    trial = plan_for(clinic, clock)
    page = pages.open("unblinded_staff_sitea")
    assert page.url.endswith("/pharmacy/kits")
    # a trial not yet scheduled is not the pharmacy's work: nothing to prepare
    assert page.get_by_role("link", name=f"Kit sheet for trial {trial.id}").count() == 0
    assert "Nothing to prepare." in page.inner_text("main")
    trial_lifecycle.transition(
        clinic.db, clinic.actors["clinician_sitea"], trial.id, "schedule", clock=clock
    )
    page.reload()
    page.get_by_role("link", name=f"Kit sheet for trial {trial.id}").click()
    sheet = page.get_by_role("table", name=re.compile("^Fill each kit"))
    sheet.wait_for()
    # the validated dose, inside its sourced range
    assert "Regimen for every kit: psilocybin 100 mg dried material" in page.content()
    rows = sheet.locator("tbody tr")
    assert rows.count() == 6
    arms = [rows.nth(i).locator("td").nth(2).inner_text() for i in range(6)]
    assert sorted(arms) == ["active"] * 3 + ["placebo"] * 3
    codes = [rows.nth(i).locator("td").nth(0).inner_text() for i in range(6)]
    assert codes == [p.kit_code for p in trial.periods]
    assert "Trial status: scheduled" in page.inner_text("main")
    assert "Screening decision: clinician review needed" in page.inner_text("main")
    pages.shot(page, "kit-sheet")
    pdf = page.request.get(f"/pharmacy/trials/{trial.id}/labels.pdf")
    assert pdf.status == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.body().startswith(b"%PDF")

    clinician = pages.open("clinician_sitea")
    assert clinician.request.get(f"/pharmacy/trials/{trial.id}/kits").status == 403


def test_phq9_item9_shows_crisis_resources_and_alerts_the_clinician(pages: Pages) -> None:
    patient = pages.open("p_A-001")
    patient.get_by_role("link", name="Mood").first.click()
    crisis = patient.locator("#crisis")
    assert not crisis.is_visible()
    for number in range(1, 9):
        patient.locator(f"input[name='phq9.q{number}'][value='1']").check()
    item9 = patient.get_by_role("group", name=re.compile("^Thoughts that you would be better off"))
    item9.get_by_label(re.compile("^1 ")).check()
    crisis.wait_for(state="visible")  # at once, before the form is even sent
    patient.get_by_role("button", name="Save").click()
    patient.get_by_text("Saved. Thank you.").wait_for()
    assert crisis.is_visible()
    assert "988" in crisis.inner_text()
    assert "does not replace your clinician" in patient.inner_text("footer")
    pages.shot(patient, "phq9-crisis")

    clinician = pages.open("clinician_sitea")
    row = clinician.locator("tr[data-patient='A-001']")
    assert row.locator(".badge.urgent").inner_text() == "1 urgent"
    assert clinician.locator("tr[data-patient='A-002'] .badge").count() == 0
    pages.shot(clinician, "patient-list-urgent")
    clinician.get_by_role("link", name="Alerts").first.click()
    item = clinician.locator("article.alert-item")
    assert item.count() == 1
    assert "PHQ-9 item 9 above zero" in item.inner_text()
    item.get_by_label("What was done").fill(
        "Phoned the patient; safety plan agreed; C-SSRS negative"
    )
    item.get_by_role("button", name="Acknowledge").click()
    clinician.get_by_text("No open alerts.").wait_for()


@pytest.mark.parametrize("viewport", ["phone"])
def test_phq9_starts_unanswered_and_refuses_an_unanswered_item_9(
    pages: Pages, clinic: Clinic
) -> None:
    """Nothing is pre-selected, so Save cannot record answers the patient never gave."""
    patient = pages.open("p_A-001", "/questionnaires/phq9")
    radios = patient.locator("input[type='radio'][name^='phq9.q']")
    assert radios.count() == 36  # items 1-9, four answers each
    assert patient.locator("input[type='radio'][name^='phq9.q']:checked").count() == 0
    pages.shot(patient, "phq9-empty")
    for number in range(1, 9):
        patient.locator(f"input[name='phq9.q{number}'][value='0']").check()
    patient.get_by_role("button", name="Save").click()
    # the browser itself holds the form back: item 9 is required
    assert patient.locator("input[name='phq9.q9']").first.evaluate("e => e.validity.valueMissing")
    assert patient.url.endswith("/questionnaires/phq9")
    # and the server refuses it too (a browser without form validation), keeping the answers
    patient.locator("form.card").evaluate("f => { f.noValidate = true; }")
    patient.get_by_role("button", name="Save").click()
    alert = patient.get_by_role("alert")
    alert.wait_for()
    assert "Thoughts that you would be better off dead" in alert.inner_text()
    assert patient.locator("input[name='phq9.q1'][value='0']").is_checked()
    assert patient.locator("input[name='phq9.q9']:checked").count() == 0
    pages.shot(patient, "phq9-item9-missing")
    stored = records.list_diary_entries(
        clinic.db, clinic.actors["clinician_sitea"], clinic.patients["A-001"].id
    )
    assert stored == []
