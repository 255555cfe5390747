"""The trial report's secondary outcomes and catalog endpoints, as formatted table rows.

Engine rows come from ``services.analysis``; questionnaire rows (PHQ-9, GAD-7, PGIC and the
condition group's instruments) are descriptive means of the patient's diary entries by arm,
except the migraine and cluster primary endpoints, which the discrete model analyses
(``reports.trial_endpoint``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import numpy as np

from microtrial import i18n
from microtrial.analysis.summaries import relative_change
from microtrial.domain.catalog import Catalog
from microtrial.reports import formatting as f
from microtrial.reports.trial_endpoint import endpoint_held, endpoint_result
from microtrial.services.analysis import MCID_POINTS, RELATIVE_MCID, TrialAnalysis
from microtrial.services.records import DiaryEntryRead

__all__ = ["MCID_LARGE_POINTS", "RESPONDER_SUBSTANTIAL", "endpoint_rows", "secondary_rows"]

# REFERENCE.md C.3 (Salaffi 2004, Farrar 2001): 2 points = "much better"; IMMPACT (Dworkin 2008):
# 50 % reduction = substantial. 1 point and 30 % come from the analysis service.
MCID_LARGE_POINTS = 2.0
RESPONDER_SUBSTANTIAL = 0.5
# PGIC ratings 1-2 ("very much" / "much improved") = moderately important (IMMPACT, Dworkin 2008).
PGIC_MUCH_IMPROVED = 2
PERIODIC = (
    ("phq9", i18n.N_("PHQ-9 (depression, 0–27)")),
    ("gad7", i18n.N_("GAD-7 (anxiety, 0–21)")),
)
NOT_COLLECTED = i18n.N_("not collected")
PGIC_LABEL = i18n.N_("PGIC (1 = very much improved … 7 = very much worse)")


def _n(mean: str, n: int) -> str:
    """``1.5 (n = 12)``."""
    return i18n.gettext("%(mean)s (n = %(n)s)") % {"mean": mean, "n": n}


def _engine_row(analysis: TrialAnalysis, outcome: str, label: str, higher: bool) -> dict[str, str]:
    days = analysis.days[(analysis.days["phase"] != "paused") & ~analysis.days["wash_in"]]
    act = days.loc[days["arm"] == "active", outcome].astype(float).dropna()
    pla = days.loc[days["arm"] == "placebo", outcome].astype(float).dropna()
    rows = analysis.results
    sub = rows[rows["outcome"] == outcome] if not rows.empty else rows
    if sub.empty or not f.finite(sub.iloc[0]["effect_mean"]):
        result = (
            i18n.gettext("not analysed (no observed day in one arm)")
            if len(act) + len(pla)
            else i18n.gettext(NOT_COLLECTED)
        )
        return {
            "outcome": i18n.gettext(label),
            "active": _n(f.number(act.mean()), len(act)) if len(act) else "—",
            "placebo": _n(f.number(pla.mean()), len(pla)) if len(pla) else "—",
            "result": result,
            "note": i18n.gettext("daily diary"),
        }
    r = sub.iloc[0]
    values = {
        "difference": f.signed(r["effect_mean"]),
        "ci": f.between(r["ci95_low"], r["ci95_high"]),
        "p": f.percent(r["p_benefit"]),
    }
    result = (
        i18n.pgettext(
            "clinician report",
            "difference %(difference)s (95 %% CrI %(ci)s); P(better sleep) %(p)s",
        )
        if higher
        else i18n.pgettext(
            "clinician report", "difference %(difference)s (95 %% CrI %(ci)s); P(benefit) %(p)s"
        )
    ) % values
    note = i18n.gettext("daily diary; engine")
    return {
        "outcome": i18n.gettext(label),
        "active": _n(f.number(act.mean()), len(act)),
        "placebo": _n(f.number(pla.mean()), len(pla)),
        "result": result,
        "note": note + (f"; {f.model_warning(r['warning'])}" if r["warning"] else ""),
    }


def secondary_rows(
    analysis: TrialAnalysis,
    n: dict[str, Any],
    entries: Sequence[DiaryEntryRead] | None,
) -> list[dict[str, str]]:
    """Worst pain, sleep, the responder and MCID probabilities, PHQ-9, GAD-7 and PGIC rows.

    ``n`` is the primary outcome's formatted numbers (``trial_report``'s primary block).
    """
    rows = [
        _engine_row(analysis, "worst_pain", i18n.N_("Worst pain (0–10)"), higher=False),
        _engine_row(
            analysis, "sleep", i18n.N_("Sleep quality (0–10, higher = better)"), higher=True
        ),
    ]
    days = analysis.days[(analysis.days["phase"] != "paused") & ~analysis.days["wash_in"]]
    base = days.loc[days["arm"] == "baseline", "pain"].astype(float).dropna()
    act = days.loc[days["arm"] == "active", "pain"].astype(float).dropna()
    pla = days.loc[days["arm"] == "placebo", "pain"].astype(float).dropna()
    if n["ok"]:
        rows.append(
            {
                "outcome": i18n.gettext("Improvement ≥ %(points)s point (minimal)")
                % {"points": f"{MCID_POINTS:g}"},
                "active": "",
                "placebo": "",
                "result": f"P = {n['p_mcid']}",
                "note": i18n.gettext("Salaffi 2004; engine"),
            }
        )
        rows.append(
            {
                "outcome": i18n.gettext("Improvement ≥ %(points)s points (much better)")
                % {"points": f"{MCID_LARGE_POINTS:g}"},
                "active": "",
                "placebo": "",
                "result": f"P = {n['p_mcid2']}",
                "note": i18n.gettext("Farrar 2001; exact posterior"),
            }
        )
    for share, key, label, source in (
        (
            RELATIVE_MCID,
            "p_mcid_rel",
            "moderately important",
            i18n.N_("IMMPACT (Dworkin 2008); engine"),
        ),
        (
            RESPONDER_SUBSTANTIAL,
            "p_rel50",
            "substantial",
            i18n.N_("IMMPACT (Dworkin 2008); exact posterior"),
        ),
    ):
        pct = f"{round(share * 100)} %"
        row = {
            "outcome": (
                i18n.pgettext("clinician report", "Responder ≥ %(percent)s (substantial)")
                if label == "substantial"
                else i18n.gettext("Responder ≥ %(percent)s (moderately important)")
            )
            % {"percent": pct},
            "active": "",
            "placebo": "",
            "result": "",
            "note": i18n.gettext(source),
        }
        if not len(base):
            row["result"] = i18n.gettext("not assessable: no run-in (baseline) diary days")
        elif not n["ok"]:
            row["result"] = i18n.gettext("not assessable: primary outcome not analysed")
        else:
            prob = n["raw"]["p_mcid_rel"] if key == "p_mcid_rel" else n["raw"]["p_rel50"]
            observed = relative_change(act.mean(), base.mean())
            versus = i18n.pgettext("clinician report", "%(mean)s vs baseline %(baseline)s")
            row["active"] = versus % {
                "mean": f.number(act.mean()),
                "baseline": f.number(base.mean()),
            }
            row["placebo"] = versus % {
                "mean": f.number(pla.mean()),
                "baseline": f.number(base.mean()),
            }
            values = {
                "percent": pct,
                "baseline": f.number(base.mean()),
                "p": f.percent(prob),
                "observed": f.signed(100 * observed, 0),
            }
            row["result"] = (
                i18n.gettext(
                    "responder: P(active − placebo ≤ −%(percent)s of run-in mean %(baseline)s) = "
                    "%(p)s; active periods %(observed)s %% vs run-in (descriptive)"
                )
                if prob > 0.5
                else i18n.gettext(
                    "not a responder: P(active − placebo ≤ −%(percent)s of run-in mean "
                    "%(baseline)s) = %(p)s; active periods %(observed)s %% vs run-in "
                    "(descriptive)"
                )
            ) % values
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
    return _n(f.number(float(np.mean(values))), len(values)) if values else "—"


def _not_there(entries: list[DiaryEntryRead] | None) -> str:
    if entries is not None:
        return i18n.gettext(NOT_COLLECTED)
    return i18n.gettext("not available (entries not supplied)")


def _instrument_row(
    analysis: TrialAnalysis, entries: list[DiaryEntryRead] | None, instrument: str, label: str
) -> dict[str, str]:
    values = _by_arm(analysis, entries or [], instrument)
    n = sum(len(v) for v in values.values())
    if not n:
        return {
            "outcome": i18n.gettext(label),
            "active": "",
            "placebo": "",
            "result": _not_there(entries),
            "note": "",
        }
    return {
        "outcome": i18n.gettext(label),
        "active": _mean_n(values["active"]),
        "placebo": _mean_n(values["placebo"]),
        "result": i18n.pgettext("clinician report", "run-in %(mean)s; descriptive only")
        % {"mean": _mean_n(values["baseline"])},
        "note": i18n.pgettext("clinician report", "%(n)s questionnaire(s)") % {"n": n},
    }


def _pgic_row(analysis: TrialAnalysis, entries: list[DiaryEntryRead] | None) -> dict[str, str]:
    values = _by_arm(analysis, entries or [], "pgic")
    if not any(values.values()):
        return {
            "outcome": i18n.gettext(PGIC_LABEL),
            "active": "",
            "placebo": "",
            "result": _not_there(entries),
            "note": "",
        }

    def much(v: list[float]) -> str:
        if not v:
            return "—"
        k = sum(1 for x in v if x <= PGIC_MUCH_IMPROVED)
        return i18n.gettext("%(k)s of %(n)s much/very much improved") % {"k": k, "n": len(v)}

    return {
        "outcome": i18n.gettext(PGIC_LABEL),
        "active": much(values["active"]),
        "placebo": much(values["placebo"]),
        "result": i18n.gettext("much or very much improved = moderately important (IMMPACT)"),
        "note": "Dworkin 2008; Farrar 2001",
    }


def endpoint_rows(
    analysis: TrialAnalysis, entries: Sequence[DiaryEntryRead] | None, catalog: Catalog
) -> dict[str, Any]:
    """The condition group's catalog endpoints and where the report shows each."""
    group = catalog.groups.get(analysis.condition_group or "")
    if group is None:
        return {"title": "", "rows": []}
    window = _window_entries(analysis, entries)
    rows = []
    endpoints = [("primary", e) for e in group.endpoints.primary]
    endpoints += [("secondary", e) for e in group.endpoints.secondary]
    analysed = endpoint_result(analysis)
    for kind, endpoint in endpoints:
        if analysed is not None and endpoint.id == analysed["endpoint_id"]:
            held = endpoint_held(analysed)
        elif endpoint.instrument == "daily_diary":
            held = i18n.gettext("from the daily diary: see the summary and secondary outcomes")
        elif endpoint.instrument in {"pgic", "phq9", "gad7"}:
            held = i18n.gettext("see secondary outcomes")
        else:
            values = _by_arm(analysis, window or [], endpoint.instrument)
            if any(values.values()):
                held = i18n.pgettext(
                    "clinician report",
                    "%(instrument)s, primary score: active %(active)s, placebo %(placebo)s, "
                    "run-in %(baseline)s (descriptive)",
                ) % {
                    "instrument": catalog.instrument(endpoint.instrument).title,
                    "active": _mean_n(values["active"]),
                    "placebo": _mean_n(values["placebo"]),
                    "baseline": _mean_n(values["baseline"]),
                }
            else:
                held = _not_there(window)
        rows.append(
            {
                "kind": i18n.pgettext("clinician report", "primary")
                if kind == "primary"
                else i18n.pgettext("clinician report", "secondary"),
                "description": endpoint.description,
                "instrument": endpoint.instrument,
                "held": held,
                "sources": "; ".join(catalog.cite(endpoint.sources)),
            }
        )
    return {"title": group.title, "rows": rows}
