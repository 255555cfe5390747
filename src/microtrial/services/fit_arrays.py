"""The refresh's stored fits computed for all stale trials at once, the days as arrays.

What ``analysis_load.load_inputs`` + ``analysis_fit.fit_loaded(cohort=True)`` +
``trial_fits``'s fit row give one trial at a time (a frame of days, period means, completeness
and a guesses frame per trial), for thousands of trials: each input table is read once per
chunk of trial ids, only the columns the cohort stores are read (the daily diary's three
outcome values are taken out of the JSON by the database, not decoded per row in Python),
every trial's days are joined into one set of arrays, and the period means, completeness
counts, arms of adverse events and fit rows are computed over all trials with numpy. What stays
per trial is small: the calendar (pauses shift it), the dose adherence and the few guesses.

The single-trial result keeps the per-trial loader; a test checks that both give the same
stored rows for every demo trial (tests/integration/test_bulk_inputs.py).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import literal_column, select
from sqlalchemy.orm import Session

from microtrial.analysis.blinding import DONT_KNOW
from microtrial.analysis.completeness import ARMS, Completeness, PeriodPlan, assess_counts
from microtrial.domain.calendar import Phase, zone
from microtrial.services.analysis_bulk import CHUNK, group_of
from microtrial.services.analysis_fit import JoinedDays, fit_days
from microtrial.services.analysis_model import OFF_PROTOCOL, OUTCOMES, json_records
from microtrial.services.dosing import adherence_until
from microtrial.services.trial_loaders import calendar_days_of
from microtrial.store import models

_DATE_SPAN = 4_000_000  # above any date's ordinal: (patient, date) as one integer key


@dataclass
class _Trial:
    """What one trial adds besides its days: read and counted per trial."""

    trial_id: int
    unblinded_early: bool
    group: str | None
    arms: list[str]
    plans: dict[int, PeriodPlan]
    through: int  # the last day dose adherence counts (ordinal)
    guesses: list[tuple[int, str, Any]]  # (period number, guess, confidence), current
    onsets: list[int]  # adverse events' onset dates (ordinals), current
    serious: int


@dataclass
class DaysLoad:
    """Every loaded trial's facts, and their calendar days joined (one entry per day)."""

    trials: list[_Trial] = field(default_factory=list)
    index: list[int] = field(default_factory=list)  # the day's trial (position in ``trials``)
    ordinal: list[int] = field(default_factory=list)  # the day's date
    study_day: list[int] = field(default_factory=list)
    period: list[int] = field(default_factory=list)  # 0: run-in or paused
    wash_in: list[bool] = field(default_factory=list)
    paused: list[bool] = field(default_factory=list)
    dose_day: list[bool] = field(default_factory=list)
    key: list[int] = field(default_factory=list)  # (patient, date) as one integer
    # the local dates with a current dose, as (trial position, date) integers
    dose_keys: list[int] = field(default_factory=list)
    # the daily diary's current values by (patient, date) key, per outcome
    diary_keys: list[int] = field(default_factory=list)
    diary_values: dict[str, list[float | None]] = field(
        default_factory=lambda: {name: [] for name, _, _ in OUTCOMES}
    )


def load_days(session: Session, trial_ids: Sequence[int], now: dt.datetime) -> DaysLoad:
    """Read what the stored fits of ``trial_ids`` need, ``CHUNK`` ids per query (no fitting)."""
    load = DaysLoad()
    ordered = sorted(set(trial_ids))
    for i in range(0, len(ordered), CHUNK):
        _load_chunk(session, ordered[i : i + CHUNK], now, load)
    return load


def _current(session: Session, columns: Sequence[Any], ids: Sequence[int], *where: Any) -> Any:
    """The current rows' ``columns`` whose first column (the key) is in ``ids``, grouped by it
    in id order."""
    key = columns[0]
    table = key.class_
    return _grouped(
        _rows(
            session,
            select(*columns).where(key.in_(ids), _is_current(table), *where).order_by(table.id),
        )
    )


def _is_current(table: Any) -> Any:
    """``is_current`` as a bare term: SQLite then looks rows up by the key's index (or the
    diary's partial index of current rows), where ``is_current = 1`` made it read every
    current row of the table through the ``is_current`` index, once per chunk."""
    return literal_column(f"{table.__tablename__}.is_current")


# The columns the calendar and the adherence read of a trial and its patient
# (``calendar_of``, ``adherence_through``: the trial's plan, start and unblinding, the
# patient's time zone), one light row serving as both; and of a period and its kit.
_TRIAL = (
    models.TrialRow.id,
    models.TrialRow.plan,
    models.TrialRow.start_date,
    models.TrialRow.unblinded_at,
    models.TrialRow.unblinded_early,
    models.TrialRow.patient_id,
    models.PatientRow.time_zone,
)
_PERIOD = (
    models.PeriodRow.id,
    models.PeriodRow.trial_id,
    models.PeriodRow.number,
    models.PeriodRow.block,
    models.PeriodRow.start_date,
    models.PeriodRow.end_date,
    models.PeriodRow.washin_days,
    models.KitRow.code,
    models.KitRow.returned_at,
)


