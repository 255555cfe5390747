"""The clinician records an adverse event on the patient page: a refusal keeps what was typed."""

from __future__ import annotations

from helpers import Clinic
from integration.api.live import LiveServer
from integration.api.test_pages import csrf_of, database_url, sign_in
from microtrial.services import adverse_events

__all__ = ["database_url"]  # SQLite only, like the other page tests


def test_recording_an_event_on_the_page(server: LiveServer, clinic: Clinic) -> None:
    pid = clinic.patients["A-001"].id
    doc = sign_in(server.url, "clinician_sitea")
    page = doc.get(f"/clinic/patients/{pid}")
    assert "Record an adverse event" in page.text
    form = {"csrf_token": csrf_of(page), "term": "Dizzy spells", "onset_date": "2026-03-01"}
    refused = doc.post(f"/clinic/patients/{pid}/adverse-events", data=form)
    assert refused.status_code == 422
    assert 'value="Dizzy spells"' in refused.text
    # the message names the field by its label and sits beside it, tied to it for screen readers
    assert '<p class="field-error" id="ae-new-grade-error">CTCAE grade: choose a grade' in (
        refused.text
    )
    assert 'aria-invalid="true" aria-describedby="ae-new-grade-error"' in refused.text
    saved = doc.post(f"/clinic/patients/{pid}/adverse-events", data={**form, "grade": "2"})
    assert saved.status_code == 303
    (event,) = adverse_events.list_adverse_events(clinic.db, clinic.actors["clinician_sitea"], pid)
    assert (event.term, event.grade, event.source, event.status) == (
        "Dizzy spells",
        2,
        "clinician",
        "confirmed",
    )
    # Unblinded staff know the arms: no adverse event reaches them, and no review; the patient
    # gets no clinic page.
    pharmacist = sign_in(server.url, "unblinded_staff_sitea")
    listed = pharmacist.get(f"/clinic/patients/{pid}")
    assert listed.status_code == 403
    assert "Dizzy spells" not in listed.text
    review = {
        "csrf_token": csrf_of(pharmacist.get("/pharmacy/kits")),
        "action": "confirm",
        "version": "1",
    }
    url = f"/clinic/patients/{pid}/adverse-events/{event.record_id}"
    assert pharmacist.post(url, data=review).status_code == 403
    assert sign_in(server.url, "p_A-001").get(f"/clinic/patients/{pid}").status_code == 403
