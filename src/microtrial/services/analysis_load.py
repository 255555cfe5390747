"""Loading a trial's analysis inputs from the database: days by arm, doses, events, guesses.

No fitting here (``analysis_fit``): the caller loads inside a transaction and fits after it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from microtrial.analysis.completeness import PeriodPlan, assess_completeness
from microtrial.domain.calendar import Phase, summarise_adherence
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
from microtrial.services.trial_views import read_trial
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


def load_inputs(
    session: Session, trial: TrialRow, patient: PatientRow, now: dt.datetime
) -> TrialInputs:
    """Read one trial's days, doses, adverse events, guesses and conditions (no fitting)."""
    arms = allocation_of(session, trial)
    calendar = calendar_for(session, trial, patient)
    doses = dose_events(session, trial)
    through = adherence_through(trial, patient, calendar, now)
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
    grades = {e.onset_date: e.grade for e in events}
    rows = []
    for day in calendar.days:
        entry = entries.get(day.date)
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
                "dose_taken": day.date in dosed,
                "ae_grade": grades.get(day.date),
                **{
                    name: (scores.get(score_id) or {}).get("value")
                    for name, score_id, _ in OUTCOMES
                },
            }
        )
    days = pd.DataFrame(rows)
    periods = _period_means(rows)
    conditions = sorted(
        session.execute(
            select(ConditionRow.icd10_code).where(
                ConditionRow.patient_id == patient.id, ConditionRow.is_current.is_(True)
            )
        ).scalars()
    )
    group = condition_group_of(session, patient.id)
    view = read_trial(session, trial, patient)
    plans = {
        p.number: PeriodPlan(p.block, (p.end_date - p.start_date).days + 1 - p.wash_in_days)
        for p in view.periods
    }
    return TrialInputs(
        trial=view,
        conditions=conditions,
        condition_group=group,
        days=days,
        period_means=periods,
        guesses=_guesses(session, trial, arms, periods),
        adverse_events=events,
        adherence=summarise_adherence(calendar, doses, through=through),
        doses_through=through,
        completeness=assess_completeness(days, plans),
        endpoint=_endpoint_days(session, patient, days, group, set(entries)),
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
    session: Session,
    patient: PatientRow,
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
        e.local_date: ((e.scores or {}).get("scores") or {}).get(score) or {}
        for e in session.execute(
            select(DiaryEntryRow).where(
                DiaryEntryRow.patient_id == patient.id,
                DiaryEntryRow.instrument_id == endpoint.instrument,
                DiaryEntryRow.is_current.is_(True),
                DiaryEntryRow.local_date >= first,
                DiaryEntryRow.local_date <= last,
            )
        ).scalars()
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
    session: Session, trial: TrialRow, arms: list[str], periods: pd.DataFrame
) -> pd.DataFrame:
    rows = session.execute(
        select(PeriodRow.number, BlindingGuessRow.guess, BlindingGuessRow.confidence)
        .join(PeriodRow, PeriodRow.id == BlindingGuessRow.period_id)
        .where(BlindingGuessRow.trial_id == trial.id, BlindingGuessRow.is_current.is_(True))
        .order_by(PeriodRow.number)
    ).all()
    means = dict(zip(periods["period"], periods["mean_pain"], strict=True))
    frame = pd.DataFrame(
        [
            {
                "trial_id": str(trial.id),
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
