"""The unblinded kit pack: preparation sheet followed by the label sheet, as one PDF."""

from __future__ import annotations

import io

from pypdf import PdfReader, PdfWriter

from microtrial.reports.labels import LabelKit, label_sheet_pdf, preparation_sheet_pdf
from microtrial.services.trial_allocation import KitPreparation


def label_kits(prep: KitPreparation) -> list[LabelKit]:
    """The kits of a preparation as the label and sheet renderers take them."""
    return [
        LabelKit(
            code=k.code,
            period=k.period,
            arm=k.arm,
            start_date=k.start_date,
            end_date=k.end_date,
            regimen_text=k.regimen_text,
        )
        for k in prep.kits
    ]


def gate_line(prep: KitPreparation) -> str:
    """The trial's status and screening decision, as printed on the preparation sheet."""
    return f"Trial status: {prep.status} \u00b7 screening decision: {prep.screening or 'none'}"


def kit_pack_pdf(prep: KitPreparation) -> bytes:
    """One PDF: the UNBLINDED preparation sheet, then the blinded labels with QR codes."""
    kits = label_kits(prep)
    trial = str(prep.trial_id)
    writer = PdfWriter()
    for part in (
        preparation_sheet_pdf(trial, prep.patient_code, kits, status_line=gate_line(prep)),
        label_sheet_pdf(trial, prep.patient_code, kits),
    ):
        writer.append(PdfReader(io.BytesIO(part)))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
