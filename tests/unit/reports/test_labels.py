"""Kit label PDF (QR codes, no arm) and the unblinded preparation sheet."""

from __future__ import annotations

import random
import re
from datetime import date, timedelta

import numpy as np
import pypdfium2 as pdfium  # type: ignore[import-untyped]
import pytest
import zxingcpp

from microtrial.domain.calendar import build_calendar
from microtrial.domain.design import DesignSpec, plan_design
from microtrial.domain.kits import Allocation, issue_kits, kit_codes_by_period
from microtrial.domain.regimens import regimen_from_template
from microtrial.errors import ValidationError
from microtrial.reports.labels import (
    BLINDED_NOTE,
    LabelInfo,
    LabelKit,
    dose_day_text,
    label_kits,
    label_sheet_pdf,
    preparation_sheet_pdf,
)

ARMS = ("placebo", "low", "high")


def make_kits(n_pairs: int = 2, arms: tuple[str, ...] = ("active", "placebo")) -> list[LabelKit]:
    design = plan_design(DesignSpec(pairs=n_pairs, arms=arms), seed=8)
    issued = issue_kits(design, choice=random.Random(n_pairs).choice)
    regimen = regimen_from_template("fadiman", substance="LSD", amount=10, unit="µg")
    cal = build_calendar(design, regimen, date(2026, 3, 2), "Europe/London")
    return label_kits(cal, issued.allocations, regimen.describe())


def pages(pdf: bytes) -> list[tuple[np.ndarray, str]]:
    """Each page rasterised at 144 dpi as a greyscale array, with its extracted text."""
    doc = pdfium.PdfDocument(pdf)
    out = []
    try:
        for i in range(len(doc)):
            page = doc[i]
            image = np.asarray(page.render(scale=2).to_pil().convert("L"))
            out.append((image, page.get_textpage().get_text_range()))
    finally:
        doc.close()
    return out


def decoded(image: np.ndarray) -> list[str]:
    return sorted(
        r.text for r in zxingcpp.read_barcodes(image) if r.format == zxingcpp.BarcodeFormat.QRCode
    )


def test_label_sheet_renders_and_qr_codes_decode_to_the_kit_codes() -> None:
    kits = make_kits()
    pdf = label_sheet_pdf("TRIAL-7", "P-0042", kits)
    assert pdf.startswith(b"%PDF")
    [(image, text)] = pages(pdf)
    assert (image < 128).mean() > 0.02  # ink on the page, not a blank render
    assert decoded(image) == sorted(k.code for k in kits)
    for k in kits:
        assert f"Kit {k.code}" in text
        assert f"Period {k.period}" in text
        assert f"{k.start_date.isoformat()} to {k.end_date.isoformat()}" in text
    assert text.count("Patient P-0042") == len(kits)
    assert text.count(BLINDED_NOTE) == len(kits)


def test_label_sheet_never_shows_the_arm() -> None:
    kits = make_kits(arms=ARMS)
    pdf = label_sheet_pdf("TRIAL-7", "P-0042", kits)
    [(_, text)] = pages(pdf)
    for word in ARMS:
        assert word not in text.lower()
        assert word.encode() not in pdf.lower()  # nor in metadata or any uncompressed object
    assert "LSD" not in text  # regimen text stays on the preparation sheet


def test_labels_are_in_period_order_whatever_the_input_order() -> None:
    kits = make_kits()
    shuffled = sorted(kits, key=lambda k: k.arm)
    a = label_sheet_pdf("T", "P", kits)
    assert a == label_sheet_pdf("T", "P", shuffled)  # byte-identical: order cannot leak arms
    [(_, text)] = pages(a)
    positions = [text.index(f"Kit {k.code}") for k in sorted(kits, key=lambda k: k.period)]
    assert positions == sorted(positions)


def test_many_kits_flow_onto_more_pages_and_all_decode() -> None:
    kits = make_kits(n_pairs=5, arms=ARMS)  # 15 kits, 12 per page
    rendered = pages(label_sheet_pdf("T", "P", kits))
    assert len(rendered) == 2
    codes = decoded(rendered[0][0]) + decoded(rendered[1][0])
    assert sorted(codes) == sorted(k.code for k in kits)
    assert len(decoded(rendered[1][0])) == 3


def test_preparation_sheet_shows_each_kit_with_its_arm() -> None:
    kits = make_kits(arms=ARMS)
    pdf = preparation_sheet_pdf("TRIAL-7", "P-0042", kits, prepared_on=date(2026, 2, 27))
    rendered = pages(pdf)
    assert len(rendered) == 1
    image, text = rendered[0]
    assert (image < 128).mean() > 0.01
    assert "UNBLINDED" in text
    assert "prepared on 2026-02-27" in text
    lines = text.splitlines()
    for k in kits:
        [row] = [line for line in lines if line.startswith(k.code)]
        assert row.split()[:3] == [k.code, str(k.period), k.arm.upper()]
    assert "LSD 10 µg" in text
    assert "Capsules" in text  # one per dose day of the kit's period


