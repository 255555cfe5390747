"""Server-drawn SVG charts: gaps break lines, labels are escaped, bands stay inside the plot."""

from __future__ import annotations

import datetime as dt
import re

from microtrial.reports.svg_charts import Band, Series, dose_strip, line_chart

D = dt.date(2026, 3, 1)


def day(n: int) -> dt.date:
    return D + dt.timedelta(days=n)


def test_a_missing_day_breaks_the_line_and_every_point_is_marked() -> None:
    points = [(day(0), 2.0), (day(1), 3.0), (day(3), 4.0), (day(4), 5.0), (day(6), 1.0)]
    svg = line_chart(
        "c", "Pain", [Series("Pain", "#000", points)], y_max=10, start=day(0), end=day(6)
    )
    assert svg.count("<polyline") == 2  # 0-1 and 3-4; day 6 stands alone
    assert svg.count("<circle") == 5
    assert 'role="img"' in svg
    assert 'aria-labelledby="c-t c-d"' in svg


def test_the_scale_is_fixed_and_never_below_zero() -> None:
    svg = line_chart(
        "c", "Pain", [Series("Pain", "#000", [(day(0), 0.0)])], y_max=10, start=day(0), end=day(6)
    )
    labels = re.findall(r'text-anchor="end" fill="#1a1a1a">(-?\d+)</text>', svg)
    assert labels == ["0", "2", "4", "6", "8", "10"]


def test_text_is_escaped() -> None:
    svg = line_chart(
        "c",
        "<script>",
        [Series("a & b", "#000", [])],
        y_max=10,
        start=day(0),
        end=day(1),
        desc="x < y",
    )
    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg
    assert "x &lt; y" in svg


def test_band_labels_stay_inside_the_plot_and_doses_are_marked() -> None:
    band = Band(day(6), day(20), "Period 1")
    svg = dose_strip("d", "Doses", [day(0), day(3), day(6)], start=day(0), end=day(6), bands=[band])
    assert svg.count('fill="#6b3fa0"') == 3
    x = float(re.search(r'<text x="([\d.]+)"[^>]*font-size="10">Period 1', svg).group(1))  # type: ignore[union-attr]
    assert x + 3.1 * len("Period 1") <= 392
