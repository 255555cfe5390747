"""The trial report after unblinding: a clinician version and a plain-language patient version.

Every number in the text is the analysis engine's (``services.analysis.analyse_trial``), printed
with :mod:`microtrial.reports.formatting`; probabilities at thresholds the engine does not
summarise (2 points, 50 % of baseline) come from the exact posterior in
:mod:`microtrial.analysis.density`. Both versions render from Jinja2 templates to self-contained
HTML (inline SVG figures) or to PDF (WeasyPrint, PNG figures from the same matplotlib drawing).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, Literal, overload

import numpy as np
import pandas as pd
from scipy import stats

from microtrial import __version__
from microtrial.analysis.density import EffectPosterior, effect_posterior
from microtrial.domain.actors import Actor
from microtrial.domain.catalog import Catalog, load_catalog
from microtrial.errors import MicroTrialError
from microtrial.reports import figures
from microtrial.reports import formatting as f
from microtrial.reports.rendering import check_format, finish
from microtrial.services.analysis import (
    MCID_POINTS,
    RELATIVE_MCID,
    TrialAnalysis,
    analyse_trial,
)
from microtrial.services.common import Clock, system_clock
from microtrial.services.records import (
    AdverseEventRead,
    DiaryEntryRead,
    list_adverse_events,
    list_diary_entries,
)
from microtrial.store.db import Database

Audience = Literal["clinician", "patient"]
AUDIENCES = ("clinician", "patient")
# REFERENCE.md C.3 (Salaffi 2004, Farrar 2001): 2 points = "much better"; IMMPACT (Dworkin 2008):
# 50 % reduction = substantial. 1 point and 30 % come from the analysis service.
MCID_LARGE_POINTS = 2.0
RESPONDER_SUBSTANTIAL = 0.5
# REFERENCE.md C.4: CONSORT extension for N-of-1 trials.
CENT_2015 = (
    "Vohra S, Shamseer L, Sampson M, et al. CONSORT extension for reporting N-of-1 trials "
    "(CENT) 2015 Statement. BMJ 2015;350:h1738"
)
# PGIC ratings 1-2 ("very much" / "much improved") = moderately important (IMMPACT, Dworkin 2008).
PGIC_MUCH_IMPROVED = 2
STRATA = {"correct": "guessed right", "incorrect": "guessed wrong", "dont_know": "don't know"}
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
) -> str | bytes: ...


def render_trial_report(
    analysis: TrialAnalysis,
    *,
    audience: Audience = "clinician",
    fmt: str = "html",
    entries: Sequence[DiaryEntryRead] | None = None,
    adverse_events: Sequence[AdverseEventRead] | None = None,
    generated_at: dt.datetime | None = None,
) -> str | bytes:
    """Render an unblinded trial's report as HTML (str) or PDF (bytes).

    ``entries`` are the patient's diary entries (``records.list_diary_entries``); PHQ-9, GAD-7,
    PGIC and condition-specific instruments are summarised from them ("not collected" when
    absent). Without them those rows say the entries were not supplied. ``adverse_events``
    (the patient's, e.g. ``web_support.list_adverse_events``) are added to the analysis' own
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
    template = "trial_clinician.html" if audience == "clinician" else "trial_patient.html"
    return finish(template, context, fmt)


def trial_report(
    db: Database,
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
    db: Database,
    actor: Actor,
    trial_id: int,
    *,
    audience: Audience = "clinician",
    formats: Sequence[str] = ("html",),
    clock: Clock = system_clock,
) -> dict[str, str | bytes]:
    """Analyse a trial once and render its report in each of ``formats`` (html, pdf)."""
    for fmt in formats:
        check_format(fmt)
    analysis = analyse_trial(db, actor, trial_id, clock=clock)
    entries = list_diary_entries(db, actor, analysis.trial.patient_id, clock=clock)
    events = list_adverse_events(db, actor, analysis.trial.patient_id, clock=clock)
    return {
        fmt: render_trial_report(
            analysis,
            audience=audience,
            fmt=fmt,
            entries=entries,
            adverse_events=events,
            generated_at=clock(),
        )
        for fmt in formats
    }


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
            days, adverse=_ae_marks(analysis, events), data_end=status["data_end_day"], large=large
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
        "title": "N-of-1 trial report" if audience == "clinician" else "Your trial result",
        "trial": trial,
        "conditions": _condition_titles(catalog, analysis.conditions),
        "status": status,
        "primary": numbers,
        "figures": figs,
        "periods": _period_rows(analysis, status),
        "arm_means": _arm_means(analysis, status),
        "secondary": _secondary_rows(analysis, post, entries),
        "endpoints": _endpoint_rows(analysis, entries, catalog),
        "adverse_events": _adverse_event_rows(analysis, events, catalog),
        "adherence": _adherence(analysis, status),
        "blinding": _blinding(analysis),
        "methods": _methods(analysis),
        "evidence": _evidence(catalog, analysis.conditions),
        "sections": SECTIONS if audience == "clinician" else PATIENT_SECTIONS,
        "generated": when.strftime("%Y-%m-%d %H:%M UTC"),
        "version": __version__,
        "cent": CENT_2015,
    }
    context["caveats"] = _caveats(analysis, context)
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
        reason = (primary or {}).get("warning") or "no observed day in one arm"
        return {"ok": False, "reason": reason}
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
    summary = (
        f"During microdosing periods average pain was {words} than during placebo periods; "
        f"95 % credible interval {f.interval(low, high)}; probability of any improvement "
        f"{f.percent(primary['p_benefit'])}; probability of at least a "
        f"{MCID_POINTS:g}-point improvement {f.percent(primary['p_mcid'])}."
    )
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
        "ci": f.interval(low, high),
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
        "warning": primary.get("warning") or "",
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
                "guess": _guess_word(str(g["guess"])) if g is not None else "no guess",
                "correct": (bool(g["correct"]) if g is not None else None),
            }
        )
    return rows


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): v for k, v in row.items()} for row in frame.to_dict("records")]


