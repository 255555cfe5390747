"""Kits through HTTP, both engines: a capsule checked in from a kit the pharmacy has not marked
dispensed is stored and tells a clinician once per kit; the labels' emergency number for the site
(never one country's number for every site)."""

from __future__ import annotations

import httpx
import pypdfium2 as pdfium  # type: ignore[import-untyped]

from e2e.setup import hand_out
from helpers import Clinic, FixedClock
from integration.api.live import LiveServer, Login
from integration.api.test_holds_http import _trial_id, _web
from integration.test_alert_sweep import running_trial
from microtrial.domain.actors import system_actor
from microtrial.services import admin, trial_views
from microtrial.services.demo import DEMO_SITE, DEMO_SITE_NAME

NOT_DISPENSED = "kit-not-dispensed"
SIMULATED = "SIMULATED DEMO DATA \u2014 not a real patient"


def pdf_pages(pdf: bytes) -> list[str]:
    """Each page's text, whitespace collapsed (pdfium reads what is drawn)."""
    doc = pdfium.PdfDocument(pdf)
    try:
        return [" ".join(doc[i].get_textpage().get_text_range().split()) for i in range(len(doc))]
    finally:
        doc.close()


def test_labels_print_every_emergency_number_unless_the_site_set_its_own(
    server: LiveServer, clinic: Clinic, clock: FixedClock
) -> None:
    running_trial(clinic, clock, "A-001", run_in=0, steps=("schedule",))
    trial_id = _trial_id(clinic)
    with _web(server, "unblinded_staff_sitea") as web:
        # A site without its own lines: its country is not recorded, so the label prints every
        # emergency-services number with its region, whole, on one line of each label.
        pdf = web.get(f"/pharmacy/trials/{trial_id}/labels.pdf")
        assert pdf.status_code == 200, pdf.text
        text = " ".join(pdf_pages(pdf.content))
        line = "In an emergency: 911 (US, Canada) \u00b7 999 (UK) \u00b7 112 (EU)"
        assert text.count(line) == 6
        assert "\u2026" not in text  # nothing cut short
        assert "Emergency services (US, Canada) 911" not in text
        # The site sets its own lines: the first one is printed, alone.
        admin.set_crisis_lines(
            clinic.db, system_actor("t"), "SITEA", [("Site A on-call", "020 7946 0000")]
        )
        own = " ".join(pdf_pages(web.get(f"/pharmacy/trials/{trial_id}/labels.pdf").content))
        assert own.count("In an emergency: Site A on-call 020 7946 0000") == 6
        assert "911" not in own
        assert SIMULATED not in own  # a real clinic's kits are not marked as demo data


def test_the_demo_clinic_kit_pdfs_say_simulated_demo_data_on_every_page(
    server: LiveServer, clinic: Clinic, clock: FixedClock
) -> None:
    running_trial(clinic, clock, "A-001", run_in=0, steps=("schedule",))
    trial_id = _trial_id(clinic)
    # The demo's site (code and name as the demo builds it) makes this the demo's database.
    admin.add_site(clinic.db, system_actor("t"), DEMO_SITE, DEMO_SITE_NAME)
    with _web(server, "unblinded_staff_sitea") as web:
        for pdf in ("labels.pdf", "preparation.pdf"):
            got = web.get(f"/pharmacy/trials/{trial_id}/{pdf}")
            assert got.status_code == 200, got.text
            pages = pdf_pages(got.content)
            assert pages
            for number, text in enumerate(pages, 1):
                assert SIMULATED in text, f"{pdf} page {number} is not marked simulated"


def test_a_capsule_from_a_kit_not_marked_dispensed_is_stored_and_tells_a_clinician_once(
    api: httpx.Client, login: Login, server: LiveServer, clinic: Clinic, clock: FixedClock
) -> None:
    running_trial(clinic, clock, "A-001", run_in=0)  # period 1 starts today, a dose day
    trial_id = _trial_id(clinic)
    doc, me = login("clinician_sitea"), login("p_A-001")
    trial = trial_views.get_trial(clinic.db, clinic.actors["clinician_sitea"], trial_id)
    kit = str(trial.periods[0].kit_code)
    taken = []
    for _ in range(2):  # two dose days (Fadiman: every third day) from the same kit
        body = {"taken_at": clock().isoformat(), "kit_code": kit}
        dose = api.post(f"/trials/{trial_id}/doses", json=body, headers=me)
        assert dose.status_code == 201, dose.text
        assert (
            dose.json()["deviation"] is None
        )  # not a protocol deviation: the patient is told nothing
        taken.append(dose.json()["record_id"])
        clock.advance(days=3)
    stored = api.get(f"/trials/{trial_id}/doses", headers=doc).json()["items"]
    assert [d["record_id"] for d in stored] == taken  # both doses kept as reported
    items = api.get("/alerts", headers=doc).json()["items"]
    [alert] = [a for a in items if a["code"] == NOT_DISPENSED]  # once per kit, not per capsule
    assert [a["code"] for a in items] == [NOT_DISPENSED]
    assert (alert["severity"], alert["action"]) == ("info", "clinician-review")
    assert f"(kit {kit})" in alert["message"]
    assert "has not marked dispensed" in alert["message"]
    assert alert["trigger"]["dose"] == taken[0]
    for arm in ("active", "placebo"):  # the blind holds: no arm anywhere in the alert
        assert arm not in str(alert).lower()
    status = api.get("/me/status", headers=me).json()
    assert status["held"] is False  # dosing goes on
    # The clinician sees it on the alerts page and counted on the worklist.
    with _web(server, "clinician_sitea") as web:
        page = web.get("/clinic/alerts").text
        assert "which the pharmacy has not marked dispensed" in page
        assert kit in page
        worklist = web.get("/clinic/patients").text
        row = worklist.split("A-001", 1)[1].split("</tr>", 1)[0]
        assert "1 open" in row
    # The pharmacist sees the kit in use but not marked dispensed, on the list and the sheet.
    with _web(server, "unblinded_staff_sitea") as web:
        listed = web.get("/pharmacy/kits").text
        row = listed.split(f'data-trial="{trial_id}"', 1)[1].split("</tr>", 1)[0]
        assert "1 in use but not marked dispensed" in row
        sheet = web.get(f"/pharmacy/trials/{trial_id}/kits").text
        flagged = sheet.split(f'data-kit="{kit}"', 1)[1].split("</tr>", 1)[0]
        assert "In use but not marked dispensed" in flagged
        assert sheet.count("In use but not marked dispensed") == 1  # only the kit in use
    # Once the pharmacist records the kit handed out, its next capsule raises nothing new.
    hand_out(clinic, clock, trial_id, kit)
    with _web(server, "unblinded_staff_sitea") as web:
        assert "not marked dispensed" not in web.get(f"/pharmacy/trials/{trial_id}/kits").text
    body = {"taken_at": clock().isoformat(), "kit_code": kit}
    assert api.post(f"/trials/{trial_id}/doses", json=body, headers=me).status_code == 201
    codes = [a["code"] for a in api.get("/alerts", headers=doc).json()["items"]]
    assert codes.count(NOT_DISPENSED) == 1