def _rows(session: Session, query: Any) -> list[Any]:
    """Plain rows of a column query, not through the ORM (its per-row work cost more than
    everything done with the rows), fetched all at once (row by row is a call per row)."""
    return list(session.connection().execute(query).all())


def _load_chunk(session: Session, ids: Sequence[int], now: dt.datetime, load: DaysLoad) -> None:
    trials = _rows(
        session,
        select(*_TRIAL)
        .join(models.PatientRow, models.PatientRow.id == models.TrialRow.patient_id)
        .where(models.TrialRow.id.in_(ids))
        .order_by(models.TrialRow.id),
    )
    pairs: dict[int, list[Any]] = defaultdict(list)  # (period, kit), the kit not returned
    numbers: dict[int, int] = {}
    for period in _rows(
        session,
        select(*_PERIOD)
        .outerjoin(models.KitRow, models.KitRow.period_id == models.PeriodRow.id)
        .where(models.PeriodRow.trial_id.in_(ids))
        .order_by(models.PeriodRow.trial_id, models.PeriodRow.number),
    ):
        numbers[period.id] = period.number
        if period.code is not None and period.returned_at is None:
            pairs[period.trial_id].append((period, period))  # the row is the kit's too
    arms: dict[int, list[Any]] = {
        t: list(seq)
        for t, seq in _rows(
            session,
            select(models.AllocationRow.trial_id, models.AllocationRow.sequence).where(
                models.AllocationRow.trial_id.in_(ids)
            ),
        )
    }
    # the times of the current dose rows (a row without a time is no dose event)
    taken = (models.DoseEventRow.trial_id, models.DoseEventRow.taken_at)
    doses = _current(session, taken, ids, models.DoseEventRow.taken_at.is_not(None))
    onsets = (
        models.AdverseEventRow.trial_id,
        models.AdverseEventRow.onset_date,
        models.AdverseEventRow.serious,
    )
    events = _current(session, onsets, ids)
    guessed = (
        models.BlindingGuessRow.trial_id,
        models.BlindingGuessRow.period_id,
        models.BlindingGuessRow.guess,
        models.BlindingGuessRow.confidence,
    )
    guesses = _current(session, guessed, ids)
    patients = sorted({t.patient_id for t in trials})
    codes = _current(
        session, (models.ConditionRow.patient_id, models.ConditionRow.icd10_code), patients
    )
    _read_diary(session, patients, load)
    for trial in trials:
        patient = trial  # the row holds the patient's columns too
        position = len(load.trials)
        days = calendar_days_of(trial, patient, pairs.get(trial.id, []))
        dates, _, phases, periods, _, wash_in, dose_day, _ = zip(*days, strict=True)
        ordinals = [d.toordinal() for d in dates]
        first = ordinals[0]
        load.index.extend([position] * len(days))
        load.ordinal.extend(ordinals)
        load.study_day.extend([o - first for o in ordinals])
        load.period.extend([p or 0 for p in periods])
        load.wash_in.extend(wash_in)
        load.paused.extend([p == Phase.PAUSED for p in phases])
        load.dose_day.extend(dose_day)
        base = trial.patient_id * _DATE_SPAN
        load.key.extend([base + o for o in ordinals])
        # doses count on the patient's local date of their time (``summarise_adherence``)
        tz = zone(patient.time_zone)
        base = position * _DATE_SPAN
        load.dose_keys.extend(
            {base + d.taken_at.astimezone(tz).toordinal() for d in doses.get(trial.id, [])}
        )
        found = events.get(trial.id, [])
        load.trials.append(
            _Trial(
                trial_id=trial.id,
                unblinded_early=trial.unblinded_early,
                group=group_of([c for _, c in codes.get(trial.patient_id, [])]),
                arms=[str(a) for a in arms[trial.id]],
                plans={
                    p.number: PeriodPlan(
                        p.block, (p.end_date - p.start_date).days + 1 - p.washin_days
                    )
                    for p, _ in pairs.get(trial.id, [])
                },
                through=adherence_until(trial, patient, dates[-1], now).toordinal(),
                guesses=[
                    (numbers[g.period_id], str(g.guess), g.confidence)
                    for g in sorted(guesses.get(trial.id, []), key=lambda g: numbers[g.period_id])
                ],
                onsets=[e.onset_date.toordinal() for e in found],
                serious=sum(1 for e in found if e.serious),
            )
        )


