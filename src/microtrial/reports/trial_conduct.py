"""How the trial went, for the trial report: adverse events (rows and figure marks) and
adherence (doses, diary completeness, protocol deviations). Split from ``trial_report``,
which renders; the numbers come from the analysis as it is."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from microtrial import i18n
from microtrial.analysis.summaries import longest_gap
from microtrial.domain.catalog import Catalog
from microtrial.reports import formatting as f
from microtrial.services.adverse_events import AdverseEventRead
from microtrial.services.analysis import TrialAnalysis

__all__ = ["adherence", "adverse_event_rows", "ae_marks", "trial_adverse_events"]


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


def ae_marks(analysis: TrialAnalysis, events: Sequence[AdverseEventRead]) -> list[tuple[int, int]]:
    """Each event's (study day, grade), for the figures' marks."""
    start = analysis.days["date"].min()
    return [((e.onset_date - start).days, e.grade) for e in events]


def adverse_event_rows(
    analysis: TrialAnalysis, events: Sequence[AdverseEventRead], catalog: Catalog
) -> list[dict[str, Any]]:
    """The adverse-event table's rows: term, grade in words, when in the trial it began."""
    labels = catalog.instrument("ae_checklist").item("anxiety").labels or {}
    rows = []
    for event in events:
        match = analysis.days[analysis.days["date"] == event.onset_date]
        when_words = ""
        if match.empty:
            when = i18n.N_("outside the trial calendar")
            study_day = "—"
        else:
            r = match.iloc[0]
            study_day = str(int(r["study_day"]))
            if r["phase"] == "paused":
                when = i18n.N_("while paused")
            elif pd.isna(r["period"]):
                when = i18n.N_("run-in (no capsules)")
            else:
                when = f"period {int(r['period'])}, {r['arm']}" + (
                    " (wash-in)" if r["wash_in"] else ""
                )
                # The clinician's words for it (the patient template words ``when`` itself).
                when_words = (
                    i18n.pgettext("clinician report", "period %(period)s, %(arm)s (wash-in)")
                    if r["wash_in"]
                    else i18n.pgettext("clinician report", "period %(period)s, %(arm)s")
                ) % {"period": int(r["period"]), "arm": f.arm_word(str(r["arm"]))}
        rows.append(
            {
                "term": event.term,
                "grade": event.grade,
                "grade_label": str(labels.get(event.grade, f"Grade {event.grade}")),
                "serious": "yes" if event.serious else "no",
                "onset": event.onset_date.isoformat(),
                "study_day": study_day,
                "when": when,
                "when_words": when_words or i18n.gettext(when),
            }
        )
    return rows


def adherence(analysis: TrialAnalysis, status: dict[str, Any]) -> dict[str, Any]:
    """Doses taken per arm, diary completeness and the protocol deviations, up to the data end."""
    days = analysis.days
    on_protocol = days[days["phase"] != "paused"]
    # Doses count up to the one adherence day every page uses; the diary up to the data end.
    due = on_protocol[on_protocol["dose_day"] & (on_protocol["date"] <= analysis.doses_through)]
    active_days = on_protocol[on_protocol["date"] <= status["data_end"]]
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
    # the days the model uses: wash-in days are left out (the caveat's "analysable days")
    analysable = active_days[~active_days["wash_in"].astype(bool)]
    unrecorded = int(analysable["pain"].isna().sum())
    observed_flags = active_days["pain"].notna().to_numpy()
    longest = longest_gap(observed_flags)
    deviations = [
        i18n.pgettext("clinician report", "dose missed on %(date)s (period %(period)s)")
        % {"date": d.isoformat(), "period": int(p)}
        for d, p in zip(missed["date"], missed["period"], strict=True)
    ]
    deviations += [
        i18n.gettext("dose recorded off the calendar on %(date)s") % {"date": d.isoformat()}
        for d in extra["date"]
    ]
    for pause in analysis.trial.pauses:
        deviations.append(
            i18n.gettext("trial paused %(start)s to %(end)s (days left out of the analysis)")
            % {"start": pause.get("from", "?"), "end": pause.get("to", "?")}
        )
    return {
        "planned_all": int(on_protocol["dose_day"].sum()),
        "planned": analysis.doses_planned,
        "taken": analysis.doses_taken,
        "share": f.share(analysis.doses_taken, analysis.doses_planned),
        "by_arm": by_arm,
        "missed": len(missed),
        "extra": len(extra),
        "diary_expected": expected,
        "diary_observed": observed,
        "diary_share": f.share(observed, expected),
        "diary_missing_share": f.share(unrecorded, len(analysable)),
        "longest_gap": longest,
        "deviations": deviations,
    }