def test_label_kits_takes_dates_from_the_calendar() -> None:
    design = plan_design(DesignSpec(), seed=8)
    issued = issue_kits(design)
    regimen = regimen_from_template("fadiman", substance="LSD", amount=10, unit="µg")
    cal = build_calendar(design, regimen, date(2026, 3, 2), "UTC", kit_codes_by_period(issued.kits))
    kits = label_kits(cal, issued.allocations, "text")
    assert [(k.start_date, k.end_date) for k in kits][:2] == [
        (date(2026, 3, 9), date(2026, 3, 22)),
        (date(2026, 3, 23), date(2026, 4, 5)),
    ]
    assert [k.arm for k in kits] == list(design.sequence)
    with pytest.raises(ValidationError) as err:
        label_kits(cal, [Allocation("AAAAAAAA", 9, "active")], "text")
    assert err.value.field == "allocations"
    per_arm = label_kits(cal, issued.allocations, {"active": "LSD 10 µg", "placebo": "inert"})
    assert [k.regimen_text for k in per_arm] == [
        "LSD 10 µg" if arm == "active" else "inert" for arm in design.sequence
    ]
    with pytest.raises(ValidationError) as err:
        label_kits(cal, issued.allocations, {"active": "LSD 10 µg"})
    assert (err.value.field, err.value.value) == ("regimen_text", "placebo")


@pytest.mark.parametrize(
    ("trial", "patient", "kits", "field"),
    [
        ("", "P", None, "trial_id"),
        ("T", " ", None, "patient_code"),
        ("T", "P", [], "kits"),
    ],
)
def test_validation(trial: str, patient: str, kits: list[LabelKit] | None, field: str) -> None:
    for render in (label_sheet_pdf, preparation_sheet_pdf):
        with pytest.raises(ValidationError) as err:
            render(trial, patient, make_kits() if kits is None else kits)
        assert err.value.field == field


def test_duplicate_codes_and_reversed_dates_are_rejected() -> None:
    kits = make_kits()
    with pytest.raises(ValidationError, match="repeat"):
        label_sheet_pdf("T", "P", [kits[0], kits[0]])
    bad = LabelKit("AAAAAAAA", 1, "active", date(2026, 1, 2), date(2026, 1, 2) - timedelta(1), "")
    with pytest.raises(ValidationError) as err:
        label_sheet_pdf("T", "P", [bad])
    assert err.value.field == "kits.end_date"


INFO = LabelInfo(
    storage="Store below 25 °C, dry and away from light. Keep out of reach of children.",
    expiry=date(2026, 9, 1),
    trial_use="For clinical trial use only",
    emergency_contact="Site A clinic 020 7946 0000",
)


def test_labels_carry_dose_days_storage_expiry_trial_use_and_the_emergency_contact() -> None:
    kits = make_kits(arms=ARMS)
    pdf = label_sheet_pdf("TRIAL-7", "P-0042", kits, INFO)
    [(image, text)] = pages(pdf)
    assert decoded(image) == sorted(k.code for k in kits)  # the QR codes still read
    flat = " ".join(text.split())
    assert flat.count("FOR CLINICAL TRIAL USE ONLY") == len(kits)
    assert flat.count("Expiry: 2026-09-01") == len(kits)
    assert flat.count("In an emergency: Site A clinic 020 7946 0000") == len(kits)
    assert flat.count("Store below 25 °C") == len(kits)
    first = min(kits, key=lambda k: k.period)
    assert dose_day_text(first.dose_days, first.start_date, first.end_date) == (
        "Dose days (5 capsules): 9, 12, 15, 18, 21 Mar"
    )
    assert "Dose days (5 capsules): 9, 12, 15, 18, 21 Mar" in flat
    for word in ARMS:  # still no arm ("below" in the storage line is not the arm "low")
        assert re.search(rf"\b{word}\b", text.lower()) is None
        assert re.search(rf"\b{word}\b".encode(), pdf.lower()) is None
    assert "LSD" not in text
    assert b"LSD" not in pdf
    # the same whatever the input order: nothing on a label depends on the arm
    assert pdf == label_sheet_pdf("TRIAL-7", "P-0042", sorted(kits, key=lambda k: k.arm), INFO)


def test_dose_day_text() -> None:
    start = date(2026, 3, 25)
    days = [start + timedelta(days=d) for d in (0, 3, 6, 9)]
    assert dose_day_text(days, start, start + timedelta(days=13)) == (
        "Dose days (4 capsules): 25, 28, 31 Mar; 3 Apr"
    )
    every = [start + timedelta(days=d) for d in range(14)]
    assert dose_day_text(every, start, every[-1]) == "Dose days: every day (14 capsules)"
    assert dose_day_text([], start, start) == "Dose days: see your calendar"
