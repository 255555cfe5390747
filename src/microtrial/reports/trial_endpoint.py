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

from microtrial import i18n
from microtrial.i18n import N_
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
        title=N_("Migraine days"),
        noun=N_("migraine days"),
        one=N_("migraine day"),
        per_days=28,
        per=N_("per 4 weeks"),
        ratio=N_("odds ratio"),
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
        rule_note=N_(
            "A headache day counts as a migraine day only when its entry meets the catalog's "
            "operational rule (e.g. treated with a migraine-specific medication, or the migraine "
            "features answered)."
        ),
    ),
    "cluster_attack_log": EndpointWords(
        title=N_("Cluster attacks"),
        noun="attacks",  # translated in _words (context: a lone English word)
        one="attack",
        per_days=7,
        per=N_("per week"),
        ratio=N_("rate ratio"),
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
MODELS = {"binary": N_("binary (logistic)"), "count": N_("count (Poisson)")}
NO_OBSERVED_DAY = N_("no observed day in one arm")
# The analysis service's reasons for an endpoint it did not fit (services/analysis_fit.py),
# translated on display (formatting.model_warning).
SERVICE_REASONS = (
    N_("no migraine-diary entries during the trial"),
    N_("no cluster-attack-log entries during the trial"),
    N_("no observed day in the active periods"),
    N_("no observed day in the placebo periods"),
)


def _noun(noun: str) -> str:
    """An endpoint's noun in the current language."""
    if noun == "attacks":
        return i18n.pgettext("clinician report", "attacks")
    if noun == "attack":
        return i18n.pgettext("clinician report", "attack")
    return i18n.gettext(noun)


def _words(words: EndpointWords) -> EndpointWords:
    """The clinician's words of an endpoint in the current language (the patient's are
    ``endpoint_patient``'s)."""
    _ = i18n.gettext
    return EndpointWords(
        title=_(words.title),
        noun=_noun(words.noun),
        one=_noun(words.one),
        per_days=words.per_days,
        per=_(words.per),
        ratio=_(words.ratio),
        ratio_plain=words.ratio_plain,
        log_plain=words.log_plain,
        zero_plain=words.zero_plain,
        rule_note=_(words.rule_note) if words.rule_note else "",
    )


def endpoint_result(analysis: TrialAnalysis) -> dict[str, Any] | None:
    """The endpoint's formatted result for the templates (None when no endpoint applies)."""
    e = analysis.endpoint
    if e is None:
        return None
    words = _words(ENDPOINT_WORDS[e.instrument])
    arms = _observed(e, words)
    out: dict[str, Any] = {
        "ok": False,
        "title": words.title,
        # the title inside a sentence (German keeps its nouns' capitals)
        "title_lower": i18n.in_sentence(words.title),
        "noun": words.noun,
        "per": words.per,
        "ratio_name": words.ratio,
        "ratio_plain": words.ratio_plain,
        "model": i18n.gettext(MODELS["binary" if e.outcome_type == "binary" else "count"]),
        "instrument": e.instrument,
        "endpoint_id": e.endpoint_id,
        "description": e.description,
        "arms": arms,
        "zero_days": int((e.days["source"] == "diary").sum()),
        "entries": e.entries,
        "rel": f"{round(RELATIVE_MCID * 100)} %",
        "rel_ratio": f.local(f.number(1 - RELATIVE_MCID, 2)),
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
        reason = e.reason or (r or {}).get("warning") or NO_OBSERVED_DAY
        out["reason"] = f.model_warning(reason)
        out["patient"] = patient_endpoint(out)
        return out
    diff = float(r["difference_mean"]) * words.per_days
    ratio = math.exp(float(r["effect_mean"]))
    low, high = math.exp(float(r["ci95_low"])), math.exp(float(r["ci95_high"]))
    out.update(
        ok=True,
        ratio=f.local(f.number(ratio, 2)),
        ci=f.between(low, high, 2),
        ci_low=f.number(low, 2),
        ci_high=f.number(high, 2),
        difference=_fewer_more(diff, words),
        difference_sd=f.local(f.number(float(r["difference_sd"]) * words.per_days)),
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
    out["summary"] = i18n.gettext(
        "%(title)s during microdosing periods compared with placebo periods: %(ratio_name)s "
        "%(ratio)s (95 %% credible interval %(ci)s); %(difference)s; probability of fewer "
        "%(noun)s %(p_fewer)s; probability of at least %(rel)s fewer (%(ratio_name)s ≤ "
        "%(rel_ratio)s) %(p_reduction)s."
    ) % {
        "title": words.title,
        "ratio_name": words.ratio,
        "noun": words.noun,
        **{
            k: out[k]
            for k in ("ratio", "ci", "difference", "p_fewer", "rel", "rel_ratio", "p_reduction")
        },
    }
    return out


def endpoint_held(result: dict[str, Any]) -> str:
    """The endpoint table's cell for the analysed primary endpoint."""
    if not result["ok"]:
        return i18n.gettext("not analysed: %(reason)s") % {"reason": result["reason"]}
    return i18n.pgettext(
        "clinician report",
        "analysed (%(model)s model): %(ratio_name)s %(ratio)s (95 %% CrI %(ci)s), "
        "%(difference)s, P(fewer %(noun)s) %(p_fewer)s; see the summary",
    ) % {
        k: result[k]
        for k in ("model", "ratio_name", "ratio", "ci", "difference", "noun", "p_fewer")
    }


def _fewer_more(value: float, words: EndpointWords) -> str:
    """``about 2.1 fewer migraine days per 4 weeks`` (or more, or about the same)."""
    size = f.magnitude(value)
    values = {
        "size": f.local(size),
        "noun": words.one if size == "1.0" else words.noun,
        "per": words.per,
    }
    if float(size) == 0:
        return i18n.gettext("about the same number of %(noun)s %(per)s") % {
            "noun": words.noun,
            "per": words.per,
        }
    if value < 0:
        return i18n.pgettext("clinician report", "about %(size)s fewer %(noun)s %(per)s") % values
    return i18n.pgettext("clinician report", "about %(size)s more %(noun)s %(per)s") % values


def _observed(e: EndpointAnalysis, words: EndpointWords) -> dict[str, dict[str, Any]]:
    """Observed rate per arm (wash-in and paused days left out), scaled like the difference."""
    days = e.days[(e.days["phase"] != "paused") & ~e.days["wash_in"]]
    out = {}
    for arm in ARMS:
        values = pd.to_numeric(days.loc[days["arm"] == arm, "value"]).dropna()
        n = len(values)
        total = float(values.sum())
        if not n:
            out[arm] = {
                "rate": "—",
                "detail": i18n.gettext("no observed day"),
                "n": "0",
                "days": 0,
            }
            continue
        if e.outcome_type == "binary":
            detail = i18n.pgettext("clinician report", "%(total)s of %(n)s days") % {
                "total": round(total),
                "n": n,
            }
        else:
            detail = i18n.pgettext("clinician report", "%(total)s %(noun)s in %(n)s days") % {
                "total": round(total),
                "noun": words.noun if round(total) != 1 else words.one,
                "n": n,
            }
        out[arm] = {
            "rate": f"{f.local(f.number(total / n * words.per_days))} {words.per}",
            "detail": detail,
            "n": str(n),
            # the same figures unformatted, for the patient's words (endpoint_patient)
            "days": n,
            "total": round(total),
            "per_period": total / n * words.per_days,
        }
    return out