def _guess_word(guess: str) -> str:
    return {"dont_know": "don't know"}.get(guess, guess)


def _arm_means(analysis: TrialAnalysis, status: dict[str, Any]) -> dict[str, str]:
    days = _analysable(analysis.days, status["data_end"])
    days = days[~days["wash_in"]]
    out = {}
    for arm in ("baseline", "active", "placebo"):
        values = days.loc[days["arm"] == arm, "pain"].astype(float).dropna()
        out[arm] = f.number(values.mean()) if len(values) else "—"
        out[f"n_{arm}"] = str(len(values))
    return out


def _engine_row(analysis: TrialAnalysis, outcome: str, label: str, higher: bool) -> dict[str, str]:
    days = analysis.days[(analysis.days["phase"] != "paused") & ~analysis.days["wash_in"]]
    act = days.loc[days["arm"] == "active", outcome].astype(float).dropna()
    pla = days.loc[days["arm"] == "placebo", outcome].astype(float).dropna()
    rows = analysis.results
    sub = rows[rows["outcome"] == outcome] if not rows.empty else rows
    if sub.empty or not f.finite(sub.iloc[0]["effect_mean"]):
        result = "not analysed (no observed day in one arm)" if len(act) + len(pla) else ""
        return {
            "outcome": label,
            "active": f"{f.number(act.mean())} (n = {len(act)})" if len(act) else "—",
            "placebo": f"{f.number(pla.mean())} (n = {len(pla)})" if len(pla) else "—",
            "result": result or "not collected",
            "note": "daily diary",
        }
    r = sub.iloc[0]
    better = "better sleep" if higher else "benefit"
    return {
        "outcome": label,
        "active": f"{f.number(act.mean())} (n = {len(act)})",
        "placebo": f"{f.number(pla.mean())} (n = {len(pla)})",
        "result": (
            f"difference {f.signed(r['effect_mean'])} (95 % CrI "
            f"{f.interval(r['ci95_low'], r['ci95_high'])}); P({better}) {f.percent(r['p_benefit'])}"
        ),
        "note": "daily diary; engine" + (f"; {r['warning']}" if r["warning"] else ""),
    }


