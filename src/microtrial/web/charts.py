"""Plotly figure specifications (plain JSON) for the pages' charts; drawn by static/charts.js."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from microtrial.services.analysis import OFF_PROTOCOL


def pain_chart(points: Sequence[tuple[dt.date, float]], *, title: str) -> dict[str, Any]:
    """A line chart of daily average pain (0-10), broken where days are missing; no arms."""
    by_day = dict(points)
    days: list[dt.date] = []
    if points:
        first, last = min(by_day), max(by_day)
        days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": "Average pain",
                "x": [d.isoformat() for d in days],
                "y": [by_day.get(d) for d in days],
                "line": {"color": "#0a4fb4"},
                "connectgaps": False,
            }
        ],
        "layout": {
            "title": {"text": title},
            "yaxis": {"range": [-0.5, 10.5], "title": {"text": "Pain (0-10)"}, "dtick": 2},
            "xaxis": {"title": {"text": "Date"}},
            "margin": {"l": 50, "r": 10, "t": 40, "b": 50},
            "height": 320,
        },
    }


def pain_points(entries: Sequence[Any]) -> list[tuple[dt.date, float]]:
    """Daily average pain from diary entries (``daily_diary`` entries with an answer)."""
    points = []
    for entry in entries:
        value = entry.answers.get("average_pain")
        if entry.instrument_id == "daily_diary" and isinstance(value, int | float):
            points.append((entry.local_date, float(value)))
    return points


ARM_COLOURS = {"active": "#b03a00", "placebo": "#0a4fb4", "baseline": "#5f5f5f"}
PAUSED = (OFF_PROTOCOL, "#6a3d9a", "paused (off protocol, not analysed)")


def arm_chart(
    days: Sequence[dict[str, Any]],
    *,
    title: str,
    adverse_events: Sequence[tuple[str, int]] = (),
) -> dict[str, Any]:
    """Daily pain coloured by arm (only for unblinded trials); wash-in days drawn hollow.

    Paused days are their own series (no arm); ``adverse_events`` (onset date, grade) are marked
    along the top of the chart.
    """
    traces = []
    series = [(arm, colour, arm) for arm, colour in ARM_COLOURS.items()] + [PAUSED]
    for arm, colour, name in series:
        for wash_in in (False, True):
            rows = [
                d
                for d in days
                if d.get("arm") == arm
                and bool(d.get("wash_in")) == wash_in
                and d.get("pain") is not None
            ]
            if not rows:
                continue
            traces.append(
                {
                    "type": "scatter",
                    "mode": "markers",
                    "name": f"{name} (wash-in, not analysed)" if wash_in else name,
                    "x": [str(d["date"]) for d in rows],
                    "y": [d["pain"] for d in rows],
                    "marker": {
                        "color": colour,
                        "symbol": "circle-open" if wash_in else "circle",
                        "size": 7,
                    },
                }
            )
    if adverse_events:
        traces.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": "adverse event (onset)",
                "x": [day for day, _ in adverse_events],
                "y": [10.3] * len(adverse_events),
                "text": [f"adverse event, grade {grade}" for _, grade in adverse_events],
                "marker": {"color": "#000000", "symbol": "triangle-down", "size": 10},
            }
        )
    return {
        "data": traces,
        "layout": {
            "title": {"text": title},
            "yaxis": {"range": [-0.5, 10.5], "title": {"text": "Pain (0-10)"}, "dtick": 2},
            "margin": {"l": 50, "r": 10, "t": 40, "b": 50},
            "height": 340,
            "legend": {"orientation": "h"},
        },
    }


def forest_chart(rows: Sequence[dict[str, Any]], *, title: str) -> dict[str, Any]:
    """A forest plot of per-trial effects (active minus placebo) with 95 % intervals."""
    labels = [f"{r.get('trial_id')} ({r.get('condition', '')})" for r in rows]
    means = [r.get("effect_mean") for r in rows]
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "markers",
                "x": means,
                "y": labels,
                "error_x": {
                    "type": "data",
                    "symmetric": False,
                    "array": [
                        (r["ci95_high"] - r["effect_mean"])
                        if r.get("ci95_high") is not None
                        else None
                        for r in rows
                    ],
                    "arrayminus": [
                        (r["effect_mean"] - r["ci95_low"])
                        if r.get("ci95_low") is not None
                        else None
                        for r in rows
                    ],
                },
                "marker": {"color": "#0a4fb4", "size": 8},
                "name": "effect",
            }
        ],
        "layout": {
            "title": {"text": title},
            "xaxis": {
                "title": {"text": "Pain difference, active minus placebo (points)"},
                "zeroline": True,
            },
            "yaxis": {"automargin": True},
            "margin": {"l": 10, "r": 10, "t": 40, "b": 50},
            "height": max(240, 28 * len(rows) + 100),
        },
    }