def _grouped(rows: Any) -> dict[int, list[Any]]:
    """Rows grouped by their first column, in the order read."""
    grouped: dict[int, list[Any]] = defaultdict(list)
    for row in rows:
        grouped[row[0]].append(row)
    return grouped


def _read_diary(session: Session, patients: Sequence[int], load: DaysLoad) -> None:
    """The patients' current daily-diary values, taken out of the JSON by the database."""
    values = [
        models.DiaryEntryRow.scores[("scores", score, "value")].as_float()
        for _, score, _ in OUTCOMES
    ]
    rows = _rows(
        session,
        select(models.DiaryEntryRow.patient_id, models.DiaryEntryRow.local_date, *values).where(
            models.DiaryEntryRow.patient_id.in_(patients),
            models.DiaryEntryRow.instrument_id == "daily_diary",
            _is_current(models.DiaryEntryRow),
        ),
    )
    if not rows:
        return
    patient_ids, dates, *found = zip(*rows, strict=True)  # columns, not a loop over rows
    load.diary_keys.extend(
        [p * _DATE_SPAN + d.toordinal() for p, d in zip(patient_ids, dates, strict=True)]
    )
    for (name, _, _), column in zip(OUTCOMES, found, strict=True):
        load.diary_values[name].extend(column)


def fit_rows(load: DaysLoad, versions: dict[int, str], at: dt.datetime) -> list[dict[str, Any]]:
    """Each loaded trial's ``trial_fits`` row (what ``trial_fits`` stores), one engine call per
    outcome for all trials."""
    if not load.trials:
        return []
    n = len(load.trials)
    index = np.asarray(load.index, dtype=np.int64)
    period = np.asarray(load.period, dtype=np.int64)
    wash_in = np.asarray(load.wash_in, dtype=bool)
    paused = np.asarray(load.paused, dtype=bool)
    values = _diary_values(load)
    width = max(period.max(initial=0), 1)
    # the day's arm: its period's arm, "baseline" in the run-in, none while paused
    table = np.full((n, width + 1), "baseline", dtype=object)
    for i, t in enumerate(load.trials):
        table[i, 1 : len(t.arms) + 1] = t.arms
    arm = table[index, period]
    arm[paused] = OFF_PROTOCOL
    pain = values["pain"]
    # period means and completeness count the period days after wash-in, pauses left out
    kept = (period > 0) & ~wash_in & ~paused
    analysed = kept & ~np.isnan(pain)
    cell = index * (width + 1) + period
    size = n * (width + 1)
    days_kept = np.bincount(cell[kept], minlength=size)
    observed = np.bincount(cell[analysed], minlength=size)
    # summed in day order, as the per-trial loader sums each period's days
    sums = np.bincount(cell[analysed], weights=pain[analysed], minlength=size)
    by_arm = {a: np.bincount(index[analysed & (arm == a)], minlength=n) for a in ARMS}
    paused_days = np.bincount(index[paused], minlength=n)
    planned, taken = _adherence(load, index)
    on = ~paused
    fitted = fit_days(
        JoinedDays(
            names=np.array([str(t.trial_id) for t in load.trials], dtype=object),
            index=index[on],
            day=np.asarray(load.study_day, dtype=np.int64)[on],
            arm=arm[on],
            exclude=wash_in[on],
            values={name: v[on] for name, v in values.items()},
        )
    )
    results = _results_by_trial(fitted.results, fitted.position, n)
    starts = np.searchsorted(index, np.arange(n))
    ends = np.searchsorted(index, np.arange(n), side="right")
    ordinal = np.asarray(load.ordinal, dtype=np.int64)
    # Python numbers for the per-trial loop below (indexing numpy arrays by the number is slow)
    kept_at, observed_at, sums_at = days_kept.tolist(), observed.tolist(), sums.tolist()
    arm_days = {a: by_arm[a].tolist() for a in ARMS}
    doses = list(zip(planned.tolist(), taken.tolist(), strict=True))
    paused_at = paused_days.tolist()
    rows = []
    for i, t in enumerate(load.trials):
        cells = range(i * (width + 1) + 1, (i + 1) * (width + 1))
        complete = assess_counts(
            {p: observed_at[c] for p, c in enumerate(cells, start=1) if observed_at[c]},
            {a: arm_days[a][i] for a in ARMS},
            paused_at[i],
            t.plans,
        )
        means = {
            p: (sums_at[c] / observed_at[c] if observed_at[c] else float("nan"))
            for p, c in enumerate(cells, start=1)
            if kept_at[c] and t.guesses
        }
        rows.append(
            {
                "trial_id": t.trial_id,
                "data_version": versions[t.trial_id],
                "computed_at": at,
                "condition_group": t.group,
                "unblinded_early": t.unblinded_early,
                "results": results[i],
                "guesses": _guess_rows(t, means),
                "counts": _counts(
                    t,
                    doses[i],
                    complete,
                    _onset_arms(t.onsets, arm, ordinal, int(starts[i]), int(ends[i])),
                ),
                "warnings": [*complete.warnings, *fitted.problems[i]],
            }
        )
    return rows