def _secondary_rows(
    analysis: TrialAnalysis,
    post: EffectPosterior | None,
    entries: Sequence[DiaryEntryRead] | None,
) -> list[dict[str, str]]:
    rows = [
        _engine_row(analysis, "worst_pain", "Worst pain (0–10)", higher=False),
        _engine_row(analysis, "sleep", "Sleep quality (0–10, higher = better)", higher=True),
    ]
    primary = primary_result(analysis)
    n = _primary_numbers(primary, post)
    days = analysis.days[(analysis.days["phase"] != "paused") & ~analysis.days["wash_in"]]
    base = days.loc[days["arm"] == "baseline", "pain"].astype(float).dropna()
    act = days.loc[days["arm"] == "active", "pain"].astype(float).dropna()
    pla = days.loc[days["arm"] == "placebo", "pain"].astype(float).dropna()
    if n["ok"]:
        rows.append(
            {
                "outcome": f"Improvement ≥ {MCID_POINTS:g} point (minimal)",
                "active": "",
                "placebo": "",
                "result": f"P = {n['p_mcid']}",
                "note": "Salaffi 2004; engine",
            }
        )
        rows.append(
            {
                "outcome": f"Improvement ≥ {MCID_LARGE_POINTS:g} points (much better)",
                "active": "",
                "placebo": "",
                "result": f"P = {n['p_mcid2']}",
                "note": "Farrar 2001; exact posterior",
            }
        )
    for share, key, label, source in (
        (RELATIVE_MCID, "p_mcid_rel", "moderately important", "engine"),
        (RESPONDER_SUBSTANTIAL, "p_rel50", "substantial", "exact posterior"),
    ):
        pct = f"{round(share * 100)} %"
        row = {
            "outcome": f"Responder ≥ {pct} ({label})",
            "active": "",
            "placebo": "",
            "result": "",
            "note": f"IMMPACT (Dworkin 2008); {source}",
        }
        if not len(base):
            row["result"] = "not assessable: no run-in (baseline) diary days"
        elif not n["ok"]:
            row["result"] = "not assessable: primary outcome not analysed"
        else:
            prob = n["raw"]["p_mcid_rel"] if key == "p_mcid_rel" else n["raw"]["p_rel50"]
            observed = (act.mean() - base.mean()) / base.mean() if base.mean() else float("nan")
            verdict = "responder" if prob > 0.5 else "not a responder"
            row["active"] = f"{f.number(act.mean())} vs baseline {f.number(base.mean())}"
            row["placebo"] = f"{f.number(pla.mean())} vs baseline {f.number(base.mean())}"
            row["result"] = (
                f"{verdict}: P(active − placebo ≤ −{pct} of run-in mean "
                f"{f.number(base.mean())}) = {f.percent(prob)}; active periods "
                f"{f.signed(100 * observed, 0)} % vs run-in (descriptive)"
            )
        rows.append(row)
    window = _window_entries(analysis, entries)
    for instrument, label in PERIODIC:
        rows.append(_instrument_row(analysis, window, instrument, label))
    rows.append(_pgic_row(analysis, window))
    return rows


def _window_entries(
    analysis: TrialAnalysis, entries: Sequence[DiaryEntryRead] | None
) -> list[DiaryEntryRead] | None:
    if entries is None:
        return None
    first, last = analysis.days["date"].min(), analysis.days["date"].max()
    return [
        e
        for e in entries
        if e.patient_id == analysis.trial.patient_id and first <= e.local_date <= last
    ]


def _primary_value(entry: DiaryEntryRead) -> float | None:
    scores = entry.scores or {}
    key = scores.get("primary")
    value: Any = ((scores.get("scores") or {}).get(key) or {}).get("value") if key else None
    return float(value) if f.finite(value) else None


def _arm_of(analysis: TrialAnalysis, day: dt.date) -> str:
    row = analysis.days[analysis.days["date"] == day]
    if row.empty:
        return "outside"
    r = row.iloc[0]
    return "paused" if r["phase"] == "paused" else str(r["arm"])


