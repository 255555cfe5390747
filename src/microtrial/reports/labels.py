"""Kit labels and the pharmacist's preparation sheet (PDF), for unblinded staff.

Two separate documents on purpose:

* :func:`label_sheet_pdf` - stick-on labels, one per kit, each with a QR code of the kit code. A
  label shows only the kit code, patient study code, period number, dates, the dose days,
  "identical capsules - blinded" and, given a :class:`LabelInfo`, storage, expiry, the trial-use
  line and the site's emergency contact; neither the arm nor the substance appears anywhere in
  this PDF (text or metadata), and labels are laid out in period order.
* :func:`preparation_sheet_pdf` - the kit -> arm table the pharmacist fills the kits from.
  Every page is marked UNBLINDED.

Both take plain data (:class:`LabelKit`) and return PDF bytes; no I/O.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from xml.sax.saxutils import escape

import segno
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.lib.utils import simpleSplit
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from microtrial.domain.calendar import Phase, TrialCalendar
from microtrial.domain.kits import Allocation
from microtrial.errors import ValidationError
from microtrial.reports.rendering import SIMULATED_HEADER

__all__ = [
    "BLINDED_NOTE",
    "LabelInfo",
    "LabelKit",
    "dose_day_text",
    "label_kits",
    "label_sheet_pdf",
    "preparation_sheet_pdf",
]

BLINDED_NOTE = "Identical capsules \u2014 blinded"
_PAGE_W, _PAGE_H = A4
_MARGIN = 10 * mm
_COLS, _ROWS = 2, 6
_LABEL_W = (_PAGE_W - 2 * _MARGIN) / _COLS
_LABEL_H = (_PAGE_H - 2 * _MARGIN - 8 * mm) / _ROWS
_QR_SIZE = 26 * mm
_LINE = 3.3 * mm
_TEXT_FONT = 7.5


@dataclass(frozen=True)
class LabelKit:
    """One kit as unblinded staff see it: code, period, arm, dates and regimen text."""

    code: str
    period: int
    arm: str
    start_date: date
    end_date: date
    regimen_text: str
    dose_days: tuple[date, ...] = ()  # one capsule on each (the same days whatever the arm)


@dataclass(frozen=True)
class LabelInfo:
    """What every label of a trial prints besides its kit (configured wording, no arm)."""

    storage: str
    expiry: date  # one date for the whole trial, so that it cannot differ by arm
    trial_use: str
    emergency_contact: str | None = None


def dose_day_text(days: Sequence[date], start: date, end: date) -> str:
    """The dose days of a kit in words: "every day", or the dates grouped by month."""
    if not days:
        return "Dose days: see your calendar"
    if len(days) == (end - start).days + 1:
        return f"Dose days: every day ({len(days)} capsules)"
    groups: list[str] = []
    month: tuple[int, int] | None = None
    current: list[str] = []
    for day in sorted(days):
        if (day.year, day.month) != month and current:
            groups.append(", ".join(current) + f" {_month(month)}")
            current = []
        month = (day.year, day.month)
        current.append(str(day.day))
    groups.append(", ".join(current) + f" {_month(month)}")
    return f"Dose days ({len(days)} capsules): " + "; ".join(groups)


def _month(month: tuple[int, int] | None) -> str:
    assert month is not None
    return date(month[0], month[1], 1).strftime("%b")


def _fmt_dates(kit: LabelKit) -> str:
    return f"{kit.start_date.isoformat()} to {kit.end_date.isoformat()}"


def _check(trial_id: str, patient_code: str, kits: Sequence[LabelKit]) -> list[LabelKit]:
    if not trial_id.strip():
        raise ValidationError("trial_id", "must not be empty", value=trial_id)
    if not patient_code.strip():
        raise ValidationError("patient_code", "must not be empty", value=patient_code)
    if not kits:
        raise ValidationError("kits", "no kits to print", value=[])
    codes = [k.code for k in kits]
    if len(set(codes)) != len(codes):
        raise ValidationError("kits", "kit codes repeat", value=codes)
    for k in kits:
        if k.end_date < k.start_date:
            raise ValidationError(
                "kits.end_date",
                f"kit {k.code} ends before it starts",
                value=k.end_date.isoformat(),
                allowed=f">= {k.start_date.isoformat()}",
            )
    # Period order only: any other order could reveal the allocation.
    return sorted(kits, key=lambda k: k.period)


def label_kits(
    calendar: TrialCalendar,
    allocations: Sequence[Allocation],
    regimen_text: str | Mapping[str, str],
) -> list[LabelKit]:
    """Combine a calendar and the allocation into label data (period dates and dose days from
    the calendar).

    ``regimen_text`` is one text for every kit, or one per arm (e.g. for dose-level arms).
    """
    spans: dict[int, tuple[date, date]] = {}
    doses: dict[int, list[date]] = {}
    for day in calendar.days:
        if day.phase is Phase.PERIOD and day.period is not None:
            first, _ = spans.get(day.period, (day.date, day.date))
            spans[day.period] = (first, day.date)
            if day.is_dose_day:
                doses.setdefault(day.period, []).append(day.date)
    out = []
    for a in allocations:
        if a.period not in spans:
            raise ValidationError(
                "allocations",
                "period not in the calendar",
                value=a.period,
                allowed=[str(p) for p in sorted(spans)],
            )
        if isinstance(regimen_text, str):
            text = regimen_text
        elif a.arm in regimen_text:
            text = regimen_text[a.arm]
        else:
            raise ValidationError(
                "regimen_text", "no text for this arm", value=a.arm, allowed=sorted(regimen_text)
            )
        start, end = spans[a.period]
        days = tuple(doses.get(a.period, ()))
        out.append(LabelKit(a.kit_code, a.period, a.arm, start, end, text, days))
    return out


def _draw_qr(c: Canvas, text: str, x: float, y: float, size: float) -> None:
    """Draw ``text`` as a vector QR code (with its quiet zone) in a ``size`` square at x, y."""
    qr = segno.make_qr(text, error="m")
    border = 4
    n = qr.symbol_size(scale=1, border=border)[0]
    module = size / n
    c.setFillColor(colors.white)
    c.rect(x, y, size, size, stroke=0, fill=1)
    c.setFillColor(colors.black)
    for row_i, row in enumerate(qr.matrix):
        top = y + size - (row_i + border + 1) * module
        col = 0
        width = len(row)
        while col < width:
            if row[col]:
                start = col
                while col < width and row[col]:
                    col += 1
                # One rectangle per run of dark modules: no hairline seams when rasterised.
                c.rect(x + (start + border) * module, top, (col - start) * module, module, 0, 1)
            else:
                col += 1


def _wrapped(text: str, font: str, width: float, most: int) -> list[str]:
    """``text`` wrapped to ``width`` in ``font``, at most ``most`` lines (the last one cut)."""
    lines = simpleSplit(text, font, _TEXT_FONT, width)
    if len(lines) > most:
        lines = [*lines[: most - 1], lines[most - 1].rstrip(" ,;") + "\u2026"]
    return list(lines)


def _draw_label(
    c: Canvas, kit: LabelKit, patient_code: str, x: float, y: float, info: LabelInfo | None
) -> None:
    c.setStrokeColor(colors.grey)
    c.setDash(2, 2)
    c.rect(x, y, _LABEL_W, _LABEL_H, stroke=1, fill=0)
    c.setDash()
    top = y + _LABEL_H
    _draw_qr(c, kit.code, x + 2.5 * mm, top - 3 * mm - _QR_SIZE, _QR_SIZE)
    tx = x + _QR_SIZE + 5 * mm
    width = x + _LABEL_W - 2.5 * mm - tx
    c.setFillColor(colors.black)
    c.setFont("Helvetica-Bold", 12)
    c.drawString(tx, top - 6 * mm, f"Kit {kit.code}")
    lines: list[tuple[str, str]] = [
        ("Helvetica", f"Patient {patient_code} \u00b7 Period {kit.period}"),
        ("Helvetica", _fmt_dates(kit)),
    ]
    lines += [
        ("Helvetica", t)
        for t in _wrapped(
            dose_day_text(kit.dose_days, kit.start_date, kit.end_date), "Helvetica", width, 2
        )
    ]
    lines.append(("Helvetica-Oblique", BLINDED_NOTE))
    if info is not None:
        lines += [("Helvetica", t) for t in _wrapped(info.storage, "Helvetica", width, 2)]
        lines.append(("Helvetica-Bold", f"Expiry: {info.expiry.isoformat()}"))
    ty = top - 10 * mm
    for font, text in lines:
        c.setFont(font, _TEXT_FONT)
        c.drawString(tx, ty, text)
        ty -= _LINE
    if info is not None:
        full = _LABEL_W - 5 * mm
        bottom = [("Helvetica-Bold", info.trial_use.upper())]
        if info.emergency_contact:
            text = f"In an emergency: {info.emergency_contact}"
            bottom.append(("Helvetica", _wrapped(text, "Helvetica", full, 1)[0]))
        by = y + 2.5 * mm + (len(bottom) - 1) * _LINE
        for font, text in bottom:
            c.setFont(font, _TEXT_FONT)
            c.drawString(x + 2.5 * mm, by, text)
            by -= _LINE


def _simulated_mark(c: Canvas) -> None:
    """The demo's "SIMULATED DEMO DATA" line at the top of a page (docs/SAFETY.md)."""
    c.saveState()
    c.setFont("Helvetica-Bold", 9)
    c.setFillColor(colors.red)
    c.drawCentredString(_PAGE_W / 2, _PAGE_H - 6 * mm, SIMULATED_HEADER)
    c.restoreState()


