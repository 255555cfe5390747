"""Report figures drawn with matplotlib (object API, Agg/SVG canvases; no pyplot, no display).

Each figure is returned as a :class:`Rendered` pair: inline SVG for the HTML report and a PNG data
URI for the PDF, both drawn from the same ``Figure``.
"""

from __future__ import annotations

import base64
import io
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from microtrial import i18n
from microtrial.analysis.density import EffectPosterior

ARM_COLOURS = {"active": "#e69f00", "placebo": "#56b4e9", "baseline": "#d9d9d9"}
PAIN = "#1f3b73"
AE_COLOUR = "#c0392b"
PNG_DPI = 150
# rc_context changes matplotlib's global settings: one figure at a time (web servers use threads).
_LOCK = threading.Lock()
_RC = {
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.fonttype": "none",
}


@dataclass(frozen=True)
class Rendered:
    """One figure as inline SVG (HTML) and as a PNG data URI (PDF), with its text alternative."""

    svg: str
    png_uri: str
    alt: str


@contextmanager
def _style(name: str, large: bool) -> Iterator[None]:
    params: dict[Any, Any] = {**_RC, "svg.hashsalt": f"microtrial-{name}"}
    if large:
        params["font.size"] = 12
    with mpl.rc_context(params):
        yield


def render(name: str, draw: Callable[[], Figure], alt: str, *, large: bool = False) -> Rendered:
    """Draw a figure once and serialise it as SVG and PNG (deterministic ids, no timestamps)."""
    with _LOCK, _style(name, large):
        fig = draw()
        out = io.StringIO()
        fig.savefig(out, format="svg", metadata={"Date": None}, bbox_inches="tight")
        png = io.BytesIO()
        fig.savefig(
            png, format="png", dpi=PNG_DPI, metadata={"Software": None}, bbox_inches="tight"
        )
    svg = out.getvalue()
    svg = svg[svg.index("<svg") :]
    # Scale with the page: drop the fixed size, keep the viewBox.
    svg = re.sub(r'(<svg[^>]*?) width="[^"]*" height="[^"]*"', r"\1", svg, count=1)
    svg = svg.replace("<svg ", f'<svg role="img" aria-label="{_attr(alt)}" ', 1)
    uri = "data:image/png;base64," + base64.b64encode(png.getvalue()).decode("ascii")
    return Rendered(svg=svg, png_uri=uri, alt=alt)


def _(message: str) -> str:
    """``message`` in the language of the report being drawn (``i18n.speaking``)."""
    return i18n.gettext(message)


