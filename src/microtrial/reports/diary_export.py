"""The patient's own diary: the History page's SVG charts, and the diary as CSV and PDF.

Arms appear only when the history carries them (``period_views`` sets them once unblinded)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup

from microtrial import __version__, i18n
from microtrial.files import spreadsheet_safe
from microtrial.i18n import N_
from microtrial.reports.rendering import html_to_pdf, render_html
from microtrial.reports.svg_charts import BAND_WORDS, Band, Series, dose_strip, line_chart
from microtrial.services.patient_history import DiaryHistory

__all__ = ["EMPTY", "HistoryChart", "diary_csv", "diary_pdf", "history_charts"]

EMPTY = N_("No diary entries yet.")
CSV_HEADER = ("date", "questionnaire", "question", "answer")
MIN_DAYS_SHOWN = 6


def _(message: str) -> str:
    """``message`` in the current language (i18n.speaking)."""
    return i18n.gettext(message)


@dataclass(frozen=True)
class HistoryChart:
    """One chart of the History page: heading, SVG (None when there is nothing to draw), caption."""

    ident: str
    heading: str
    svg: Markup | None
    caption: str


def _long(day: dt.date) -> str:
    if i18n.current() == i18n.DEFAULT:
        return f"{day.day} {day.strftime('%B %Y')}"
    return i18n.format_when(day, "%d %B %Y")


def _span(history: DiaryHistory) -> tuple[dt.date, dt.date] | None:
    dates = [d.date for d in history.days] + [d.date for d in history.doses]
    dates += [p.date for m in history.mood for p in m.points]
    if not dates:
        return None
    start, end = min(dates), max(dates)
    if (end - start).days < MIN_DAYS_SHOWN:
        start = end - dt.timedelta(days=MIN_DAYS_SHOWN)
    return start, end


def _bands(history: DiaryHistory) -> list[Band]:
    return [
        Band(p.start_date, p.end_date, _band_label(p.arm, p.number), p.arm) for p in history.periods
    ]


def _band_label(arm: str | None, number: int) -> str:
    if arm in BAND_WORDS:
        return _(BAND_WORDS[arm])
    return _("Period %(number)s") % {"number": number}


def _points(history: DiaryHistory, name: str) -> list[tuple[dt.date, float]]:
    out = []
    for day in history.days:
        value = getattr(day, name)
        if value is not None:
            out.append((day.date, float(value)))
    return out


def _describe(what: str, points: Sequence[tuple[dt.date, float]], top: int) -> str:
    if not points:
        return _("No %(what)s recorded yet.") % {"what": _(what)}
    last_day, last = points[-1]
    words = _(
        "%(what)s on %(days)s days from %(start)s to %(end)s; the latest was %(last)s out of "
        "%(top)s. The table below lists each day."
    )
    return words % {
        "what": _(what).capitalize() if i18n.current() == i18n.DEFAULT else _(what),
        "days": len(points),
        "start": _long(points[0][0]),
        "end": _long(last_day),
        "last": f"{last:g}" if i18n.current() == i18n.DEFAULT else i18n.format_number(last),
        "top": top,
    }


def _bands_caption(history: DiaryHistory) -> str:
    if not history.periods:
        return ""
    if history.unblinded:
        return " " + _(
            "Orange background: periods with the active capsules; blue: placebo periods."
        )
    return " " + _(
        "Shaded: your trial's periods. Which were active or placebo is shown only after "
        "your trial ends."
    )


def history_charts(history: DiaryHistory) -> list[HistoryChart]:
    """The pain, sleep, mood and capsule charts (no SVG where nothing is recorded yet)."""
    span = _span(history)
    bands = _bands(history)
    avg, worst, sleep = (_points(history, n) for n in ("average_pain", "worst_pain", "sleep"))
    mood = [m for m in history.mood if m.points]
    charts = []

    def chart(ident: str, heading: str, svg: Markup | None, caption: str) -> None:
        charts.append(HistoryChart(ident, heading, svg if span else None, caption))

    start, end = span or (history.local_date, history.local_date)
    pain = [
        Series(_("Average pain"), "#0a4fb4", avg),
        Series(_("Worst pain"), "#b03a00", worst, dash="5 3"),
    ]
    chart(
        "pain",
        _("Pain"),
        line_chart(
            "pain-chart",
            _("Your daily pain, 0 (no pain) to 10 (worst imaginable)"),
            [s for s in pain if s.points] or pain[:1],
            y_max=10,
            start=start,
            end=end,
            bands=bands,
            desc=_describe(N_("average pain"), avg, 10),
        ),
        _("0 = no pain, 10 = worst pain imaginable. A gap in a line is a day without an answer.")
        + _bands_caption(history),
    )
    chart(
        "sleep",
        _("Sleep"),
        line_chart(
            "sleep-chart",
            _("How you rated your sleep, 0 (worst) to 10 (best)"),
            [Series(_("Sleep"), "#0f5c2e", sleep)],
            y_max=10,
            start=start,
            end=end,
            bands=bands,
            desc=_describe(N_("sleep ratings"), sleep, 10),
        ),
        _("0 = worst possible sleep, 10 = best possible sleep."),
    )
    if mood:
        top = max(m.max for m in mood)
        chart(
            "mood",
            _("Mood questionnaires"),
            line_chart(
                "mood-chart",
                _("Your mood questionnaire scores (higher means more symptoms)"),
                [
                    Series(_(m.title), colour, [(p.date, p.value) for p in m.points], dash=dash)
                    for m, (colour, dash) in zip(
                        mood, (("#6b3fa0", ""), ("#8a5a00", "5 3")), strict=False
                    )
                ],
                y_max=top,
                y_step=5,
                start=start,
                end=end,
                bands=bands,
                desc="; ".join(
                    _describe(m.title, [(p.date, p.value) for p in m.points], m.max) for m in mood
                ),
            ),
            _("Higher scores mean more symptoms.")
            + " "
            + " ".join(
                _("%(title)s: 0 to %(max)s.") % {"title": _(m.title), "max": m.max} for m in mood
            ),
        )
    chart(
        "doses",
        _("Capsules taken"),
        dose_strip(
            "dose-chart",
            _("Days you took a capsule"),
            [d.date for d in history.doses],
            start=start,
            end=end,
            bands=bands,
            desc=_("%(n)s capsules taken; the table below lists each day.")
            % {"n": len(history.doses)},
        ),
        _("One mark for each day you checked in a capsule.") + _bands_caption(history),
    )
    return charts


def diary_csv(history: DiaryHistory) -> str:
    """The diary as CSV: one row per answer (date, questionnaire, question, answer)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for row in history.rows:
        cells = (row.date.isoformat(), row.questionnaire, row.question, row.answer)
        writer.writerow([spreadsheet_safe(c) for c in cells])
    return out.getvalue()


def diary_pdf(history: DiaryHistory, *, generated_at: dt.datetime) -> bytes:
    """The diary as an A4 PDF: the charts, then every answer by date."""
    html = render_html(
        "diary_export.html",
        {
            "history": history,
            "charts": history_charts(history),
            "empty": EMPTY,
            "title": "My diary",
            "audience": "patient",
            "pdf": True,
            "version": __version__,
            "generated": generated_at.strftime("%Y-%m-%d %H:%M UTC"),
        },
    )
    return html_to_pdf(html)
