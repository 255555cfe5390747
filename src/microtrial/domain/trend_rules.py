"""Alert rules over a patient's recent diary: pain flare, weekly worsening, grade-2 persistence.

The rules in ``domain.alerts`` judge a window of values; these functions find the window in a
patient's diary (plain dates and values, no storage) and name the *cause* of each alert: the
first day of the run of days or weeks that sets it off, or the adverse-event episode. A service
stores the cause with the alert and raises no second alert for the same cause, so re-running a
rule on the same diary (a replayed entry, a repeated sweep) is harmless.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from statistics import fmean
from typing import Literal

from microtrial.domain.alerts import (
    Alert,
    check_pain_flare,
    check_persistent_grade2,
    check_symptoms,
    check_weekly_worsening,
    checklist_linked_symptoms,
)
from microtrial.domain.catalog import Catalog, load_catalog

__all__ = [
    "Cause",
    "DiaryHistory",
    "Episode",
    "diary_trend_alerts",
    "grade2_episodes",
    "persistent_grade2_alerts",
    "without_capsule_alerts",
]

ONE_DAY = timedelta(days=1)
WEEK = 7


@dataclass(frozen=True, slots=True)
class Cause:
    """An alert and what caused it (stable across re-runs: the key against duplicates)."""

    alert: Alert
    cause: str


@dataclass
class DiaryHistory:
    """What the rules need of one patient's trial diary, by local date."""

    trial_start: date
    run_in_days: int
    pain: dict[date, float] = field(default_factory=dict)  # daily_diary average_pain
    headache: dict[date, bool] = field(default_factory=dict)  # migraine_diary headache
    ae_grades: dict[date, dict[str, int]] = field(default_factory=dict)  # ae_checklist grades
    doses: set[date] = field(default_factory=set)  # days a capsule was reported taken

    @property
    def run_in_end(self) -> date:
        """The last day of the run-in (the baseline)."""
        return self.trial_start + timedelta(days=self.run_in_days - 1)


def diary_trend_alerts(
    history: DiaryHistory, day: date, catalog: Catalog | None = None
) -> list[Cause]:
    """Every diary-driven alert that holds on ``day`` (the date of a new entry)."""
    catalog = catalog or load_catalog()
    found = without_capsule_alerts(history, day, catalog)
    if day <= history.run_in_end:
        return found  # the baseline is still being measured
    pain_base = _baseline_mean(history.pain, history)
    if pain_base is not None and day in history.pain:
        flare = _pain_flare(history.pain, pain_base, day, catalog)
        if flare is not None:
            found.append(flare)
    if pain_base is not None:
        worse = _worsening(history, pain_base, day, "pain", catalog)
        if worse is not None:
            found.append(worse)
    headache_base = _headache_baseline(history)
    if headache_base is not None:
        worse = _worsening(history, headache_base, day, "headache", catalog)
        if worse is not None:
            found.append(worse)
    for term, grade in sorted(history.ae_grades.get(day, {}).items()):
        if grade == catalog.alerts.persistent_grade2.grade:
            episodes = grade2_episodes(
                [d for d, grades in history.ae_grades.items() if grades.get(term) == grade]
            )
            found.extend(persistent_grade2_alerts(term, episodes, history.doses, day, catalog))
    return found


def without_capsule_alerts(
    history: DiaryHistory, day: date, catalog: Catalog | None = None
) -> list[Cause]:
    """Symptom rules that a checklist answer sets off only on a day without a capsule (e.g. visual
    changes that linger: possible HPPD), once the trial has had one; one cause per day."""
    catalog = catalog or load_catalog()
    grades = history.ae_grades.get(day)
    if not grades or day in history.doses or not any(d < day for d in history.doses):
        return []
    symptoms = checklist_linked_symptoms(grades, day_without_capsule=True, catalog=catalog)
    return [
        Cause(alert, f"{alert.code}:{day.isoformat()}")
        for alert in check_symptoms(symptoms, catalog=catalog)
    ]


@dataclass(frozen=True, slots=True)
class Episode:
    """A stretch of days with a grade-2 event: first and last day (last None: ongoing)."""

    key: str
    onset: date
    last: date | None


