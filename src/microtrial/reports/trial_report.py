"""The trial report after unblinding: a clinician version and a plain-language patient version.

Every number in the text is the analysis engine's (``services.analysis.analyse_trial``), printed
with :mod:`microtrial.reports.formatting`; probabilities at thresholds the engine does not
summarise (2 points, 50 % of baseline) come from the exact posterior in
:mod:`microtrial.analysis.density`. Both versions render from Jinja2 templates to self-contained
HTML (inline SVG figures) or to PDF (WeasyPrint, PNG figures from the same matplotlib drawing).

This module only renders: the data come from :mod:`microtrial.services.report_data`, the
guessing test from :mod:`microtrial.analysis.summaries`, the secondary-outcome rows from
:mod:`microtrial.reports.trial_outcomes`, the adverse events and adherence from
:mod:`microtrial.reports.trial_conduct` and the fixed wording from
:mod:`microtrial.reports.trial_prose`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, Literal, overload

import pandas as pd

from microtrial import __version__, i18n
from microtrial.analysis.density import EffectPosterior, effect_posterior
from microtrial.analysis.summaries import guess_chance
from microtrial.domain.actors import Actor
from microtrial.domain.catalog import Catalog, load_catalog
from microtrial.errors import MicroTrialError
from microtrial.reports import figures
from microtrial.reports import formatting as f
from microtrial.reports.rendering import check_format, finish
from microtrial.reports.trial_adaptive import adaptive_for, with_adaptive
from microtrial.reports.trial_conduct import (
    adherence,
    adverse_event_rows,
    ae_marks,
    trial_adverse_events,
)
from microtrial.reports.trial_endpoint import endpoint_result
from microtrial.reports.trial_outcomes import (
    MCID_LARGE_POINTS,
    RESPONDER_SUBSTANTIAL,
    endpoint_rows,
    secondary_rows,
)
from microtrial.reports.trial_prose import CENT_2015, blinding_meaning, caveats, evidence, methods
from microtrial.services.adverse_events import AdverseEventRead
from microtrial.services.analysis import MCID_POINTS, TrialAnalysis
from microtrial.services.common import Clock, system_clock
from microtrial.services.records import DiaryEntryRead
from microtrial.services.report_data import ReportSource, TrialReportData, trial_report_data

Audience = Literal["clinician", "patient"]
AUDIENCES = ("clinician", "patient")
STRATA = {
    "correct": i18n.N_("guessed right"),
    "incorrect": i18n.N_("guessed wrong"),
    "dont_know": i18n.N_("don't know"),
}
CLINICIAN_TITLE = i18n.N_("N-of-1 trial report")
NO_OBSERVED_DAY = i18n.N_("no observed day in one arm")
PERIODIC = (("phq9", "PHQ-9 (depression, 0–27)"), ("gad7", "GAD-7 (anxiety, 0–21)"))
SECTIONS = (
    ("summary", "Summary"),
    ("trajectory", "Daily pain"),
    ("periods", "Period means"),
    ("posterior", "Effect on pain: posterior"),
    ("secondary", "Secondary outcomes"),
    ("adverse-events", "Adverse events"),
    ("adherence", "Adherence and deviations"),
    ("blinding", "Blinding"),
    ("methods", "Methods"),
    ("evidence", "Evidence for this condition"),
    ("caveats", "Caveats"),
)
PATIENT_SECTIONS = (
    ("summary", "Your result"),
    ("trajectory", "Your pain, day by day"),
    ("blinding", "Your guesses"),
    ("adverse-events", "Side effects you reported"),
    ("adherence", "Taking the capsules and the diary"),
    ("caveats", "What this result can and cannot tell you"),
)


@overload
def render_trial_report(
    analysis: TrialAnalysis,
    *,
    audience: Audience = ...,
    fmt: Literal["html"] = ...,
    entries: Sequence[DiaryEntryRead] | None = ...,
    adverse_events: Sequence[AdverseEventRead] | None = ...,
    generated_at: dt.datetime | None = ...,
    simulated: bool = ...,
    adaptive: dict[str, Any] | None = ...,
) -> str: ...


@overload
def render_trial_report(
    analysis: TrialAnalysis,
    *,
    audience: Audience = ...,
    fmt: Literal["pdf"],
    entries: Sequence[DiaryEntryRead] | None = ...,
    adverse_events: Sequence[AdverseEventRead] | None = ...,
    generated_at: dt.datetime | None = ...,
    simulated: bool = ...,
    adaptive: dict[str, Any] | None = ...,
) -> bytes: ...


@overload
def render_trial_report(
    analysis: TrialAnalysis,
    *,
    audience: Audience = ...,
    fmt: str,
    entries: Sequence[DiaryEntryRead] | None = ...,
    adverse_events: Sequence[AdverseEventRead] | None = ...,
    generated_at: dt.datetime | None = ...,
    simulated: bool = ...,
    adaptive: dict[str, Any] | None = ...,
) -> str | bytes: ...


def render_trial_report(
    analysis: TrialAnalysis,
    *,
    audience: Audience = "clinician",
    fmt: str = "html",
    entries: Sequence[DiaryEntryRead] | None = None,
    adverse_events: Sequence[AdverseEventRead] | None = None,
    generated_at: dt.datetime | None = None,
    simulated: bool = False,
    adaptive: dict[str, Any] | None = None,
) -> str | bytes:
    """Render an unblinded trial's report as HTML (str) or PDF (bytes).

    ``entries`` are the patient's diary entries (``records.list_diary_entries``); PHQ-9, GAD-7,
    PGIC and condition-specific instruments are summarised from them ("not collected" when
    absent). Without them those rows say the entries were not supplied. ``adverse_events``
    (the patient's, as ``services.report_data`` reads them) are added to the analysis' own
    when their onset falls inside the trial calendar.
    """
    check_format(fmt)
    if audience not in AUDIENCES:
        from microtrial.errors import ValidationError

        raise ValidationError("audience", f"unknown audience {audience!r}", allowed=AUDIENCES)
    context = trial_report_context(
        analysis,
        audience=audience,
        entries=entries,
        adverse_events=adverse_events,
        generated_at=generated_at,
    )
    context["simulated"] = simulated  # demo data: a banner and a mark on every PDF page
    with_adaptive(context, adaptive)  # an adaptive trial's rule, looks and simulation
    template = "trial_clinician.html" if audience == "clinician" else "trial_patient.html"
    return finish(template, context, fmt)


def render_trial_reports(
    data: TrialReportData, *, audience: Audience = "clinician", formats: Sequence[str] = ("html",)
) -> dict[str, str | bytes]:
    """Render one trial's report data in each of ``formats`` (html, pdf)."""
    adaptive = adaptive_for(data.analysis.trial, data.looks, audience)
    return {
        fmt: render_trial_report(
            data.analysis,
            audience=audience,
            fmt=fmt,
            entries=data.entries,
            adverse_events=data.adverse_events,
            generated_at=data.generated_at,
            simulated=data.simulated,
            adaptive=adaptive,
        )
        for fmt in formats
    }


def trial_report(
    db: ReportSource,
    actor: Actor,
    trial_id: int,
    *,
    audience: Audience = "clinician",
    fmt: str = "html",
    clock: Clock = system_clock,
) -> str | bytes:
    """Analyse a trial and render its report (refused with ConflictError while still blinded)."""
    return trial_reports(db, actor, trial_id, audience=audience, formats=(fmt,), clock=clock)[fmt]


def trial_reports(
    db: ReportSource,
    actor: Actor,
    trial_id: int,
    *,
    audience: Audience = "clinician",
    formats: Sequence[str] = ("html",),
    clock: Clock = system_clock,
) -> dict[str, str | bytes]:
    """Load a trial's report data once and render it in each of ``formats`` (html, pdf)."""
    for fmt in formats:
        check_format(fmt)
    data = trial_report_data(db, actor, trial_id, clock=clock)
    return render_trial_reports(data, audience=audience, formats=formats)


# ----------------------------------------------------------------------------- context


def trial_report_context(
    analysis: TrialAnalysis,
    *,
    audience: Audience = "clinician",
    entries: Sequence[DiaryEntryRead] | None = None,
    adverse_events: Sequence[AdverseEventRead] | None = None,
    generated_at: dt.datetime | None = None,
) -> dict[str, Any]:
    """Everything the templates show, as plain values (numbers already formatted)."""
    catalog = load_catalog()
    events = trial_adverse_events(analysis, adverse_events)
    trial = analysis.trial
    days = analysis.days
    status = _status(analysis)
    primary = primary_result(analysis)
    post = _posterior(analysis, "pain")
    numbers = _primary_numbers(primary, post)
    large = audience == "patient"
    figs: dict[str, figures.Rendered] = {
        "trajectory": figures.trajectory(
            days, adverse=ae_marks(analysis, events), data_end=status["data_end_day"], large=large
        )
    }
    if post is not None and numbers["ok"] and audience == "clinician":
        figs["density"] = figures.posterior_density(
            post,
            mcid=MCID_POINTS,
            low=float(primary["ci95_low"]),
            high=float(primary["ci95_high"]),
            mean=float(primary["effect_mean"]),
        )
    when = generated_at or dt.datetime.now(dt.UTC)
    context: dict[str, Any] = {
        "audience": audience,
        "title": i18n.gettext(CLINICIAN_TITLE) if audience == "clinician" else f.patient_title(),
        "trial": trial,
        "conditions": _condition_titles(catalog, analysis.conditions),
        "status": status,
        "primary": numbers,
        "figures": figs,
        "periods": _period_rows(analysis, status),
        "arm_means": _arm_means(analysis, status),
        "secondary": secondary_rows(analysis, numbers, entries),
        "endpoints": endpoint_rows(analysis, entries, catalog),
        "endpoint": endpoint_result(analysis),
        "adverse_events": adverse_event_rows(analysis, events, catalog),
        "adherence": adherence(analysis, status),
        "blinding": _blinding(analysis),
        "methods": methods(analysis),
        "evidence": evidence(catalog, analysis.conditions),
        "sections": SECTIONS if audience == "clinician" else PATIENT_SECTIONS,
        "generated": when.strftime("%Y-%m-%d %H:%M UTC"),
        "version": __version__,
        "cent": CENT_2015,
    }
    context["caveats"] = caveats(analysis, context)
    return context


def primary_result(analysis: TrialAnalysis) -> dict[str, Any]:
    """The primary outcome's engine row, or {} when nothing could be analysed."""
    # TrialAnalysis.primary needs an "outcome" column, absent when no outcome was fitted.
    if "outcome" not in analysis.results.columns:
        return {}
    return analysis.primary


def analysis_frame(analysis: TrialAnalysis, outcome: str) -> pd.DataFrame:
    """The long frame the analysis service fits for ``outcome`` (paused days left out)."""
    days = analysis.days[analysis.days["phase"] != "paused"]
    return pd.DataFrame(
        {
            "trial_id": str(analysis.trial.id),
            "day": days["study_day"],
            "arm": days["arm"],
            "value": days[outcome].astype(float),
            "exclude": days["wash_in"],
        }
    )


def _posterior(analysis: TrialAnalysis, outcome: str) -> EffectPosterior | None:
    rows = analysis.results
    if rows.empty or outcome not in set(rows["outcome"]):
        return None
    row = rows[rows["outcome"] == outcome].iloc[0]
    if not (f.finite(row["effect_mean"]) and f.finite(row["effect_sd"]) and row["effect_sd"] > 0):
        return None
    try:
        return effect_posterior(analysis_frame(analysis, outcome))
    except MicroTrialError:
        return None


def _status(analysis: TrialAnalysis) -> dict[str, Any]:
    trial = analysis.trial
    days = analysis.days
    planned_end = max(p.end_date for p in trial.periods)
    stop = trial.unblinded_at.date() if trial.unblinded_at is not None else None
    data_end = min(stop, planned_end) if stop is not None else planned_end
    observed = days[days["pain"].notna() | days["dose_taken"]]
    last_data = observed["date"].max() if len(observed) else None
    last_start = max(p.start_date for p in trial.periods)
    ended_early = data_end < planned_end or last_data is None or last_data < last_start
    if ended_early and last_data is not None:
        data_end = last_data  # the last day with a diary entry or a dose
    end_rows = days[days["date"] <= data_end]
    data_end_day = int(end_rows["study_day"].max()) if len(end_rows) else 0
    return {
        "unblinded_early": trial.unblinded_early,
        "unblind_reason": trial.unblind_reason,
        "stopped_early": bool(ended_early and not trial.unblinded_early),
        "ended_early": bool(ended_early),
        "status_reason": trial.status_reason,
        "planned_end": planned_end,
        "data_end": data_end,
        "data_end_day": data_end_day if ended_early else None,
        "last_data": last_data,
        "unblinded_at": trial.unblinded_at,
        "pairs": len(trial.periods) // 2,
        "periods_reached": sum(1 for p in trial.periods if p.start_date <= data_end),
    }


def _primary_numbers(primary: dict[str, Any], post: EffectPosterior | None) -> dict[str, Any]:
    if not primary or not f.finite(primary.get("effect_mean")):
        reason = (primary or {}).get("warning") or NO_OBSERVED_DAY
        return {"ok": False, "reason": f.model_warning(reason)}
    effect = float(primary["effect_mean"])
    low, high = float(primary["ci95_low"]), float(primary["ci95_high"])
    baseline: Any = primary.get("baseline_mean")
    p2 = float(post.cdf(-MCID_LARGE_POINTS)) if post is not None else float("nan")
    p50 = (
        float(post.cdf(-RESPONDER_SUBSTANTIAL * abs(float(baseline))))
        if post is not None and f.finite(baseline)
        else float("nan")
    )
    words = f.lower_higher(effect)
    summary = i18n.gettext(
        "During microdosing periods average pain was %(words)s than during placebo periods; "
        "95 %% credible interval %(ci)s; probability of any improvement %(p_benefit)s; "
        "probability of at least a %(mcid)s-point improvement %(p_mcid)s."
    ) % {
        "words": words,
        "ci": f.between(low, high),
        "p_benefit": f.percent(primary["p_benefit"]),
        "mcid": f"{MCID_POINTS:g}",
        "p_mcid": f.percent(primary["p_mcid"]),
    }
    return {
        "ok": True,
        "summary": summary,
        "effect": f.signed(effect),
        "effect_words": words,
        "effect_abs": f.magnitude(effect),
        "direction": "lower" if effect < 0 else "higher",
        "sd": f.number(primary["effect_sd"], 2),
        "ci_low": f.signed(low),
        "ci_high": f.signed(high),
        "ci": f.between(low, high),
        "ci_low_words": f.lower_higher(low),
        "ci_high_words": f.lower_higher(high),
        "p_benefit": f.percent(primary["p_benefit"]),
        "p_mcid": f.percent(primary["p_mcid"]),
        "p_mcid2": f.percent(p2),
        "p_rel30": f.percent(primary["p_mcid_rel"]),
        "p_rel50": f.percent(p50),
        "rho": f.number(primary["rho_mean"], 2),
        "baseline": f.number(baseline),
        "n_active": int(primary["n_active"]),
        "n_placebo": int(primary["n_placebo"]),
        "n_baseline": int(primary.get("n_baseline") or 0),
        "mcid": f"{MCID_POINTS:g}",
        "warning": primary.get("warning") or "",  # translated on display (model_warning)
        "raw": {
            "effect": effect,
            "low": low,
            "high": high,
            "p_benefit": float(primary["p_benefit"]),
            "p_mcid": float(primary["p_mcid"]),
            "p_mcid_rel": float(primary["p_mcid_rel"]),
            "p_mcid2": p2,
            "p_rel50": p50,
        },
    }


def _condition_titles(catalog: Catalog, codes: Sequence[str]) -> list[str]:
    out = []
    for code in codes:
        condition = catalog.condition_by_code(code)
        out.append(f"{condition.title} ({code})" if condition else code)
    return out


def _analysable(days: pd.DataFrame, data_end: dt.date) -> pd.DataFrame:
    return days[(days["date"] <= data_end) & (days["phase"] != "paused")]


def _period_rows(analysis: TrialAnalysis, status: dict[str, Any]) -> list[dict[str, Any]]:
    means: dict[int, dict[str, Any]] = {
        int(r["period"]): r for r in _records(analysis.period_means)
    }
    guesses = {int(r["period"]): r for r in _records(analysis.guesses)}
    days = _analysable(analysis.days, status["data_end"])
    rows = []
    for p in analysis.trial.periods:
        span = days[(days["period"] == p.number) & ~days["wash_in"]]
        m = means.get(p.number)
        g = guesses.get(p.number)
        rows.append(
            {
                "number": p.number,
                "block": p.block,
                "arm": p.arm or "?",
                "start": p.start_date.isoformat(),
                "end": p.end_date.isoformat(),
                "kit": p.kit_code,
                "mean": f.number(m["mean_pain"]) if m is not None else "—",
                "observed": int(m["days_observed"]) if m is not None else 0,
                "analysable": len(span),
                "reached": p.start_date <= status["data_end"],
                "guess": _guess_word(str(g["guess"]))
                if g is not None
                else i18n.gettext("no guess"),
                "dont_know": g is not None and str(g["guess"]) == "dont_know",
                "correct": (bool(g["correct"]) if g is not None else None),
            }
        )
    return rows


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): v for k, v in row.items()} for row in frame.to_dict("records")]


