"""The condition's primary endpoint (migraine days, cluster attacks) as the reports print it.

The numbers are the discrete model's (``services.analysis`` fits the endpoint with
``fit_trials(..., outcome_type="binary" | "count")``): the odds or rate ratio is the exp of the
log-ratio summaries, the difference is the engine's risk (rate) difference per day scaled to
4 weeks (migraine days) or a week (attacks). The per-arm figures are the observed days, with the
model's own day selection (wash-in and paused days left out).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from microtrial.reports import formatting as f
from microtrial.reports.endpoint_patient import patient_endpoint
from microtrial.services.analysis import RELATIVE_MCID, EndpointAnalysis, TrialAnalysis

__all__ = ["ENDPOINT_WORDS", "EndpointWords", "endpoint_held", "endpoint_result"]


@dataclass(frozen=True)
class EndpointWords:
    """How one endpoint instrument's numbers are named and scaled in the reports."""

    title: str  # "Migraine days"
    noun: str  # "migraine days"
    one: str  # "migraine day"
    per_days: int  # the days one reported rate is over
    per: str  # "per 4 weeks"
    ratio: str  # "odds ratio"
    ratio_plain: tuple[str, str]  # the ratio in the patient's words, before and after it
    log_plain: str  # the instrument in the patient's words
    zero_plain: str  # the 0-day rule in the patient's words
    rule_note: str = ""  # what the clinician should know about the day's value


ENDPOINT_WORDS = {
    # Monthly migraine days are counted over 4 weeks here (28 days), the engine's trend unit.
    "migraine_diary": EndpointWords(
        title="Migraine days",
        noun="migraine days",
        one="migraine day",
        per_days=28,
        per="per 4 weeks",
        ratio="odds ratio",
        ratio_plain=(
            "your odds of a migraine day in the real-microdose periods were",
            "those in the dummy-capsule periods",
        ),
        log_plain="migraine diary",
        zero_plain="A day on which you filled in your diary but logged no migraine counted as "
        "a day without migraine.",
        # An attack logged with severity, duration and acute medication only is a headache day;
        # it meets the operational rule when treated with a migraine-specific medication or
        # when the migraine features are answered on the day's entry (catalog migraine_day).
        rule_note="A headache day counts as a migraine day only when its entry meets the "
        "catalog's operational rule (e.g. treated with a migraine-specific medication, or the "
        "migraine features answered).",
    ),
    "cluster_attack_log": EndpointWords(
        title="Cluster attacks",
        noun="attacks",
        one="attack",
        per_days=7,
        per="per week",
        ratio="rate ratio",
        ratio_plain=(
            "your number of attacks per day in the real-microdose periods was",
            "that in the dummy-capsule periods",
        ),
        log_plain="attack log",
        zero_plain="A day on which you filled in your diary but logged no attack counted as "
        "a day without attacks.",
    ),
}
ARMS = ("baseline", "active", "placebo")