def _by_arm(
    analysis: TrialAnalysis, entries: list[DiaryEntryRead], instrument: str
) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"baseline": [], "active": [], "placebo": []}
    for e in entries:
        if e.instrument_id != instrument:
            continue
        value = _primary_value(e)
        arm = _arm_of(analysis, e.local_date)
        if value is not None and arm in out:
            out[arm].append(value)
    return out


def _mean_n(values: list[float]) -> str:
    return f"{f.number(float(np.mean(values)))} (n = {len(values)})" if values else "—"


def _not_there(entries: list[DiaryEntryRead] | None) -> str:
    return "not collected" if entries is not None else "not available (entries not supplied)"


def _instrument_row(
    analysis: TrialAnalysis, entries: list[DiaryEntryRead] | None, instrument: str, label: str
) -> dict[str, str]:
    values = _by_arm(analysis, entries or [], instrument)
    n = sum(len(v) for v in values.values())
    if not n:
        return {
            "outcome": label,
            "active": "",
            "placebo": "",
            "result": _not_there(entries),
            "note": "",
        }
    return {
        "outcome": label,
        "active": _mean_n(values["active"]),
        "placebo": _mean_n(values["placebo"]),
        "result": f"run-in {_mean_n(values['baseline'])}; descriptive only",
        "note": f"{n} questionnaire(s)",
    }


def _pgic_row(analysis: TrialAnalysis, entries: list[DiaryEntryRead] | None) -> dict[str, str]:
    values = _by_arm(analysis, entries or [], "pgic")
    if not any(values.values()):
        return {
            "outcome": "PGIC (1 = very much improved … 7 = very much worse)",
            "active": "",
            "placebo": "",
            "result": _not_there(entries),
            "note": "",
        }

    def much(v: list[float]) -> str:
        if not v:
            return "—"
        k = sum(1 for x in v if x <= PGIC_MUCH_IMPROVED)
        return f"{k} of {len(v)} much/very much improved"

    return {
        "outcome": "PGIC (1 = very much improved … 7 = very much worse)",
        "active": much(values["active"]),
        "placebo": much(values["placebo"]),
        "result": "much or very much improved = moderately important (IMMPACT)",
        "note": "Dworkin 2008; Farrar 2001",
    }


def _endpoint_rows(
    analysis: TrialAnalysis, entries: Sequence[DiaryEntryRead] | None, catalog: Catalog
) -> dict[str, Any]:
    group = catalog.groups.get(analysis.condition_group or "")
    if group is None:
        return {"title": "", "rows": []}
    window = _window_entries(analysis, entries)
    rows = []
    endpoints = [("primary", e) for e in group.endpoints.primary]
    endpoints += [("secondary", e) for e in group.endpoints.secondary]
    for kind, endpoint in endpoints:
        if endpoint.instrument == "daily_diary":
            held = "from the daily diary: see the summary and secondary outcomes"
        elif endpoint.instrument in {"pgic", "phq9", "gad7"}:
            held = "see secondary outcomes"
        else:
            values = _by_arm(analysis, window or [], endpoint.instrument)
            if any(values.values()):
                held = (
                    f"{catalog.instrument(endpoint.instrument).title}, primary score: active "
                    f"{_mean_n(values['active'])}, placebo {_mean_n(values['placebo'])}, "
                    f"run-in {_mean_n(values['baseline'])} (descriptive)"
                )
            else:
                held = _not_there(window)
        rows.append(
            {
                "kind": kind,
                "description": endpoint.description,
                "instrument": endpoint.instrument,
                "held": held,
                "sources": "; ".join(catalog.cite(endpoint.sources)),
            }
        )
    return {"title": group.title, "rows": rows}


