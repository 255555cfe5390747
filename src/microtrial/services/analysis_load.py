"""Loading a trial's analysis inputs from the database: days by arm, doses, events, guesses.

No fitting here (``analysis_fit``): the caller loads inside a transaction and fits after it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from microtrial.analysis.completeness import PeriodPlan, count_completeness
from microtrial.domain.calendar import DoseEvent, Phase, TrialCalendar, summarise_adherence
from microtrial.domain.catalog import load_catalog
from microtrial.services.adverse_events import AdverseEventRead
from microtrial.services.analysis_model import (
    DISCRETE_ENDPOINTS,
    OFF_PROTOCOL,
    OUTCOMES,
    EndpointAnalysis,
    TrialInputs,
)
from microtrial.services.dosing import adherence_through, dose_events
from microtrial.services.trial_loaders import allocation_of, calendar_for
from microtrial.services.trial_views import TrialRead, read_trial
from microtrial.store.models import (
    AdverseEventRow,
    BlindingGuessRow,
    ConditionRow,
    DiaryEntryRow,
    DoseEventRow,
    PatientRow,
    PeriodRow,
    TrialRow,
)

# The endpoint instrument's current entries of a patient between two dates, by date:
# ``(instrument, first, last) -> {date: score dict}`` (a query, or a look-up in a bulk load).
EndpointEntries = Callable[[str, dt.date, dt.date], dict[dt.date, dict[str, Any]]]


@dataclass(frozen=True)
class TrialData:
    """What the analysis reads of one trial, as read (``load_inputs`` or a bulk load)."""

    trial: TrialRow
    patient: PatientRow
    arms: list[str]
    calendar: TrialCalendar
    view: TrialRead
    doses: list[DoseEvent]
    dosed: set[dt.date]  # dates of the current dose rows, a row without a time included
    entries: dict[dt.date, dict[str, Any]]  # the daily diary's scores within the calendar
    events: list[AdverseEventRead]  # current adverse events by onset date
    guesses: list[tuple[int, str, Any]]  # current (period number, guess, confidence)
    conditions: list[str]  # current ICD-10 codes, sorted
    group: str | None
    endpoint_entries: EndpointEntries


def load_inputs(
    session: Session, trial: TrialRow, patient: PatientRow, now: dt.datetime
) -> TrialInputs:
    """Read one trial's days, doses, adverse events, guesses and conditions (no fitting)."""
    arms = allocation_of(session, trial)
    calendar = calendar_for(session, trial, patient)
    # (date, scores) only: whole ORM rows take several times longer to load
    entries: dict[dt.date, dict[str, Any]] = dict(
        session.execute(
            select(DiaryEntryRow.local_date, DiaryEntryRow.scores).where(
                DiaryEntryRow.patient_id == patient.id,
                DiaryEntryRow.instrument_id == "daily_diary",
                DiaryEntryRow.is_current.is_(True),
                DiaryEntryRow.local_date >= calendar.first_date,
                DiaryEntryRow.local_date <= calendar.last_date,
            )
        )
        .tuples()
        .all()
    )
    dosed = set(
        session.execute(
            select(DoseEventRow.local_date).where(
                DoseEventRow.trial_id == trial.id, DoseEventRow.is_current.is_(True)
            )
        ).scalars()
    )
    events = [
        AdverseEventRead.model_validate(r)
        for r in session.execute(
            select(AdverseEventRow)
            .where(AdverseEventRow.trial_id == trial.id, AdverseEventRow.is_current.is_(True))
            .order_by(AdverseEventRow.onset_date)
        ).scalars()
    ]
    conditions = sorted(
        session.execute(
            select(ConditionRow.icd10_code).where(
                ConditionRow.patient_id == patient.id, ConditionRow.is_current.is_(True)
            )
        ).scalars()
    )
    guesses = session.execute(
        select(PeriodRow.number, BlindingGuessRow.guess, BlindingGuessRow.confidence)
        .join(PeriodRow, PeriodRow.id == BlindingGuessRow.period_id)
        .where(BlindingGuessRow.trial_id == trial.id, BlindingGuessRow.is_current.is_(True))
        .order_by(PeriodRow.number)
    ).all()

    def endpoint_entries(
        instrument: str, first: dt.date, last: dt.date
    ) -> dict[dt.date, dict[str, Any]]:
        rows = session.execute(
            select(DiaryEntryRow.local_date, DiaryEntryRow.scores).where(
                DiaryEntryRow.patient_id == patient.id,
                DiaryEntryRow.instrument_id == instrument,
                DiaryEntryRow.is_current.is_(True),
                DiaryEntryRow.local_date >= first,
                DiaryEntryRow.local_date <= last,
            )
        ).tuples()
        return dict(rows.all())

    data = TrialData(
        trial=trial,
        patient=patient,
        arms=arms,
        calendar=calendar,
        view=read_trial(session, trial, patient),
        doses=dose_events(session, trial),
        dosed=dosed,
        entries=entries,
        events=events,
        guesses=[(int(n), str(g), c) for n, g, c in guesses],
        conditions=conditions,
        group=condition_group_of(session, patient.id),
        endpoint_entries=endpoint_entries,
    )
    return inputs_from(data, now)


