"""The researcher's cohort report: pooled effects by condition, heterogeneity, blinding.

De-identified: it is built only from ``services.analysis.CohortAnalysis``, whose trials carry a
sequence label (``trial-001``) and a condition group, never a patient code, site or date.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, Literal, overload

import pandas as pd

from microtrial import __version__
from microtrial.analysis.pooling import FEW_TRIALS, TAU_SCALE_POINTS
from microtrial.domain.actors import Actor
from microtrial.domain.catalog import load_catalog
from microtrial.reports import figures
from microtrial.reports import formatting as f
from microtrial.reports.rendering import check_format, finish
from microtrial.services.analysis import MCID_POINTS, CohortAnalysis
from microtrial.services.common import Clock, system_clock
from microtrial.services.report_data import CohortReportData, ReportSource, cohort_report_data

SECTIONS = (
    ("overview", "Overview"),
    ("pooled", "Pooled effect by condition"),
    ("forest", "Forest plot"),
    ("trials", "Per-trial results"),
    ("blinding", "Blinding"),
    ("effect-by-guess", "Effect by guess correctness"),
    ("methods", "Methods"),
)


@overload
def render_cohort_report(
    cohort: CohortAnalysis,
    fmt: Literal["html"] = ...,
    *,
    condition: str | None = ...,
    generated_at: dt.datetime | None = ...,
    simulated: bool = ...,
) -> str: ...


@overload
def render_cohort_report(
    cohort: CohortAnalysis,
    fmt: Literal["pdf"],
    *,
    condition: str | None = ...,
    generated_at: dt.datetime | None = ...,
    simulated: bool = ...,
) -> bytes: ...


@overload
def render_cohort_report(
    cohort: CohortAnalysis,
    fmt: str,
    *,
    condition: str | None = ...,
    generated_at: dt.datetime | None = ...,
    simulated: bool = ...,
) -> str | bytes: ...


def render_cohort_report(
    cohort: CohortAnalysis,
    fmt: str = "html",
    *,
    condition: str | None = None,
    generated_at: dt.datetime | None = None,
    simulated: bool = False,
) -> str | bytes:
    """Render a cohort analysis as HTML (str) or PDF (bytes)."""
    check_format(fmt)
    context = cohort_report_context(cohort, condition=condition, generated_at=generated_at)
    context["simulated"] = simulated  # demo data: a banner and a mark on every PDF page
    return finish("cohort.html", context, fmt)


def render_cohort_reports(
    data: CohortReportData, formats: Sequence[str] = ("html",)
) -> dict[str, str | bytes]:
    """Render the cohort report data in each of ``formats`` (html, pdf)."""
    return {
        fmt: render_cohort_report(
            data.cohort,
            fmt,
            condition=data.condition,
            generated_at=data.generated_at,
            simulated=data.simulated,
        )
        for fmt in formats
    }


def cohort_report(
    db: ReportSource,
    actor: Actor,
    *,
    condition: str | None = None,
    fmt: str = "html",
    clock: Clock = system_clock,
) -> str | bytes:
    """Pool the unblinded trials the actor may see and render the cohort report."""
    return cohort_reports(db, actor, condition=condition, formats=(fmt,), clock=clock)[fmt]


def cohort_reports(
    db: ReportSource,
    actor: Actor,
    *,
    condition: str | None = None,
    formats: Sequence[str] = ("html",),
    clock: Clock = system_clock,
) -> dict[str, str | bytes]:
    """Pool once and render the cohort report in each of ``formats`` (html, pdf)."""
    for fmt in formats:
        check_format(fmt)
    data = cohort_report_data(db, actor, condition=condition, clock=clock)
    return render_cohort_reports(data, formats)


def cohort_report_context(
    cohort: CohortAnalysis,
    *,
    condition: str | None = None,
    generated_at: dt.datetime | None = None,
) -> dict[str, Any]:
    """Everything the cohort template shows, with numbers formatted."""
    catalog = load_catalog()
    titles = {g.id: g.title for g in catalog.groups.values()}
    pain = (
        cohort.results[cohort.results["outcome"] == "pain"]
        if len(cohort.results)
        else pd.DataFrame()
    )
    groups: list[dict[str, Any]] = []
    figs: dict[str, figures.Rendered] = {}
    if cohort.pooled is not None:
        for _, g in cohort.pooled.summary().iterrows():
            name = str(g["group"])
            groups.append(
                {
                    "group": name,
                    "title": "All conditions" if name == "overall" else titles.get(name, name),
                    "n": int(g["n_trials"]),
                    "effect": f.signed(g["pooled_effect"], 2),
                    "sd": f.number(g["pooled_sd"], 2),
                    "ci": f.interval(g["ci95_low"], g["ci95_high"], 2),
                    "tau": f.number(g["tau_mean"], 2),
                    "tau_median": f.number(g["tau_median"], 2),
                    "pi": "not given: too few trials"
                    if g["few_trials"]
                    else f.interval(g["pi95_low"], g["pi95_high"], 2),
                    "responders": f.share(g["responder_share"] * g["n_trials"], g["n_trials"])
                    if f.finite(g["responder_share"])
                    else f.NOT_AVAILABLE,
                    "responders_n": round(float(g["responder_share"]) * int(g["n_trials"]))
                    if f.finite(g["responder_share"])
                    else 0,
                    "responders_shrunk": f.share(
                        g["responder_share_shrunk"] * g["n_trials"], g["n_trials"]
                    ),
                    "few": bool(g["few_trials"]),
                    "caveat": str(g["caveat"]),
                }
            )
        figs["forest"] = figures.forest(cohort.pooled.forest, cohort.pooled.summary())
    trials = [
        {
            "label": str(r["trial_id"]),
            "condition": titles.get(str(r["condition"]), str(r["condition"])),
            "n": f"{int(r['n_active'])} / {int(r['n_placebo'])}",
            "effect": f.signed(r["effect_mean"], 2),
            "ci": f.interval(r["ci95_low"], r["ci95_high"], 2),
            "p_benefit": f.percent(r["p_benefit"]),
            "p_mcid": f.percent(r["p_mcid"]),
            "early": "yes" if bool(r["unblinded_early"]) else "",
            "warning": str(r["warning"] or ""),
            "stale": bool(r.get("fit_stale", False)),
        }
        for _, r in pain.iterrows()
    ]
    blind: dict[str, Any] = {"available": cohort.blinding is not None}
    if cohort.blinding is not None:
        b = cohort.blinding
        blind["arms"] = [
            {
                "arm": str(arm),
                "n": int(row["n"]),
                "correct": int(row["n_correct"]),
                "incorrect": int(row["n_incorrect"]),
                "dont_know": int(row["n_dont_know"]),
                "share": (
                    f.percent(row["correct_share"])
                    if f.finite(row["correct_share"])
                    else f.UNDEFINED_INDEX
                ),
                "bang": f.blinding_index(row["bang_bi"]),
            }
            for arm, row in b.arms.iterrows()
        ]
        blind["james"] = f.number(b.james_bi, 2)
        blind["overall_share"] = (
            f.percent(b.overall_correct_share)
            if f.finite(b.overall_correct_share)
            else f.UNDEFINED_INDEX
        )
    strata = {"correct": "guessed right", "incorrect": "guessed wrong", "dont_know": "don't know"}
    by_guess = [
        {
            "stratum": strata.get(str(r["stratum"]), str(r["stratum"])),
            "n_active": int(r["n_active"]),
            "n_placebo": int(r["n_placebo"]),
            "effect": f.signed(r["effect"], 2),
            "se": f.number(r["se"], 2),
        }
        for _, r in cohort.effect_by_guess.iterrows()
    ]
    when = generated_at or dt.datetime.now(dt.UTC)
    return {
        "audience": "researcher",
        "title": "Cohort report",
        "condition": titles.get(condition, condition) if condition else "all conditions",
        "n_trials": cohort.n_trials,
        "n_early": sum(1 for t in trials if t["early"]),
        "groups": groups,
        "trials": trials,
        "figures": figs,
        "blinding": blind,
        "by_guess": by_guess,
        "mcid": f"{MCID_POINTS:g}",
        "few_trials": FEW_TRIALS,
        "tau_scale": f"{TAU_SCALE_POINTS:g}",
        "sections": SECTIONS,
        "generated": when.strftime("%Y-%m-%d %H:%M UTC"),
        # Where the stored per-trial fits came from, and what is not up to date.
        "fits_provenance": cohort.fits.provenance if cohort.fits else "",
        "fits_caveat": cohort.fits.caveat if cohort.fits else "",
        "version": __version__,
    }
