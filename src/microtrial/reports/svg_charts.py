"""Small server-drawn SVG charts (no script): lines over dates with gaps kept, dose marks and
shaded trial periods. Each chart is an ``<svg role="img">`` with a title and a description; the
page puts a table beside it. Pure: returns markup, does no I/O."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from markupsafe import Markup, escape

from microtrial import i18n
from microtrial.i18n import N_

__all__ = ["Band", "Series", "dose_strip", "line_chart"]

WIDTH, PLOT_LEFT, PLOT_RIGHT, PLOT_TOP = 400, 34, 392, 12
FONT = 'font-family="system-ui, sans-serif" font-size="12"'
TEXT = "#1a1a1a"
GRID = "#c8ccd2"
BAND_FILLS = {"active": "#fbe3cf", "placebo": "#d9e6f7", None: "#eef0f3"}
BAND_WORDS = {"active": N_("Active"), "placebo": N_("Placebo")}  # translated when drawn


@dataclass(frozen=True)
class Series:
    """One line: its name, colour, dash pattern and (date, value) points."""

    name: str
    colour: str
    points: Sequence[tuple[dt.date, float]]
    dash: str = ""


@dataclass(frozen=True)
class Band:
    """A shaded span of dates (a trial period) with a short label."""

    start: dt.date
    end: dt.date
    label: str
    arm: str | None = None


@dataclass
class _Frame:
    """Maps dates and values onto the drawing."""

    start: dt.date
    end: dt.date
    y_min: float
    y_max: float
    height: int
    bottom: int = field(init=False)

    def __post_init__(self) -> None:
        self.bottom = self.height - 22

    def x(self, day: dt.date) -> float:
        span = max((self.end - self.start).days, 1)
        return PLOT_LEFT + (PLOT_RIGHT - PLOT_LEFT) * (day - self.start).days / span

    def y(self, value: float) -> float:
        share = (value - self.y_min) / ((self.y_max - self.y_min) or 1)
        return self.bottom - (self.bottom - PLOT_TOP) * share


def _date_ticks(start: dt.date, end: dt.date) -> list[dt.date]:
    """Evenly spaced dates from ``start`` (at most five), a whole number of days apart."""
    span = (end - start).days
    step = max(1, -(-span // 4))
    return [start + dt.timedelta(days=k) for k in range(0, span + 1, step)]


def _short(day: dt.date) -> str:
    if i18n.current() == i18n.DEFAULT:
        return f"{day.day} {day.strftime('%b')}"
    return f"{day.day} {i18n.month_names()[day.month - 1]}"


def _x_axis(frame: _Frame) -> list[str]:
    parts = [
        f'<line x1="{PLOT_LEFT}" y1="{frame.bottom}" x2="{PLOT_RIGHT}" y2="{frame.bottom}" '
        f'stroke="{TEXT}"/>'
    ]
    for tick in _date_ticks(frame.start, frame.end):
        x = frame.x(tick)
        anchor = "start" if tick == frame.start else ("end" if tick == frame.end else "middle")
        if anchor == "middle":
            x = min(x, WIDTH - 20)  # a label near the right edge stays on the drawing
        parts.append(
            f'<text x="{x:.1f}" y="{frame.bottom + 16}" text-anchor="{anchor}" fill="{TEXT}">'
            f"{escape(_short(tick))}</text>"
        )
    return parts


def _label_x(x0: float, x1: float, label: str) -> float:
    """The middle of a band, moved inwards so that its label stays inside the plot."""
    half = 3.1 * len(label)  # about half the label's width at the band font size
    return min(max((x0 + x1) / 2, PLOT_LEFT + half), PLOT_RIGHT - half)


def _bands(frame: _Frame, bands: Sequence[Band]) -> list[str]:
    parts = []
    half = (PLOT_RIGHT - PLOT_LEFT) / max((frame.end - frame.start).days, 1) / 2
    for band in bands:
        fill = BAND_FILLS.get(band.arm, BAND_FILLS[None])
        if band.end < frame.start or band.start > frame.end:
            continue
        x0 = max(frame.x(max(band.start, frame.start)) - half, PLOT_LEFT)
        x1 = min(frame.x(min(band.end, frame.end)) + half, PLOT_RIGHT)
        parts.append(
            f'<rect x="{x0:.1f}" y="{PLOT_TOP}" width="{max(x1 - x0, 1):.1f}" '
            f'height="{frame.bottom - PLOT_TOP}" fill="{fill}"/>'
            f'<text x="{_label_x(x0, x1, band.label):.1f}" y="{PLOT_TOP + 11}" '
            'text-anchor="middle" '
            f'fill="{TEXT}" font-size="10">{escape(band.label)}</text>'
        )
    return parts


def _runs(points: Sequence[tuple[dt.date, float]]) -> list[list[tuple[dt.date, float]]]:
    """Consecutive-day runs: a missing day breaks the line."""
    runs: list[list[tuple[dt.date, float]]] = []
    for day, value in sorted(points):
        if runs and (day - runs[-1][-1][0]).days == 1:
            runs[-1].append((day, value))
        else:
            runs.append([(day, value)])
    return runs


def _series(frame: _Frame, series: Series) -> list[str]:
    parts = []
    dash = f' stroke-dasharray="{series.dash}"' if series.dash else ""
    for run in _runs(series.points):
        if len(run) > 1:
            coords = " ".join(f"{frame.x(d):.1f},{frame.y(v):.1f}" for d, v in run)
            parts.append(
                f'<polyline points="{coords}" fill="none" stroke="{series.colour}" '
                f'stroke-width="2"{dash}/>'
            )
    parts.extend(
        f'<circle cx="{frame.x(d):.1f}" cy="{frame.y(v):.1f}" r="2.6" fill="{series.colour}"/>'
        for d, v in series.points
    )
    return parts


def _legend(series: Sequence[Series], y: int) -> list[str]:
    parts, x = [], PLOT_LEFT
    for s in series:
        dash = f' stroke-dasharray="{s.dash}"' if s.dash else ""
        parts.append(
            f'<line x1="{x}" y1="{y - 4}" x2="{x + 18}" y2="{y - 4}" stroke="{s.colour}" '
            f'stroke-width="3"{dash}/><text x="{x + 22}" y="{y}" fill="{TEXT}">'
            f"{escape(s.name)}</text>"
        )
        x += 30 + 7 * len(s.name)
    return parts


def _svg(ident: str, title: str, desc: str, height: int, body: list[str]) -> Markup:
    return Markup(
        f'<svg class="svg-chart" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-labelledby="{ident}-t {ident}-d" {FONT} xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{ident}-t">{escape(title)}</title><desc id="{ident}-d">{escape(desc)}</desc>'
        + "".join(body)
        + "</svg>"
    )


def line_chart(
    ident: str,
    title: str,
    series: Sequence[Series],
    *,
    y_max: float,
    y_min: float = 0,
    start: dt.date,
    end: dt.date,
    bands: Sequence[Band] = (),
    y_step: float = 2,
    desc: str = "",
) -> Markup:
    """Lines of values over the dates ``start``..``end`` on a fixed ``y_min``..``y_max`` scale."""
    legend = len(series) > 1
    height = 200 + (18 if legend else 0)
    frame = _Frame(start, end, y_min, y_max, height - (18 if legend else 0))
    body = _bands(frame, bands)
    value = y_min
    while value <= y_max + 1e-9:
        y = frame.y(value)
        body.append(
            f'<line x1="{PLOT_LEFT}" y1="{y:.1f}" x2="{PLOT_RIGHT}" y2="{y:.1f}" stroke="{GRID}"/>'
            f'<text x="{PLOT_LEFT - 5}" y="{y + 4:.1f}" text-anchor="end" fill="{TEXT}">'
            f"{value:g}</text>"
        )
        value += y_step
    body += _x_axis(frame)
    for s in series:
        body += _series(frame, s)
    if legend:
        body += _legend(series, height - 4)
    return _svg(ident, title, desc, height, body)


def dose_strip(
    ident: str,
    title: str,
    days: Sequence[dt.date],
    *,
    start: dt.date,
    end: dt.date,
    bands: Sequence[Band] = (),
    desc: str = "",
) -> Markup:
    """One mark per day a capsule was taken, on the same dates as the line charts."""
    height = 76
    frame = _Frame(start, end, 0, 1, height)
    body = _bands(frame, bands)
    body += _x_axis(frame)
    middle = (PLOT_TOP + 14 + frame.bottom) / 2
    body.extend(
        f'<rect x="{frame.x(d) - 3:.1f}" y="{middle - 7:.1f}" width="6" height="14" rx="3" '
        f'fill="#6b3fa0"/>'
        for d in days
    )
    return _svg(ident, title, desc, height, body)
