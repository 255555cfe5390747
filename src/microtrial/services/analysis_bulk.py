"""Loading many trials' analysis inputs at once: one query per table per chunk of trials.

What ``analysis_load.load_inputs`` gives for one trial (about 15 queries and 20 ms), for a whole
refresh: each input table (trials with their patients, periods, kits, allocations, doses,
adverse events, guesses, interim looks, the patients' diary entries and conditions) is read once
per chunk of ``chunk`` trial ids with an ``IN`` list, grouped in memory, and assembled by the same
code as the per-trial loader (``analysis_load.inputs_from``). The statement count of a load is
therefore ten per chunk, whatever the number of trials.

Each trial's *data version* (``trial_fits.data_versions``) is computed from the same rows, every
version of each row included, so that the inputs and the version stored with a fit are one read.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from microtrial.domain.catalog import load_catalog
from microtrial.domain.lifecycle import TrialStatus
from microtrial.services.adaptive import adaptive_view
from microtrial.services.adverse_events import AdverseEventRead
from microtrial.services.analysis_load import TrialData, inputs_from
from microtrial.services.analysis_model import TrialInputs
from microtrial.services.dosing import dose_events_of
from microtrial.services.trial_loaders import calendar_of
from microtrial.services.trial_views import period_reads, trial_read
from microtrial.store.models import (
    AdverseEventRow,
    AllocationRow,
    BlindingGuessRow,
    ConditionRow,
    DiaryEntryRow,
    DoseEventRow,
    InterimLookRow,
    KitRow,
    PatientRow,
    PeriodRow,
    TrialRow,
)

# Part of every data version: raise it when what a fit stores or how it is computed changes,
# and every stored fit becomes stale (the next refresh recomputes them all).
FIT_FORMAT = "1"
CHUNK = 1000  # trial ids per IN (...) list: well under SQLite's and PostgreSQL's parameter limits

Aggregate = tuple[int, int]  # row count and newest id: any insert (a new version too) changes it


def version_of(
    trial_fields: Sequence[Any],
    periods: Sequence[str] | None,
    by_patient: Sequence[Aggregate | None],
    by_trial: Sequence[Aggregate | None],
) -> str:
    """A trial's data version from its trial fields, period summary and per-table aggregates.

    ``by_patient``: diary entries, conditions; ``by_trial``: doses, adverse events, guesses.
    """
    parts = [FIT_FORMAT, [str(f) for f in trial_fields], periods, *by_patient, *by_trial]
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def version_fields(trial: TrialRow) -> list[Any]:
    """The trial row's fields a data version covers (in ``data_versions``'s order)."""
    return [
        trial.status,
        trial.lock_version,
        trial.plan,
        trial.unblinded_at,
        trial.unblinded_early,
    ]


@dataclass(frozen=True)
class BulkLoad:
    """The inputs of many trials (in trial id order) and each trial's data version."""

    inputs: list[TrialInputs]
    versions: dict[int, str]
    statements: int  # SELECTs issued (ten per chunk)


def load_many(
    session: Session, trial_ids: Sequence[int], now: dt.datetime, *, chunk: int = CHUNK
) -> BulkLoad:
    """Load the analysis inputs and data versions of ``trial_ids``, ``chunk`` ids per query."""
    inputs: list[TrialInputs] = []
    versions: dict[int, str] = {}
    ordered = sorted(set(trial_ids))
    chunks = [ordered[i : i + chunk] for i in range(0, len(ordered), chunk)]
    for ids in chunks:
        part = _Chunk(session, ids)
        for trial, patient in part.trials:
            inputs.append(inputs_from(part.data(session, trial, patient), now))
            versions[trial.id] = part.version(trial)
    return BulkLoad(inputs, versions, statements=10 * len(chunks))


def _by(rows: Iterable[Any], key: str) -> dict[int, list[Any]]:
    """Rows grouped by one attribute, in the order given."""
    grouped: dict[int, list[Any]] = defaultdict(list)
    for row in rows:
        grouped[getattr(row, key)].append(row)
    return grouped


def _grouped(
    session: Session, what: Any, key: Any, ids: Sequence[int], *order: Any
) -> dict[int, list[Any]]:
    """One read of a table for a chunk: the rows whose ``key`` is in ``ids``, grouped by it.

    ``what`` is a row class (whole rows) or a tuple of its columns (lighter rows).
    """
    query = select(*what) if isinstance(what, tuple) else select(what)
    result = session.execute(query.where(key.in_(ids)).order_by(*order))
    return _by(result if isinstance(what, tuple) else result.scalars(), key.key)


# The columns read where whole rows are not needed (the loaders read only these).
_DOSES = (
    DoseEventRow.id,
    DoseEventRow.trial_id,
    DoseEventRow.is_current,
    DoseEventRow.local_date,
    DoseEventRow.taken_at,
    DoseEventRow.kit_code,
    DoseEventRow.record_id,
    DoseEventRow.deviation,
)
_GUESSES = (
    BlindingGuessRow.id,
    BlindingGuessRow.trial_id,
    BlindingGuessRow.is_current,
    BlindingGuessRow.period_id,
    BlindingGuessRow.guess,
    BlindingGuessRow.confidence,
)
_DIARY = (
    DiaryEntryRow.id,
    DiaryEntryRow.patient_id,
    DiaryEntryRow.is_current,
    DiaryEntryRow.instrument_id,
    DiaryEntryRow.local_date,
    DiaryEntryRow.scores,
)
_CONDITIONS = (
    ConditionRow.id,
    ConditionRow.patient_id,
    ConditionRow.is_current,
    ConditionRow.icd10_code,
)


