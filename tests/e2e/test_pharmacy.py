"""The pharmacy in the browser: the to-prepare list, prepared and dispensed records per kit,
and the labels (desktop)."""

from __future__ import annotations

import re

import pypdfium2 as pdfium  # type: ignore[import-untyped]
import pytest
from playwright.sync_api import expect

from e2e.conftest import Pages
from e2e.setup import plan_for, running_trial
from e2e.test_worklist import axe_violations
from helpers import Clinic, FixedClock
from microtrial.domain.actors import system_actor
from microtrial.services import admin, dosing, pharmacy, records, trial_lifecycle
from microtrial.services.records import DiaryInput

pytestmark = pytest.mark.parametrize("viewport", ["desktop"])


def pdf_text(pdf: bytes) -> str:
    doc = pdfium.PdfDocument(pdf)
    try:
        return " ".join(
            " ".join(doc[i].get_textpage().get_text_range().split()) for i in range(len(doc))
        )
    finally:
        doc.close()


def test_pharmacist_prepares_and_dispenses_kits_and_prints_labels(
    pages: Pages, clinic: Clinic, clock: FixedClock
) -> None:
    admin.set_crisis_lines(
        clinic.db, system_actor("test"), "SITEA", [("Site A on-call", "020 7946 0000")]
    )
    trial = plan_for(clinic, clock)
    trial_lifecycle.transition(
        clinic.db, clinic.actors["clinician_sitea"], trial.id, "schedule", clock=clock
    )
    draft = plan_for(clinic, clock, "A-002")  # screened, not scheduled: not on the list
    page = pages.open("unblinded_staff_sitea")
    assert page.url.endswith("/pharmacy/kits")
    to_prepare = page.get_by_role("table", name=re.compile("^Scheduled, running or paused"))
    row = to_prepare.locator(f"tr[data-trial='{trial.id}']")
    assert "0 of 6" in row.inner_text()
    assert to_prepare.locator(f"tr[data-trial='{draft.id}']").count() == 0
    assert "No prepared kits waiting." in page.inner_text("main")
    assert axe_violations(page) == []
    pages.shot(page, "pharmacy-list")

    row.get_by_role("link", name=f"Kit sheet for trial {trial.id}").click()
    first, second = (p.kit_code for p in trial.periods[:2])
    assert page.get_by_label(f"Capsules in kit {first}").input_value() == "5"  # the dose days
    page.get_by_role("button", name=f"Record kit {first} prepared").click()
    prepared = page.locator(f"tr[data-kit='{first}'] td.prepared")
    prepared.filter(has_text="5 capsules, by unblinded_staff_sitea").wait_for()
    # more capsules than the kit holds: refused, the typed count kept
    page.get_by_label(f"Capsules handed out in kit {first}").fill("9")
    page.get_by_role("button", name=f"Record kit {first} dispensed").click()
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert "more capsules than the kit was filled with" in alert.inner_text()
    typed = page.get_by_label(f"Capsules handed out in kit {first}")
    assert typed.input_value() == "9"
    assert typed.get_attribute("aria-invalid") == "true"
    expect(typed).to_be_focused()  # autofocus runs after parsing: wait for it
    page.get_by_label(f"Capsules handed out in kit {first}").fill("5")
    page.get_by_role("button", name=f"Record kit {first} dispensed").click()
    dispensed = page.locator(f"tr[data-kit='{first}'] td.dispensed")
    dispensed.filter(has_text="5 capsules, by unblinded_staff_sitea").wait_for()
    assert page.locator(f"tr[data-kit='{second}'] td.dispensed").inner_text() == "not yet"
    assert axe_violations(page) == []
    pages.shot(page, "kit-sheet-records")

    labels = page.request.get(f"/pharmacy/trials/{trial.id}/labels.pdf")
    assert labels.status == 200
    text = pdf_text(labels.body())
    assert text.count("FOR CLINICAL TRIAL USE ONLY") == 6
    assert text.count("In an emergency: Site A on-call 020 7946 0000") == 6
    assert text.count("Expiry: 2026-08-29") == 6  # 180 days from the first preparation
    assert "Dose days (5 capsules)" in text
    assert "psilocybin" not in text.lower()
    assert re.search(r"\b(active|placebo)\b", text.lower()) is None

    page.get_by_role("link", name="Kits").first.click()
    row = page.locator(f"tr[data-trial='{trial.id}']")
    assert "1 of 6" in row.inner_text()
    clinician = pages.open("clinician_sitea")
    assert clinician.request.get("/pharmacy/kits").status == 403