def _diary_values(load: DaysLoad) -> dict[str, np.ndarray]:
    """Each outcome's value on every loaded day (NaN: no current entry or no value)."""
    keys = np.asarray(load.diary_keys, dtype=np.int64)
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    day_keys = np.asarray(load.key, dtype=np.int64)
    at = np.minimum(np.searchsorted(keys, day_keys), max(len(keys) - 1, 0))
    found = (keys[at] == day_keys) if len(keys) else np.zeros(len(day_keys), dtype=bool)
    out = {}
    for name, column in load.diary_values.items():
        value = np.asarray(column, dtype=float)[order] if len(keys) else np.empty(0)
        out[name] = np.where(found, value[at] if len(keys) else np.nan, np.nan)
    return out


def _results_by_trial(
    results: dict[str, pd.DataFrame], position: dict[str, int], n: int
) -> list[list[dict[str, Any]]]:
    """Each trial's JSON result rows, one per fitted outcome in ``OUTCOMES`` order."""
    out: list[list[dict[str, Any]]] = [[] for _ in range(n)]
    frames = list(results.values())
    if frames and any(list(f.dtypes) != list(frames[0].dtypes) for f in frames):
        # a column typed apart by outcome would be joined per trial by pandas; not seen
        raise NotImplementedError("outcome results differ in their column types")
    for frame in frames:
        for trial_id, record in zip(frame["trial_id"], json_records(frame), strict=True):
            out[position[trial_id]].append(record)
    return out


def _onset_arms(
    onsets: list[int], arm: np.ndarray, ordinal: np.ndarray, start: int, end: int
) -> list[str | None]:
    """The arm of each adverse event's onset day (None outside the calendar)."""
    out: list[str | None] = []
    for onset in onsets:
        at = start + int(np.searchsorted(ordinal[start:end], onset))
        out.append(str(arm[at]) if at < end and ordinal[at] == onset else None)
    return out


def _guess_rows(t: _Trial, means: dict[int, float]) -> list[dict[str, Any]]:
    """The trial's guesses as the per-trial loader's guesses frame stores them (JSON rows)."""
    confidences = [c for _, _, c in t.guesses]
    typed = [c is not None for c in confidences]
    if any(typed) and not all(typed):  # pandas makes such a column float, None as NaN
        confidences = [float(c) if c is not None else None for c in confidences]
    rows = []
    for (number, guess, _), confidence in zip(t.guesses, confidences, strict=True):
        mean = means.get(number)
        rows.append(
            {
                "trial_id": str(t.trial_id),
                "period": number,
                "arm": t.arms[number - 1],
                "guess": guess,
                "confidence": confidence,
                "correct": guess == t.arms[number - 1],
                "value": None if mean is None or mean != mean else float(mean),
            }
        )
    return rows


def _adherence(load: DaysLoad, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each trial's dose days planned up to its ``through`` day and those with a dose."""
    ordinal = np.asarray(load.ordinal, dtype=np.int64)
    through = np.asarray([t.through for t in load.trials], dtype=np.int64)
    planned = np.asarray(load.dose_day, dtype=bool) & (ordinal <= through[index])
    dosed = np.isin(index * _DATE_SPAN + ordinal, np.asarray(load.dose_keys, dtype=np.int64))
    n = len(load.trials)
    return (
        np.bincount(index[planned], minlength=n),
        np.bincount(index[planned & dosed], minlength=n),
    )


def _counts(
    t: _Trial, doses: tuple[int, int], complete: Completeness, onset_arms: list[str | None]
) -> dict[str, Any]:
    """What the trial adds to the cohort's descriptive table (``analysis_fit.trial_counts``)."""
    named = [g for _, g, _ in t.guesses if g != DONT_KNOW]
    return {
        "condition": t.group or "other",
        "doses_planned": doses[0],
        "doses_taken": doses[1],
        "pairs_planned": complete.pairs_planned,
        "pairs_complete": complete.pairs_complete,
        "days_active": complete.analysed_days["active"],
        "days_placebo": complete.analysed_days["placebo"],
        "ae_active": onset_arms.count("active"),
        "ae_placebo": onset_arms.count("placebo"),
        "ae_serious": t.serious,
        "guesses": len(named),
        "guesses_correct": sum(
            1 for number, g, _ in t.guesses if g != DONT_KNOW and g == t.arms[number - 1]
        ),
    }