def label_sheet_pdf(
    trial_id: str,
    patient_code: str,
    kits: Sequence[LabelKit],
    info: LabelInfo | None = None,
    *,
    simulated: bool = False,
) -> bytes:
    """A4 sheet(s) of kit labels with QR codes; shows no arm and no substance. ``simulated``
    (the demo's database) marks every page "SIMULATED DEMO DATA"."""
    ordered = _check(trial_id, patient_code, kits)
    buf = io.BytesIO()
    c = Canvas(buf, pagesize=A4, invariant=True, pageCompression=1)
    c.setTitle(f"Kit labels - trial {trial_id}, patient {patient_code}")
    c.setAuthor("MicroTrial")
    c.setSubject("Blinded kit labels")
    per_page = _COLS * _ROWS
    pages = (len(ordered) + per_page - 1) // per_page
    for page in range(pages):
        if simulated:
            _simulated_mark(c)
        c.setFont("Helvetica", 8)
        c.setFillColor(colors.black)
        c.drawString(
            _MARGIN,
            _PAGE_H - _MARGIN - 3 * mm,
            f"Trial {trial_id} - patient {patient_code} - kit labels, page {page + 1} of {pages}",
        )
        for slot, kit in enumerate(ordered[page * per_page : (page + 1) * per_page]):
            col, row = slot % _COLS, slot // _COLS
            x = _MARGIN + col * _LABEL_W
            y = _PAGE_H - _MARGIN - 8 * mm - (row + 1) * _LABEL_H
            _draw_label(c, kit, patient_code, x, y, info)
        c.showPage()
    c.save()
    return buf.getvalue()