def test_a_kit_in_use_but_not_dispensed_reaches_the_pharmacist_and_the_clinician(
    pages: Pages, clinic: Clinic, clock: FixedClock
) -> None:
    trial = running_trial(clinic, clock)  # today is period 1's first dose day
    kit = str(trial.periods[0].kit_code)
    # The patient takes today's capsule from a kit the pharmacy never recorded handing out.
    patient = clinic.actors["p_A-001"]
    dosing.record_dose(clinic.db, patient, trial.id, taken_at=clock(), kit_code=kit, clock=clock)
    page = pages.open("unblinded_staff_sitea")
    row = page.locator(f"tr[data-trial='{trial.id}']")
    expect(row.locator(".in-use-undispensed")).to_have_text("1 in use but not marked dispensed")
    row.get_by_role("link", name=f"Kit sheet for trial {trial.id}").click()
    flagged = page.locator(f"tr[data-kit='{kit}'] td.dispensed .in-use-undispensed")
    expect(flagged).to_contain_text("capsules are recorded from this kit")
    assert page.locator(".in-use-undispensed").count() == 1
    assert axe_violations(page) == []
    pages.shot(page, "kit-in-use-not-dispensed")
    doc = pages.open("clinician_sitea", "/clinic/alerts")
    alert = doc.locator("p", has_text="which the pharmacy has not marked dispensed")
    expect(alert).to_contain_text(f"(kit {kit})")
    assert re.search(r"\b(active|placebo)\b", doc.inner_text("main").lower()) is None
    pages.shot(doc, "alert-kit-not-dispensed")


def test_a_held_trial_tells_the_pharmacist_not_to_hand_out_kits_but_lets_them_prepare(
    pages: Pages, clinic: Clinic, clock: FixedClock
) -> None:
    trial = running_trial(clinic, clock)  # today is period 1's first dose day
    first, _, third = (str(p.kit_code) for p in trial.periods[:3])
    staff = clinic.actors["unblinded_staff_sitea"]
    pharmacy.record_kit_step(clinic.db, staff, trial.id, "prepared", first, 5, clock=clock)
    # BP 210/125 from the patient: an urgent stop alert pauses the trial.
    bp = DiaryInput(clock().date(), {"systolic": 210, "diastolic": 125}, "home_bp")
    pid = clinic.patients["A-001"].id
    records.record_diary_entry(clinic.db, clinic.actors["p_A-001"], pid, bp, clock=clock)
    page = pages.open("unblinded_staff_sitea")
    row = page.locator(f"tr[data-trial='{trial.id}']")
    expect(row.locator(".dosing-hold")).to_have_text(
        "Dosing held: open safety alert — do not hand out kits."
    )
    expect(row.locator(".next-kit")).to_have_text("When the trial resumes")
    assert "210" not in page.inner_text("main")  # no outcome reaches the pharmacist
    assert axe_violations(page) == []
    pages.shot(page, "pharmacy-list-dosing-held")
    row.get_by_role("link", name=f"Kit sheet for trial {trial.id}").click()
    expect(page.locator("p.dosing-hold")).to_contain_text("Kits may still be prepared.")
    held = page.locator(f"tr[data-kit='{first}'] td.dispensed")
    expect(held).to_have_text("Do not hand out now (see above).")
    assert page.get_by_role("button", name=f"Record kit {first} dispensed").count() == 0
    page.get_by_role("button", name=f"Record kit {third} prepared").click()
    prepared = page.locator(f"tr[data-kit='{third}'] td.prepared")
    prepared.filter(has_text="capsules, by unblinded_staff_sitea").wait_for()
    assert "210" not in page.inner_text("main")
    assert axe_violations(page) == []
    pages.shot(page, "kit-sheet-dosing-held")