def inputs_from(data: TrialData, now: dt.datetime) -> TrialInputs:
    """A trial's analysis inputs from what was read of it (no I/O)."""
    trial, patient, calendar, arms = data.trial, data.patient, data.calendar, data.arms
    through = adherence_through(trial, patient, calendar, now)
    grades = {e.onset_date: e.grade for e in data.events}
    rows = []
    for day in calendar.days:
        entry = data.entries.get(day.date)
        scores = entry["scores"] if entry is not None else {}
        arm = "baseline" if day.period is None else arms[day.period - 1]
        if day.phase == Phase.PAUSED:
            arm = OFF_PROTOCOL  # a paused day belongs to no arm, whatever was taken
        rows.append(
            {
                "date": day.date,
                "study_day": (day.date - calendar.first_date).days,
                "phase": day.phase.value,
                "period": day.period,
                "arm": arm,
                "wash_in": day.is_wash_in,
                "dose_day": day.is_dose_day,
                "dose_taken": day.date in data.dosed,
                "ae_grade": grades.get(day.date),
                **{
                    name: (scores.get(score_id) or {}).get("value")
                    for name, score_id, _ in OUTCOMES
                },
            }
        )
    days = pd.DataFrame(rows)
    periods = _period_means(rows)
    plans = {
        p.number: PeriodPlan(p.block, (p.end_date - p.start_date).days + 1 - p.wash_in_days)
        for p in data.view.periods
    }
    return TrialInputs(
        trial=data.view,
        conditions=data.conditions,
        condition_group=data.group,
        days=days,
        period_means=periods,
        guesses=_guesses(trial.id, data.guesses, arms, periods),
        adverse_events=data.events,
        adherence=summarise_adherence(calendar, data.doses, through=through),
        doses_through=through,
        completeness=count_completeness(rows, plans),
        endpoint=_endpoint_days(data.endpoint_entries, days, data.group, set(data.entries)),
    )


def _period_means(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Mean pain and observed days per period and arm, wash-in and paused days left out.

    What ``groupby(["period", "arm"]).agg(mean, count)`` gives, in plain Python: the pandas
    group-by cost tens of milliseconds a trial, most of a batch refresh's loading.
    """
    kept: dict[tuple[int, str], list[float]] = {}
    for row in rows:
        if row["period"] is None or row["wash_in"] or row["phase"] == Phase.PAUSED.value:
            continue
        values = kept.setdefault((int(row["period"]), str(row["arm"])), [])
        if row["pain"] is not None and not (
            isinstance(row["pain"], float) and row["pain"] != row["pain"]
        ):
            values.append(float(row["pain"]))
    keys = sorted(kept)
    return pd.DataFrame(
        {
            "period": pd.Series([k[0] for k in keys], dtype="int64"),
            "arm": pd.Series([k[1] for k in keys], dtype="object"),
            "mean_pain": pd.Series(
                [
                    sum(v) / len(v) if v else float("nan")
                    for v in map(kept.get, keys)
                    if v is not None
                ],
                dtype="float64",
            ),
            "days_observed": pd.Series([len(kept[k]) for k in keys], dtype="int64"),
        }
    )


def _endpoint_days(
    endpoint_entries: EndpointEntries,
    days: pd.DataFrame,
    group: str | None,
    diary_kept: set[dt.date],
) -> EndpointAnalysis | None:
    """The group's primary endpoint per calendar day, when the discrete model analyses it."""
    catalog = load_catalog()
    found = catalog.groups.get(group or "")
    if found is None or found.endpoints.primary[0].instrument not in DISCRETE_ENDPOINTS:
        return None
    endpoint = found.endpoints.primary[0]
    score = catalog.instrument(endpoint.instrument).primary_score
    first, last = days["date"].min(), days["date"].max()
    logged = {
        day: ((scores or {}).get("scores") or {}).get(score) or {}
        for day, scores in endpoint_entries(endpoint.instrument, first, last).items()
    }
    values: list[float] = []
    sources: list[str] = []
    for day in days["date"]:
        if day in logged:
            value = logged[day].get("value")
            values.append(float(value) if value is not None else float("nan"))
            sources.append("entry")
        elif logged and day in diary_kept:
            # Why 0 and not missing: the day's entry of a headache instrument is written when
            # the patient logs an attack (services.attacks), so a day without a headache or an
            # attack has no entry of its own. A day on which the daily diary was kept but
            # nothing was logged is therefore a day without one. A day with neither entry is
            # missing, and a trial without a single entry of the instrument is not analysed
            # at all (an unused log says nothing about attacks).
            values.append(0.0)
            sources.append("diary")
        else:
            values.append(float("nan"))
            sources.append("none")
    frame = days[["date", "study_day", "phase", "period", "arm", "wash_in"]].assign(
        value=values, source=sources
    )
    return EndpointAnalysis(
        endpoint_id=endpoint.id,
        description=endpoint.description,
        instrument=endpoint.instrument,
        score=score,
        outcome_type=DISCRETE_ENDPOINTS[endpoint.instrument],
        entries=len(logged),
        days=frame,
    )


def _guesses(
    trial_id: int, rows: list[tuple[int, str, Any]], arms: list[str], periods: pd.DataFrame
) -> pd.DataFrame:
    means = dict(zip(periods["period"], periods["mean_pain"], strict=True))
    frame = pd.DataFrame(
        [
            {
                "trial_id": str(trial_id),
                "period": number,
                "arm": arms[number - 1],
                "guess": guess,
                "confidence": confidence,
                "correct": guess == arms[number - 1],
                "value": means.get(number),
            }
            for number, guess, confidence in rows
        ],
        columns=["trial_id", "period", "arm", "guess", "confidence", "correct", "value"],
    )
    return frame


def condition_group_of(session: Session, patient_id: int) -> str | None:
    """The catalog condition group of the patient's first current catalog condition."""
    catalog = load_catalog()
    for code in session.execute(
        select(ConditionRow.icd10_code).where(
            ConditionRow.patient_id == patient_id, ConditionRow.is_current.is_(True)
        )
    ).scalars():
        condition = catalog.condition_by_code(code)
        if condition is not None:
            return condition.group
    return None