def _attr(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


def _spans(days: pd.DataFrame) -> list[tuple[int, int, str, bool, bool]]:
    """Runs of consecutive days with the same (arm, wash-in, paused): start, end, arm, flags."""
    out: list[tuple[int, int, str, bool, bool]] = []
    key_prev: tuple[str, bool, bool] | None = None
    for sday, arm, wash, phase in zip(
        days["study_day"], days["arm"], days["wash_in"], days["phase"], strict=True
    ):
        key = (str(arm), bool(wash), phase == "paused")
        if key_prev == key and out:
            out[-1] = (out[-1][0], int(sday), *key)
        else:
            out.append((int(sday), int(sday), *key))
        key_prev = key
    return out


def trajectory(
    days: pd.DataFrame,
    *,
    adverse: Sequence[tuple[int, int]] = (),
    data_end: int | None = None,
    large: bool = False,
) -> Rendered:
    """Daily pain over the trial, periods shaded by arm, dose days and adverse events marked."""

    def draw() -> Figure:
        fig = Figure(figsize=(9.0, 3.6 if not large else 4.2))
        ax = fig.add_subplot()
        for start, end, arm, wash, paused in _spans(days):
            colour = "#9e9e9e" if paused else ARM_COLOURS.get(arm, "#eeeeee")
            ax.axvspan(
                start - 0.5,
                end + 0.5,
                color=colour,
                alpha=0.18 if wash else 0.38,
                hatch="///" if wash else None,
                linewidth=0,
            )
        periods = days[days["period"].notna()].groupby("period")["study_day"].agg(["min", "max"])
        for number, row in periods.iterrows():
            ax.text(
                (row["min"] + row["max"]) / 2,
                10.35,
                f"P{int(float(str(number)))}",
                ha="center",
                va="bottom",
                fontsize="small",
            )
        ax.plot(
            days["study_day"],
            days["pain"].astype(float),
            color=PAIN,
            marker="o",
            markersize=3 if not large else 4,
            linewidth=1.2,
            label=_("average pain"),
        )
        due = days[days["dose_day"]]
        taken = due[due["dose_taken"]]
        missed = due[~due["dose_taken"]]
        extra = days[days["dose_taken"] & ~days["dose_day"]]
        ax.plot(taken["study_day"], np.full(len(taken), -0.6), "^", color="#333333", ms=4)
        ax.plot(
            missed["study_day"], np.full(len(missed), -0.6), "^", mfc="white", mec="#333333", ms=4
        )
        ax.plot(extra["study_day"], np.full(len(extra), -0.6), "x", color=AE_COLOUR, ms=5)
        for sday, grade in adverse:
            ax.plot([sday], [9.6], "v", color=AE_COLOUR, ms=7)
            ax.text(sday, 9.0, f"G{int(grade)}", color=AE_COLOUR, ha="center", fontsize="small")
        if data_end is not None and data_end < int(days["study_day"].max()):
            ax.axvline(data_end + 0.5, color="#444444", linestyle="--", linewidth=1)
            ax.text(data_end + 1, 8.2, _("trial stopped"), fontsize="small", color="#444444")
        ax.set_ylim(-1.2, 11.2)
        ax.set_yticks(range(0, 11, 2))
        ax.set_xlim(float(days["study_day"].min()) - 0.5, float(days["study_day"].max()) + 0.5)
        ax.set_xlabel(_("Study day (day 0 = first run-in day)"))
        ax.set_ylabel(_("Average pain (0–10)"))
        handles = [
            Line2D([], [], color=PAIN, marker="o", ms=3, label=_("average pain")),
            Patch(color=ARM_COLOURS["baseline"], alpha=0.6, label=_("run-in (no capsules)")),
            Patch(color=ARM_COLOURS["active"], alpha=0.6, label=_("active periods")),
            Patch(color=ARM_COLOURS["placebo"], alpha=0.6, label=_("placebo periods")),
            Patch(
                facecolor="white", edgecolor="#888888", hatch="///", label=_("wash-in (excluded)")
            ),
            Line2D([], [], color="#333333", marker="^", ls="", ms=4, label=_("dose taken")),
            Line2D(
                [], [], mfc="white", mec="#333333", marker="^", ls="", ms=4, label=_("dose missed")
            ),
            Line2D(
                [],
                [],
                color=AE_COLOUR,
                marker="v",
                ls="",
                ms=6,
                label=i18n.pgettext("figure", "adverse event"),
            ),
        ]
        fig.legend(
            handles=handles,
            loc="lower center",
            ncol=4,
            frameon=False,
            fontsize="small",
            bbox_to_anchor=(0.5, -0.02),
        )
        fig.subplots_adjust(bottom=0.3)
        return fig

    alt = _(
        "Daily average pain by study day, with periods shaded by arm, dose days and adverse events"
    )
    return render("trajectory", draw, alt, large=large)


def posterior_density(
    post: EffectPosterior, *, mcid: float, low: float, high: float, mean: float
) -> Rendered:
    """The posterior density of the effect, the 95 % interval shaded, zero and −MCID marked."""

    def draw() -> Figure:
        fig = Figure(figsize=(7.0, 3.0))
        ax: Axes = fig.add_subplot()
        x, y = post.grid(500)
        lo_x = min(float(x[0]), -mcid - 0.5)
        hi_x = max(float(x[-1]), 0.5)
        x = np.linspace(lo_x, hi_x, 600)
        y = post.pdf(x)
        ax.plot(x, y, color=PAIN, linewidth=1.6)
        inside = (x >= low) & (x <= high)
        ax.fill_between(
            x, 0, y, where=inside, color=PAIN, alpha=0.18, label=_("95 %% interval") % {}
        )
        beyond = x <= -mcid
        ax.fill_between(
            x,
            0,
            y,
            where=beyond,
            color=ARM_COLOURS["active"],
            alpha=0.45,
            label=_("≥ 1-point gain"),
        )
        ax.axvline(0.0, color="#555555", linewidth=1, label=_("no difference"))
        ax.axvline(
            -mcid,
            color=AE_COLOUR,
            linestyle="--",
            linewidth=1.2,
            label=_("MCID (−%(mcid)s point)") % {"mcid": f"{mcid:g}"},
        )
        ax.axvline(mean, color=PAIN, linestyle=":", linewidth=1, label=_("posterior mean"))
        ax.set_xlabel(_("Active minus placebo, average pain (points; below 0 = less pain)"))
        ax.set_ylabel(_("Posterior density"))
        ax.set_ylim(bottom=0)
        ax.legend(frameon=False, fontsize="small", loc="upper right")
        fig.tight_layout()
        return fig

    alt = _("Posterior density of the difference in average pain, active minus placebo")
    return render("density", draw, alt)


def forest(forest_rows: pd.DataFrame, groups: pd.DataFrame) -> Rendered:
    """Per-trial effects (with shrunken estimates) and pooled effects per condition."""
    per_group = [g for g in groups["group"] if g != "overall"]
    order = [*per_group, "overall"]

    def draw() -> Figure:
        rows: list[tuple[str, pd.Series, bool]] = []
        for group in order:
            sub = forest_rows[forest_rows["group"] == group]
            if group == "overall":
                sub = sub[sub["label"] == "pooled"]
            for _, row in sub.iterrows():
                rows.append((str(group), row, row["label"] == "pooled"))
        height = 1.2 + 0.28 * len(rows)
        fig = Figure(figsize=(7.5, height))
        ax = fig.add_subplot()
        labels: list[str] = []
        for i, (group, row, pooled) in enumerate(rows):
            yy = len(rows) - 1 - i
            if pooled:
                g = groups[groups["group"] == group].iloc[0]
                eff, lo, hi = float(row["effect"]), float(row["low"]), float(row["high"])
                ax.plot([g["pi95_low"], g["pi95_high"]], [yy, yy], color="#999999", lw=1)
                ax.fill(
                    [lo, eff, hi, eff], [yy, yy + 0.25, yy, yy - 0.25], color=PAIN, edgecolor=PAIN
                )
                labels.append(f"{group}: pooled")
            else:
                ax.plot([row["low"], row["high"]], [yy, yy], color="#333333", lw=1)
                ax.plot([row["effect"]], [yy], "s", color="#333333", ms=4)
                if pd.notna(row.get("shrunk_mean")):
                    ax.plot([row["shrunk_mean"]], [yy], "o", mfc="white", mec=ARM_COLOURS["active"])
                labels.append(f"{group}: {row['label']}")
        ax.axvline(0.0, color="#555555", lw=1)
        ax.axvline(-1.0, color=AE_COLOUR, lw=1, ls="--")
        ax.set_yticks(range(len(rows)))
        ax.set_yticklabels(list(reversed(labels)), fontsize="small")
        ax.set_xlabel("Active minus placebo, average pain (points)")
        handles = [
            Line2D([], [], color="#333333", marker="s", ms=4, label="trial (95 % interval)"),
            Line2D(
                [], [], mfc="white", mec=ARM_COLOURS["active"], marker="o", ls="", label="shrunken"
            ),
            Patch(color=PAIN, label="pooled (95 % interval)"),
            Line2D([], [], color="#999999", label="95 % prediction interval"),
            Line2D([], [], color=AE_COLOUR, ls="--", label="MCID (−1 point)"),
        ]
        ax.legend(
            handles=handles,
            frameon=False,
            fontsize="small",
            loc="upper center",
            bbox_to_anchor=(0.5, -0.25 / (height / 4.0)),
            ncol=3,
        )
        fig.tight_layout()
        return fig

    alt = "Forest plot of per-trial and pooled effects on average pain by condition"
    return render("forest", draw, alt)