def trial_adverse_events(
    analysis: TrialAnalysis, extra: Sequence[AdverseEventRead] | None
) -> list[AdverseEventRead]:
    """The analysis' adverse events plus those of ``extra`` with onset inside the calendar."""
    first, last = analysis.days["date"].min(), analysis.days["date"].max()
    events = {e.record_id: e for e in analysis.adverse_events}
    for e in extra or ():
        if e.patient_id == analysis.trial.patient_id and first <= e.onset_date <= last:
            events.setdefault(e.record_id, e)
    return sorted(events.values(), key=lambda e: (e.onset_date, e.id))


def _ae_marks(analysis: TrialAnalysis, events: Sequence[AdverseEventRead]) -> list[tuple[int, int]]:
    start = analysis.days["date"].min()
    return [((e.onset_date - start).days, e.grade) for e in events]


def _adverse_event_rows(
    analysis: TrialAnalysis, events: Sequence[AdverseEventRead], catalog: Catalog
) -> list[dict[str, Any]]:
    labels = catalog.instrument("ae_checklist").item("anxiety").labels or {}
    rows = []
    for event in events:
        match = analysis.days[analysis.days["date"] == event.onset_date]
        if match.empty:
            when = "outside the trial calendar"
            study_day = "—"
        else:
            r = match.iloc[0]
            study_day = str(int(r["study_day"]))
            if r["phase"] == "paused":
                when = "while paused"
            elif pd.isna(r["period"]):
                when = "run-in (no capsules)"
            else:
                when = f"period {int(r['period'])}, {r['arm']}" + (
                    " (wash-in)" if r["wash_in"] else ""
                )
        rows.append(
            {
                "term": event.term,
                "grade": event.grade,
                "grade_label": str(labels.get(event.grade, f"Grade {event.grade}")),
                "serious": "yes" if event.serious else "no",
                "onset": event.onset_date.isoformat(),
                "study_day": study_day,
                "when": when,
            }
        )
    return rows


def _adherence(analysis: TrialAnalysis, status: dict[str, Any]) -> dict[str, Any]:
    days = analysis.days
    within = days[days["date"] <= status["data_end"]]
    active_days = within[within["phase"] != "paused"]
    due = active_days[active_days["dose_day"]]
    taken = int(due["dose_taken"].sum())
    missed = due[~due["dose_taken"]]
    extra = days[days["dose_taken"] & ~days["dose_day"]]
    by_arm = []
    for arm in ("active", "placebo"):
        d = due[due["arm"] == arm]
        by_arm.append(
            {
                "arm": arm,
                "planned": len(d),
                "taken": int(d["dose_taken"].sum()),
                "share": f.share(int(d["dose_taken"].sum()), len(d)),
            }
        )
    expected = len(active_days)
    observed = int(active_days["pain"].notna().sum())
    observed_flags = active_days["pain"].notna().to_numpy()
    longest = 0
    run = 0
    for seen in observed_flags:
        run = 0 if seen else run + 1
        longest = max(longest, run)
    deviations = [
        f"dose missed on {d.isoformat()} (period {int(p)})"
        for d, p in zip(missed["date"], missed["period"], strict=True)
    ]
    deviations += [f"dose recorded off the calendar on {d.isoformat()}" for d in extra["date"]]
    for pause in analysis.trial.pauses:
        deviations.append(
            f"trial paused {pause.get('from', '?')} to {pause.get('to', '?')} "
            "(days left out of the analysis)"
        )
    return {
        "planned_all": analysis.doses_planned,
        "taken_all": analysis.doses_taken,
        "planned": len(due),
        "taken": taken,
        "share": f.share(taken, len(due)),
        "by_arm": by_arm,
        "missed": len(missed),
        "extra": len(extra),
        "diary_expected": expected,
        "diary_observed": observed,
        "diary_share": f.share(observed, expected),
        "diary_missing_share": f.share(expected - observed, expected),
        "longest_gap": longest,
        "deviations": deviations,
    }


