"""Screening blood pressure on the clinician's patient page: readings through the form, the mean
judged against the sources' thresholds, and the finding's words as the clinician reads them."""

from __future__ import annotations

from helpers import Clinic
from integration.api.live import LiveServer
from integration.api.test_form_refusals import post_form, visible
from integration.api.test_pages import database_url, sign_in
from microtrial.services import patients

__all__ = ["database_url"]  # SQLite only, like the other page tests


def test_one_high_clinic_reading_asks_for_a_recheck_and_two_block(
    server: LiveServer, clinic: Clinic
) -> None:
    pid = clinic.patients["A-001"].id
    doc = sign_in(server.url, "clinician_sitea")
    page = f"/clinic/patients/{pid}"

    def record(day: str, systolic: int, diastolic: int) -> None:
        form = {"local_date": day, "systolic": str(systolic), "diastolic": str(diastolic)}
        assert post_form(doc, page, f"{page}/blood-pressure", form).status_code == 303

    def screened() -> str:
        answer = post_form(doc, page, f"{page}/screenings", {"substance": "lsd"})
        assert answer.status_code == 303
        return " ".join(visible(doc.get(page).text).split())

    record("2026-03-02", 165, 95)
    text = screened()
    assert "Recheck blood pressure: 165/95 mmHg (1 reading) is above 160/90 mmHg" in text
    assert "Recheck: average at least 2 readings on separate occasions" in text
    assert "Decision: clinician review needed" in text  # not do-not-start: a sign-off is possible

    record("2026-02-27", 161, 91)
    text = screened()
    assert "Decision: do not start" in text
    assert (
        "Uncontrolled blood pressure: 163/93 mmHg (mean of 2 readings on 2 days), "
        "above 160/90 mmHg" in text
    )
    assert "MDLSD and LSDDEP1 excluded a resting blood pressure exceeding 160 mmHg" in text


def test_each_medication_finding_names_the_entry_it_comes_from(
    server: LiveServer, clinic: Clinic
) -> None:
    """Found by the QA walk-through: two entries giving the same finding showed it twice with
    nothing to say which entry each came from."""
    pid = clinic.patients["A-001"].id
    doctor = clinic.actors["clinician_sitea"]
    for entry in ("sertralin", "tramadol + sertraline"):
        patients.add_medication(clinic.db, doctor, pid, entry)
    doc = sign_in(server.url, "clinician_sitea")
    page = f"/clinic/patients/{pid}"
    assert post_form(doc, page, f"{page}/screenings", {"substance": "lsd"}).status_code == 303
    text = " ".join(visible(doc.get(page).text).split())
    assert "From: tramadol + sertraline (" in text
    assert "From: sertralin (sertraline)" in text
    assert "Findings for LSD (lysergide)" in text  # the substance by its catalog name