def _aggregate(rows: list[Any] | None) -> Aggregate | None:
    """What ``trial_fits`` counts per key: rows of every version, and the newest id."""
    return (len(rows), max(r.id for r in rows)) if rows else None


class _Chunk:
    """One chunk of trials' rows, each table read once and grouped by trial or patient."""

    def __init__(self, session: Session, ids: Sequence[int]) -> None:
        self.trials = list(
            session.execute(
                select(TrialRow, PatientRow)
                .join(PatientRow, PatientRow.id == TrialRow.patient_id)
                .where(TrialRow.id.in_(ids))
                .order_by(TrialRow.id)
            ).tuples()
        )
        patients = sorted({p.id for _, p in self.trials})
        self.periods = _grouped(session, PeriodRow, PeriodRow.trial_id, ids, PeriodRow.number)
        self.kits = {
            k.period_id: k
            for k in session.execute(select(KitRow).where(KitRow.trial_id.in_(ids))).scalars()
        }
        self.arms = {
            t: [str(a) for a in seq]
            for t, seq in session.execute(
                select(AllocationRow.trial_id, AllocationRow.sequence).where(
                    AllocationRow.trial_id.in_(ids)
                )
            ).tuples()
        }
        self.doses = _grouped(session, _DOSES, DoseEventRow.trial_id, ids, DoseEventRow.id)
        onset = (AdverseEventRow.onset_date, AdverseEventRow.id)
        self.events = _grouped(session, AdverseEventRow, AdverseEventRow.trial_id, ids, *onset)
        self.guesses = _grouped(
            session, _GUESSES, BlindingGuessRow.trial_id, ids, BlindingGuessRow.id
        )
        self.looks = _grouped(
            session, InterimLookRow, InterimLookRow.trial_id, ids, InterimLookRow.pair
        )
        self.diary = _grouped(session, _DIARY, DiaryEntryRow.patient_id, patients)
        self.conditions = _grouped(
            session, _CONDITIONS, ConditionRow.patient_id, patients, ConditionRow.id
        )
        # the current entries of each patient by instrument and date
        self.current: dict[int, dict[str, dict[dt.date, dict[str, Any]]]] = {}
        for patient_id, rows in self.diary.items():
            found: dict[str, dict[dt.date, dict[str, Any]]] = defaultdict(dict)
            for row in rows:
                if row.is_current:
                    found[row.instrument_id][row.local_date] = row.scores
            self.current[patient_id] = found

    def data(self, session: Session, trial: TrialRow, patient: PatientRow) -> TrialData:
        """One trial's rows as the per-trial loader reads them."""
        periods = self.periods.get(trial.id, [])
        pairs = [
            (p, self.kits[p.id])
            for p in periods
            if p.id in self.kits and self.kits[p.id].returned_at is None
        ]
        arms = self.arms[trial.id]
        calendar = calendar_of(trial, patient, pairs)
        shown = arms if trial.status == TrialStatus.UNBLINDED else None
        view = trial_read(
            trial,
            patient,
            period_reads(pairs, shown),
            adaptive_view(session, trial, self.looks.get(trial.id, [])),
        )
        current = [d for d in self.doses.get(trial.id, []) if d.is_current]
        daily = self.current.get(patient.id, {}).get("daily_diary", {})
        first, last = calendar.first_date, calendar.last_date
        numbers = {p.id: p.number for p in periods}
        guesses = sorted(
            (
                (numbers[g.period_id], g.id, str(g.guess), g.confidence)
                for g in self.guesses.get(trial.id, [])
                if g.is_current
            ),
            key=lambda g: (g[0], g[1]),
        )
        codes = [c.icd10_code for c in self.conditions.get(patient.id, []) if c.is_current]
        by_instrument = self.current.get(patient.id, {})

        def endpoint_entries(
            instrument: str, start: dt.date, end: dt.date
        ) -> dict[dt.date, dict[str, Any]]:
            logged = by_instrument.get(instrument, {})
            return {d: s for d, s in logged.items() if start <= d <= end}

        return TrialData(
            trial=trial,
            patient=patient,
            arms=arms,
            calendar=calendar,
            view=view,
            doses=dose_events_of(current),
            dosed={d.local_date for d in current},
            entries={d: s for d, s in daily.items() if first <= d <= last},
            events=[
                AdverseEventRead.model_validate(e)
                for e in self.events.get(trial.id, [])
                if e.is_current
            ],
            guesses=[(n, g, c) for n, _, g, c in guesses],
            conditions=sorted(codes),
            group=group_of(codes),
            endpoint_entries=endpoint_entries,
        )

    def version(self, trial: TrialRow) -> str:
        """The trial's data version, from the rows of this chunk (every version of each row)."""
        periods = self.periods.get(trial.id)
        summary = (
            (
                str(len(periods)),
                str(min(p.start_date for p in periods)),
                str(max(p.end_date for p in periods)),
                str(sum(p.washin_days for p in periods)),
            )
            if periods
            else None
        )
        return version_of(
            version_fields(trial),
            summary,
            [
                _aggregate(self.diary.get(trial.patient_id)),
                _aggregate(self.conditions.get(trial.patient_id)),
            ],
            [
                _aggregate(self.doses.get(trial.id)),
                _aggregate(self.events.get(trial.id)),
                _aggregate(self.guesses.get(trial.id)),
            ],
        )


def group_of(codes: list[str]) -> str | None:
    """The catalog group of the first current catalog condition (``condition_group_of``)."""
    catalog = load_catalog()
    for code in codes:
        condition = catalog.condition_by_code(code)
        if condition is not None:
            return condition.group
    return None