def _guess_word(guess: str) -> str:
    """A recorded guess (active, placebo, dont_know) in the current language."""
    return i18n.gettext(STRATA["dont_know"]) if guess == "dont_know" else f.arm_word(guess)


def _arm_means(analysis: TrialAnalysis, status: dict[str, Any]) -> dict[str, str]:
    days = _analysable(analysis.days, status["data_end"])
    days = days[~days["wash_in"]]
    out = {}
    for arm in ("baseline", "active", "placebo"):
        values = days.loc[days["arm"] == arm, "pain"].astype(float).dropna()
        out[arm] = f.number(values.mean()) if len(values) else "—"
        out[f"n_{arm}"] = str(len(values))
    return out


def _blinding(analysis: TrialAnalysis) -> dict[str, Any]:
    g = analysis.guesses
    n = len(g)
    right = int(g["correct"].sum()) if n else 0
    dont_know = int((g["guess"] == "dont_know").sum()) if n else 0
    named = n - dont_know
    wrong = named - right
    chance = guess_chance(right, named)
    result: dict[str, Any] = {
        "n": n,
        "right": right,
        "wrong": wrong,
        "dont_know": dont_know,
        "named": named,
        "p_chance": f.percent(chance),
        "rows": [
            {
                "period": int(r["period"]),
                "arm": str(r["arm"]),
                "guess": _guess_word(str(r["guess"])),
                "confidence": "—" if pd.isna(r["confidence"]) else f"{int(r['confidence'])} %",
                "correct": i18n.gettext("yes")
                if r["correct"]
                else ("—" if r["guess"] == "dont_know" else i18n.gettext("no")),
            }
            for r in _records(g)
        ],
        "james": "—",
        "arms": [],
        "by_guess": [],
    }
    if analysis.blinding is not None:
        b = analysis.blinding
        result["james"] = f.number(b.james_bi, 2)
        result["arms"] = [
            {
                "arm": str(arm),
                "n": int(row["n"]),
                "correct": i18n.gettext("%(taken)s of %(planned)s")
                % {"taken": int(row["n_correct"]), "planned": int(row["n"])},
                "bang": f.blinding_index(row["bang_bi"]),
            }
            for arm, row in b.arms.iterrows()
        ]
        result["by_guess"] = [
            {
                "stratum": i18n.gettext(STRATA.get(str(row["stratum"]), str(row["stratum"]))),
                "periods": i18n.pgettext(
                    "clinician report", "%(active)s active, %(placebo)s placebo"
                )
                % {"active": int(row["n_active"]), "placebo": int(row["n_placebo"])},
                "effect": f.signed(row["effect"]),
            }
            for _, row in b.effect_by_guess.iterrows()
        ]
    result["meaning"], result["plain"] = blinding_meaning(n, named, right, wrong, chance)
    return result