def grade2_episodes(days: Iterable[date]) -> list[Episode]:
    """Consecutive reported days grouped into episodes, oldest first."""
    episodes: list[Episode] = []
    for d in sorted(set(days)):
        if episodes and episodes[-1].last is not None and d - episodes[-1].last == ONE_DAY:
            episodes[-1] = Episode(episodes[-1].key, episodes[-1].onset, d)
        else:
            episodes.append(Episode(d.isoformat(), d, d))
    return episodes


def persistent_grade2_alerts(
    term: str,
    episodes: Iterable[Episode],
    doses: Iterable[date],
    today: date,
    catalog: Catalog | None = None,
) -> list[Cause]:
    """The grade-2 rule for the newest episode of one term: long enough, or recurring after doses.

    An episode recurs after a dose when a capsule was reported taken on or before its onset and
    after the previous episode's onset; the count is of such recurrences since the trial began.
    """
    catalog = catalog or load_catalog()
    ordered = sorted(episodes, key=lambda e: e.onset)
    if not ordered:
        return []
    dose_days = sorted(set(doses))
    recurred = 0
    previous: date | None = None
    for episode in ordered:
        if any((previous is None or d > previous) and d <= episode.onset for d in dose_days):
            recurred += 1
        previous = episode.onset
    current = ordered[-1]
    last = current.last or today
    days = (last - current.onset).days + 1
    alert = check_persistent_grade2(
        catalog.alerts.persistent_grade2.grade, days, recurred, catalog=catalog
    )
    if alert is None:
        return []
    named = Alert(
        alert.code,
        alert.severity,
        alert.action,
        alert.message,
        alert.sources,
        f"{term}: {alert.detail}",
    )
    return [Cause(named, f"{alert.code}:{term}:{current.key}")]


def _baseline_mean(values: Mapping[date, float], history: DiaryHistory) -> float | None:
    first, last = history.trial_start, history.run_in_end  # once, not per value
    base = [v for d, v in values.items() if first <= d <= last]
    return fmean(base) if base else None


def _headache_baseline(history: DiaryHistory) -> float | None:
    first, last = history.trial_start, history.run_in_end
    days = [d for d in history.headache if first <= d <= last]
    if not days:
        return None
    hits = sum(1 for d in days if history.headache[d])
    return hits * WEEK / len(days)  # headache days per week during the run-in


def _pain_flare(
    pain: Mapping[date, float], baseline: float, day: date, catalog: Catalog
) -> Cause | None:
    rule = catalog.alerts.pain_flare
    limit = baseline + rule.points_above_baseline
    if pain.get(day, -1.0) < limit:
        return None
    start = day
    while pain.get(start - ONE_DAY, -1.0) >= limit:
        start -= ONE_DAY
    window = [pain.get(day - timedelta(days=i)) for i in reversed(range(rule.consecutive_days))]
    alert = check_pain_flare(window, baseline, catalog=catalog)
    if alert is None:
        return None
    return Cause(alert, f"{rule.code}:{start.isoformat()}")


def _worsening(
    history: DiaryHistory,
    baseline: float,
    day: date,
    kind: Literal["pain", "headache"],
    catalog: Catalog,
) -> Cause | None:
    """Complete trial weeks (7 days from the end of the run-in) up to ``day``, the latest run."""
    rule = catalog.alerts.pain_worsening if kind == "pain" else catalog.alerts.headache_worsening
    first = history.run_in_end + ONE_DAY
    weeks = (day - first).days // WEEK + (1 if (day - first).days % WEEK == WEEK - 1 else 0)
    if weeks < rule.consecutive_weeks:
        return None
    values = [_week_value(history, first + timedelta(days=WEEK * k), kind) for k in range(weeks)]
    limit = baseline * (1 + rule.relative_increase)
    start = len(values)
    while start > 0 and (v := values[start - 1]) is not None and v >= limit:
        start -= 1
    if len(values) - start < rule.consecutive_weeks:
        return None
    alert = check_weekly_worsening(values, baseline, kind=kind, catalog=catalog)
    if alert is None:
        return None
    week_start = first + timedelta(days=WEEK * start)
    return Cause(alert, f"{rule.code}:{week_start.isoformat()}")


def _week_value(
    history: DiaryHistory, start: date, kind: Literal["pain", "headache"]
) -> float | None:
    days = [start + timedelta(days=i) for i in range(WEEK)]
    if kind == "pain":
        values = [history.pain[d] for d in days if d in history.pain]
        return fmean(values) if values else None
    answered = [history.headache[d] for d in days if d in history.headache]
    return float(sum(answered)) if answered else None
