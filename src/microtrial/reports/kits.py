"""The unblinded kit pack: preparation sheet followed by the label sheet, as one PDF."""

from __future__ import annotations

import io
from datetime import date, timedelta

from pypdf import PdfReader, PdfWriter

from microtrial.domain.regimen_catalog import KitLabelText
from microtrial.domain.regimens import load_regimen_catalog
from microtrial.domain.screening import decision_words
from microtrial.reports.labels import LabelInfo, LabelKit, label_sheet_pdf, preparation_sheet_pdf
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
            dose_days=k.dose_days,
        )
        for k in prep.kits
    ]


def label_info(
    prep: KitPreparation, today: date, wording: KitLabelText | None = None
) -> LabelInfo | None:
    """What every label of the trial prints besides its kit: the configured storage and
    trial-use wording (``regimens.yaml`` ``kit_labels`` unless given), the site's emergency
    contact, and one expiry date for all kits (the shelf life from the earliest preparation, or
    from today before any), so that it cannot differ by arm. None when nothing is configured."""
    wording = wording or load_regimen_catalog().kit_labels
    if wording is None:
        return None
    prepared = [k.prepared_at.date() for k in prep.kits if k.prepared_at is not None]
    start = min(prepared) if prepared else today
    return LabelInfo(
        storage=wording.storage,
        expiry=start + timedelta(days=wording.shelf_life_days),
        trial_use=wording.trial_use,
        emergency_contact=prep.emergency_contact,
    )


def gate_line(prep: KitPreparation) -> str:
    """The trial's status and screening decision (in words), as printed on the preparation sheet."""
    decision = decision_words(prep.screening) if prep.screening else "none"
    return f"Trial status: {prep.status} \u00b7 screening decision: {decision}"


def preparation_pdf(prep: KitPreparation, *, simulated: bool = False) -> bytes:
    """The UNBLINDED preparation sheet of ``prep`` (marked on every page when ``simulated``)."""
    return preparation_sheet_pdf(
        str(prep.trial_id),
        prep.patient_code,
        label_kits(prep),
        status_line=gate_line(prep),
        simulated=simulated,
    )


def labels_pdf(prep: KitPreparation, today: date, *, simulated: bool = False) -> bytes:
    """The blinded label sheet of ``prep`` (marked on every page when ``simulated``)."""
    info = label_info(prep, today)
    kits = label_kits(prep)
    return label_sheet_pdf(str(prep.trial_id), prep.patient_code, kits, info, simulated=simulated)


def kit_pack_pdf(prep: KitPreparation, today: date, *, simulated: bool = False) -> bytes:
    """One PDF: the UNBLINDED preparation sheet, then the blinded labels with QR codes
    (every page marked "SIMULATED DEMO DATA" when ``simulated``: the demo's database)."""
    writer = PdfWriter()
    for part in (
        preparation_pdf(prep, simulated=simulated),
        labels_pdf(prep, today, simulated=simulated),
    ):
        writer.append(PdfReader(io.BytesIO(part)))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
