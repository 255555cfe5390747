"""Kits through HTTP: the labels' emergency number for the site (never one country's number for
every site), both engines."""

from __future__ import annotations

import pypdfium2 as pdfium  # type: ignore[import-untyped]

from helpers import Clinic, FixedClock
from integration.api.live import LiveServer
from integration.api.test_holds_http import _trial_id, _web
from integration.test_alert_sweep import running_trial
from microtrial.domain.actors import system_actor
from microtrial.services import admin


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
