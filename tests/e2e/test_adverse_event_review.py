"""Reported harm becomes a record: the clinician confirms and closes it on the patient page."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from e2e.conftest import Pages
from helpers import Clinic, FixedClock
from integration.test_alert_sweep import running_trial
from microtrial.services import records
from microtrial.services.records import DiaryInput


@pytest.mark.parametrize("viewport", ["desktop"])
def test_clinician_confirms_and_closes_a_patient_reported_event(
    pages: Pages, clinic: Clinic, clock: FixedClock
) -> None:
    pid = running_trial(clinic, clock, "A-001", run_in=0)
    records.record_diary_entry(
        clinic.db,
        clinic.actors["p_A-001"],
        pid,
        DiaryInput(clock().date(), {"nausea_gi": 3}, instrument_id="ae_checklist"),
        clock=clock,
    )
    page = pages.open("clinician_sitea", f"/clinic/patients/{pid}")
    page.goto(f"/clinic/patients/{pid}")
    row = page.locator("table.adverse-events tbody tr").first
    assert "Nausea" in row.inner_text()
    assert "patient report" in row.inner_text()
    assert row.locator(".ae-status").inner_text() == "awaiting review"
    alerts = page.locator("section[aria-labelledby=alerts-h]").inner_text()
    assert "Nausea, GI discomfort or diarrhoea, grade 3 (patient report)" in alerts
    pages.shot(page, "adverse-event-awaiting-review")

    page.get_by_role("button", name="Confirm adverse event").click()
    page.wait_for_load_state()
    row = page.locator("table.adverse-events tbody tr").first
    assert row.locator(".ae-status").inner_text() == "confirmed"

    # Closing without a resolution date is refused beside the field; the outcome chosen stays.
    page.locator("details.card summary").first.click()
    page.get_by_label("Outcome").select_option("recovered")
    page.get_by_role("button", name="Close adverse event").click()
    page.wait_for_load_state()
    assert page.locator(".field-error").inner_text().startswith("Resolution date: ")
    assert page.get_by_label("Outcome").input_value() == "recovered"
    # the invalid field is marked, described by its message, and has the focus
    date_field = page.get_by_label("Resolution date")
    assert date_field.get_attribute("aria-invalid") == "true"
    expect(date_field).to_be_focused()  # autofocus runs after parsing: wait for it
    pages.shot(page, "adverse-event-close-refused")
    page.get_by_label("Resolution date").fill(clock().date().isoformat())
    page.get_by_role("button", name="Close adverse event").click()
    page.wait_for_load_state()
    row = page.locator("table.adverse-events tbody tr").first
    assert row.locator(".ae-status").inner_text() == "closed"
    assert "recovered, resolved" in row.inner_text()
    assert page.get_by_role("button", name="Close adverse event").count() == 0
    pages.shot(page, "adverse-event-closed")