def _blinding(analysis: TrialAnalysis) -> dict[str, Any]:
    g = analysis.guesses
    n = len(g)
    right = int(g["correct"].sum()) if n else 0
    dont_know = int((g["guess"] == "dont_know").sum()) if n else 0
    named = n - dont_know
    wrong = named - right
    chance = float(stats.binom.sf(right - 1, named, 0.5)) if named else float("nan")
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
                "correct": "yes" if r["correct"] else ("—" if r["guess"] == "dont_know" else "no"),
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
                "correct": f"{int(row['n_correct'])} of {int(row['n'])}",
                "bang": f.number(row["bang_bi"], 2),
            }
            for arm, row in b.arms.iterrows()
        ]
        result["by_guess"] = [
            {
                "stratum": STRATA.get(str(row["stratum"]), str(row["stratum"])),
                "periods": f"{int(row['n_active'])} active, {int(row['n_placebo'])} placebo",
                "effect": f.signed(row["effect"]),
            }
            for _, row in b.effect_by_guess.iterrows()
        ]
    if n == 0:
        meaning = "No period guesses were recorded, so the blind cannot be checked."
        plain = "You did not record any guesses, so we cannot check this."
    elif named == 0:
        meaning = (
            "The patient answered \u201cdon't know\u201d every time: no sign that the blind was "
            "broken."
        )
        plain = "You always said you did not know, which is what a good blind looks like."
    elif chance < 0.05:
        meaning = (
            f"{right} of {named} named guesses were right; chance alone would give this many "
            f"or more with probability {f.percent(chance)}. The patient could probably tell the "
            "capsules apart, so part of the difference in pain may come from expectation "
            "rather than from the substance."
        )
        plain = (
            "You guessed right more often than luck would explain. Knowing (or believing) which "
            "capsules you had can change how pain feels, so part of the difference may come "
            "from that."
        )
    elif right > wrong:
        meaning = (
            f"{right} of {named} named guesses were right; with so few periods chance alone "
            f"gives this many or more with probability {f.percent(chance)}, so there is "
            "little evidence that the blind was broken, but expectation cannot be ruled out."
        )
        plain = (
            "You guessed right a bit more often than wrong, but with so few periods that can "
            "easily happen by luck."
        )
    else:
        meaning = (
            f"{right} of {named} named guesses were right, no more than chance: no sign that "
            "the blind was broken, so expectation is an unlikely explanation of the result."
        )
        plain = "You guessed no better than luck, which is what a good blind looks like."
    result["meaning"] = meaning
    result["plain"] = plain
    return result