def preparation_sheet_pdf(
    trial_id: str,
    patient_code: str,
    kits: Sequence[LabelKit],
    *,
    prepared_on: date | None = None,
    status_line: str | None = None,
    simulated: bool = False,
) -> bytes:
    """The pharmacist's UNBLINDED kit -> arm table, with boxes to tick when filled and checked;
    ``simulated`` (the demo's database) marks every page "SIMULATED DEMO DATA"."""
    ordered = _check(trial_id, patient_code, kits)
    styles = getSampleStyleSheet()
    cell = styles["BodyText"].clone("cell", fontSize=8.5, leading=10.5)
    buf = io.BytesIO()
    doc = SimpleDocTemplate(
        buf,
        pagesize=A4,
        leftMargin=_MARGIN,
        rightMargin=_MARGIN,
        topMargin=15 * mm,
        bottomMargin=15 * mm,
        invariant=1,
        title=f"UNBLINDED preparation sheet - trial {trial_id}, patient {patient_code}",
        author="MicroTrial",
    )

    def _mark(canvas: Canvas, _doc: object) -> None:
        if simulated:
            _simulated_mark(canvas)
        canvas.saveState()
        canvas.setFont("Helvetica-Bold", 9)
        canvas.setFillColor(colors.red)
        canvas.drawString(
            _MARGIN,
            8 * mm,
            "UNBLINDED \u2014 pharmacy / unblinded staff only. "
            "Do not show to the patient or blinded clinicians.",
        )
        canvas.drawRightString(_PAGE_W - _MARGIN, 8 * mm, f"page {canvas.getPageNumber()}")
        canvas.restoreState()

    story: list[Flowable] = [
        Paragraph("UNBLINDED \u2014 kit preparation sheet", styles["Title"]),
        Paragraph(
            f"Trial <b>{escape(trial_id)}</b> &middot; patient <b>{escape(patient_code)}</b>"
            + (f" &middot; prepared on {prepared_on.isoformat()}" if prepared_on else ""),
            styles["Normal"],
        ),
        *([Paragraph(escape(status_line), styles["Normal"])] if status_line else []),
        Spacer(1, 3 * mm),
        Paragraph(
            "Fill each kit with the arm shown, using capsules identical in look, size, colour "
            "and count for every arm. Stick the matching label (same kit code) on each kit.",
            styles["Normal"],
        ),
        Spacer(1, 4 * mm),
    ]
    header: list[object] = [
        "Kit code",
        "Period",
        "Arm",
        "Dates",
        "Capsules",
        "Regimen",
        "Filled",
        "Checked",
    ]
    rows: list[list[object]] = [header]
    for k in ordered:
        rows.append(
            [
                k.code,
                str(k.period),
                k.arm.upper(),
                Paragraph(escape(_fmt_dates(k)), cell),
                str(len(k.dose_days)) if k.dose_days else "",
                Paragraph(escape(k.regimen_text), cell),
                "[   ]",
                "[   ]",
            ]
        )
    widths = [24 * mm, 13 * mm, 22 * mm, 26 * mm, 18 * mm, 51 * mm, 16 * mm, 18 * mm]
    table = Table(rows, colWidths=widths, repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 9),
                ("FONT", (0, 1), (2, -1), "Helvetica-Bold", 10),
                ("BACKGROUND", (0, 0), (-1, 0), colors.lightgrey),
                ("GRID", (0, 0), (-1, -1), 0.5, colors.black),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ]
        )
    )
    story.append(table)
    story.append(Spacer(1, 8 * mm))
    story.append(
        Paragraph("Prepared by: ____________________ &nbsp; Checked by: ________________", cell)
    )
    doc.build(story, onFirstPage=_mark, onLaterPages=_mark)
    return buf.getvalue()