def endpoint_result(analysis: TrialAnalysis) -> dict[str, Any] | None:
    """The endpoint's formatted result for the templates (None when no endpoint applies)."""
    e = analysis.endpoint
    if e is None:
        return None
    words = ENDPOINT_WORDS[e.instrument]
    arms = _observed(e, words)
    out: dict[str, Any] = {
        "ok": False,
        "title": words.title,
        "noun": words.noun,
        "per": words.per,
        "ratio_name": words.ratio,
        "ratio_plain": words.ratio_plain,
        "model": "binary (logistic)" if e.outcome_type == "binary" else "count (Poisson)",
        "instrument": e.instrument,
        "endpoint_id": e.endpoint_id,
        "description": e.description,
        "arms": arms,
        "zero_days": int((e.days["source"] == "diary").sum()),
        "entries": e.entries,
        "rel": f"{round(RELATIVE_MCID * 100)} %",
        "rel_ratio": f.number(1 - RELATIVE_MCID, 2),
        "reason": e.reason,
        "reason_plain": (
            f"there were no entries in your {words.log_plain} during your trial"
            if not e.entries
            else "there were not enough days with an answer in both kinds of period"
        ),
        "zero_plain": words.zero_plain,
        "rule_note": words.rule_note,
        "warning": "",
    }
    r = e.result
    if not r or not f.finite(r.get("effect_mean")):
        out["reason"] = e.reason or (r or {}).get("warning") or "no observed day in one arm"
        out["patient"] = patient_endpoint(out)
        return out
    diff = float(r["difference_mean"]) * words.per_days
    ratio = math.exp(float(r["effect_mean"]))
    low, high = math.exp(float(r["ci95_low"])), math.exp(float(r["ci95_high"]))
    out.update(
        ok=True,
        ratio=f.number(ratio, 2),
        ci=f"{f.number(low, 2)} to {f.number(high, 2)}",
        ci_low=f.number(low, 2),
        ci_high=f.number(high, 2),
        difference=_fewer_more(diff, words),
        difference_sd=f.number(float(r["difference_sd"]) * words.per_days),
        p_fewer=f.percent(r["p_benefit"]),
        p_reduction=f.percent(r["p_ratio_reduction"]),
        warning=str(r.get("warning") or ""),
        raw={
            "ratio": ratio,
            "low": low,
            "high": high,
            "difference": diff,
            "p_fewer": float(r["p_benefit"]),
            "p_reduction": float(r["p_ratio_reduction"]),
        },
    )
    out["patient"] = patient_endpoint(out)
    out["summary"] = (
        f"{words.title} during microdosing periods compared with placebo periods: "
        f"{words.ratio} {out['ratio']} (95 % credible interval {out['ci']}); "
        f"{out['difference']}; probability of fewer {words.noun} {out['p_fewer']}; "
        f"probability of at least {out['rel']} fewer ({words.ratio} ≤ {out['rel_ratio']}) "
        f"{out['p_reduction']}."
    )
    return out


def endpoint_held(result: dict[str, Any]) -> str:
    """The endpoint table's cell for the analysed primary endpoint."""
    if not result["ok"]:
        return f"not analysed: {result['reason']}"
    return (
        f"analysed ({result['model']} model): {result['ratio_name']} {result['ratio']} "
        f"(95 % CrI {result['ci']}), {result['difference']}, P(fewer {result['noun']}) "
        f"{result['p_fewer']}; see the summary"
    )


def _fewer_more(value: float, words: EndpointWords) -> str:
    """``about 2.1 fewer migraine days per 4 weeks`` (or more, or about the same)."""
    size = f.magnitude(value)
    if float(size) == 0:
        return f"about the same number of {words.noun} {words.per}"
    noun = words.one if size == "1.0" else words.noun
    return f"about {size} {'fewer' if value < 0 else 'more'} {noun} {words.per}"


def _observed(e: EndpointAnalysis, words: EndpointWords) -> dict[str, dict[str, Any]]:
    """Observed rate per arm (wash-in and paused days left out), scaled like the difference."""
    days = e.days[(e.days["phase"] != "paused") & ~e.days["wash_in"]]
    out = {}
    for arm in ARMS:
        values = pd.to_numeric(days.loc[days["arm"] == arm, "value"]).dropna()
        n = len(values)
        total = float(values.sum())
        if not n:
            out[arm] = {"rate": "—", "detail": "no observed day", "n": "0", "days": 0}
            continue
        if e.outcome_type == "binary":
            detail = f"{round(total)} of {n} days"
        else:
            detail = f"{round(total)} {words.noun if round(total) != 1 else words.one} in {n} days"
        out[arm] = {
            "rate": f"{f.number(total / n * words.per_days)} {words.per}",
            "detail": detail,
            "n": str(n),
            # the same figures unformatted, for the patient's words (endpoint_patient)
            "days": n,
            "total": round(total),
            "per_period": total / n * words.per_days,
        }
    return out