def _methods(analysis: TrialAnalysis) -> dict[str, Any]:
    trial = analysis.trial
    pairs = len(trial.periods) // 2
    kept = trial.period_days - trial.wash_in_days
    design = (
        f"Randomised, placebo-controlled, self-blinded n-of-1 trial (multiple crossover) in one "
        f"patient: a {trial.run_in_days}-day run-in without capsules, then {pairs} pairs of "
        f"{trial.period_days}-day periods ({len(trial.periods)} periods), the order of active "
        f"and placebo randomised within each pair and concealed (kits identified only by code). "
        f"Active and placebo capsules looked identical and followed the same calendar: "
        f"{trial.regimen}. The first {trial.wash_in_days} days of every period were treated as "
        f"wash-in/wash-out and left out of the analysis ({kept} analysed days per period); "
        f"days while the trial was paused were left out as well."
    )
    individual = (
        f"Individualised choices: substance and regimen ({trial.regimen_name}, "
        f"{'sub-perceptual' if trial.sub_perceptual else 'perceptible'} dose) chosen by the "
        f"clinician with the patient; period length and number of pairs set at planning."
    )
    outcome = (
        "Primary outcome: daily 'average pain in the last 24 h' on a 0–10 numeric rating scale, "
        "from the patient's electronic diary. Secondary: worst pain and sleep quality from the "
        "same diary, responder status at 30 % and 50 % of baseline (IMMPACT), PHQ-9, GAD-7 and "
        "PGIC where collected, adverse events with CTCAE v5.0 grades, and the patient's guess "
        "of the arm at the end of each period."
    )
    model = (
        "Analysis: a Bayesian linear model per outcome, y_t = mu + beta·active_t + delta·trend_t "
        "+ e_t, with AR(1) errors over calendar days (a gap of g days correlates days by rho^g, "
        "so missing days are handled exactly and not imputed). Reference prior p(mu, beta, "
        "delta, sigma²) ∝ 1/sigma² with rho ~ Uniform(−0.95, 0.95) and a stationary start; the "
        "posterior of beta (active minus placebo) is exact, a mixture of Student-t "
        "distributions over a quadrature grid in rho. Reported: posterior mean, sd, "
        f"equal-tailed 95 % credible interval, P(beta < 0) and P(beta ≤ −{MCID_POINTS:g}) with "
        f"a minimal clinically important difference of {MCID_POINTS:g} point (IMMPACT; Salaffi "
        f"2004), and P(beta ≤ −{round(RELATIVE_MCID * 100)} % of the run-in mean). Blinding: "
        "Bang's index per arm and James' index from the period guesses."
    )
    cent = [
        ("Design and rationale", "n-of-1, multiple crossover, randomised within pairs"),
        (
            "Periods",
            f"{len(trial.periods)} periods of {trial.period_days} days in {pairs} pairs; "
            f"run-in {trial.run_in_days} days; wash-in {trial.wash_in_days} days",
        ),
        ("Intervention", trial.regimen),
        ("Allocation", "random order within each pair; concealed kit codes"),
        ("Blinding", "identical capsules; patient guesses recorded each period"),
        ("Outcomes", "daily average pain (primary); see secondary outcomes"),
        ("Statistical methods", "exact Bayesian AR(1) model with linear trend; no imputation"),
        (
            "Participant flow",
            f"{sum(1 for p in trial.periods if p.arm)} periods allocated; status "
            f"{trial.status}" + (f" ({trial.status_reason})" if trial.status_reason else ""),
        ),
        ("Harms", "adverse events with CTCAE v5.0 grade and seriousness"),
    ]
    return {
        "design": design,
        "individual": individual,
        "outcome": outcome,
        "model": model,
        "cent": cent,
    }


def _evidence(catalog: Catalog, codes: Sequence[str]) -> list[dict[str, Any]]:
    notes: dict[str, list[str]] = {}
    for code in codes:
        condition = catalog.condition_by_code(code)
        if condition is not None:
            notes.setdefault(condition.evidence_note, []).append(condition.title)
    out = []
    for note_id, titles in notes.items():
        note = catalog.evidence_notes[note_id]
        out.append(
            {
                "conditions": ", ".join(titles),
                "known": note.known,
                "unknown": note.unknown,
                "sources": list(catalog.cite(note.sources)),
            }
        )
    return out


def _caveats(analysis: TrialAnalysis, context: dict[str, Any]) -> list[str]:
    status = context["status"]
    adherence = context["adherence"]
    blind = context["blinding"]
    out = [
        "This result describes one patient, on this regimen, over these weeks; it is not "
        "evidence about other patients or other doses.",
        f"Carry-over: the first {analysis.trial.wash_in_days} days of each period were left out; "
        "an effect that outlasts this would make active and placebo periods look more alike.",
        f"Missing diary days: {adherence['diary_missing_share']} of the analysable days have no "
        "entry. The model uses the days as they fall (no imputation); if days were missed "
        "because of pain or side effects, the result may be biased.",
        "Expectation: " + blind["meaning"],
        "A slow change over time is modelled as a straight-line trend; other changes (seasons, "
        "co-medication, life events) are not.",
    ]
    if status["unblinded_early"]:
        out.insert(
            0,
            f"The blind was broken early for safety ({status['unblind_reason']}). Data after "
            "that point are not blinded, and the trial did not run its planned course.",
        )
    elif status["stopped_early"]:
        out.insert(
            0,
            "The trial stopped before its planned end"
            + (f" ({status['status_reason']})" if status["status_reason"] else "")
            + f"; {status['periods_reached']} of {len(analysis.trial.periods)} periods were "
            "reached, so the result rests on fewer days than planned.",
        )
    out += [f"Analysis note: {w}" for w in analysis.warnings]
    out.append(
        "MicroTrial supports the clinician's judgement; it does not make a diagnosis or a "
        "treatment decision."
    )
    return out
