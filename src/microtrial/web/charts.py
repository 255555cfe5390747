"""Plotly figure specifications (plain JSON) for the pages' charts; drawn by static/charts.js."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any


def pain_chart(points: Sequence[tuple[dt.date, float]], *, title: str) -> dict[str, Any]:
    """A line chart of daily average pain (0-10); no arms are drawn."""
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": "Average pain",
                "x": [d.isoformat() for d, _ in points],
                "y": [v for _, v in points],
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
