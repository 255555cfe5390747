"""Plain, frozen snapshots of one patient's stored data, as the exporters take them.

``services.exports`` fills these after its access checks; the exporters in this package are pure
functions of them. A period's ``arm`` is filled only for an unblinded trial: the service never
reads the allocation of a blinded one, so no exporter can leak it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "AdverseEventData",
    "ConditionData",
    "DiaryData",
    "DoseData",
    "GuessData",
    "MedicationData",
    "PatientExport",
    "PeriodData",
    "ScreeningData",
    "TrialData",
]


@dataclass(frozen=True)
class ConditionData:
    """A current diagnosis."""

    record_id: str
    icd10_code: str
    status: str


@dataclass(frozen=True)
class MedicationData:
    """A current medication as entered: added on ``added_on``, stopped on ``end_date``."""

    record_id: str
    name: str
    status: str
    added_on: dt.date | None = None
    end_date: dt.date | None = None


@dataclass(frozen=True)
class PeriodData:
    """A treatment period; ``arm`` only once the trial is unblinded."""

    number: int
    block: int
    start_date: dt.date
    end_date: dt.date
    wash_in_days: int
    kit_code: str
    arm: str | None = None


@dataclass(frozen=True)
class TrialData:
    """A trial and its periods."""

    id: int
    status: str
    start_date: dt.date
    substance: str
    regimen_template: str
    regimen_text: str
    run_in_days: int
    period_days: int
    wash_in_days: int
    periods: tuple[PeriodData, ...]
    unblinded: bool
    unblinded_early: bool
    created_at: dt.datetime

    @property
    def end_date(self) -> dt.date:
        """The last day of the last period (the start date when there is none)."""
        return max((p.end_date for p in self.periods), default=self.start_date)

    def period_on(self, day: dt.date) -> PeriodData | None:
        """The period running on ``day``, if any."""
        for period in self.periods:
            if period.start_date <= day <= period.end_date:
                return period
        return None

    def period_by_kit(self, kit_code: str | None) -> PeriodData | None:
        """The period whose kit carries ``kit_code``."""
        for period in self.periods:
            if kit_code is not None and period.kit_code == kit_code:
                return period
        return None


@dataclass(frozen=True)
class DiaryData:
    """A current diary entry with its stored scores."""

    record_id: str
    instrument_id: str
    local_date: dt.date
    answers: dict[str, Any]
    scores: dict[str, Any]
    submitted_at: dt.datetime
    trial_id: int | None
    version: int = 1  # above 1: corrected since it was first saved


@dataclass(frozen=True)
class DoseData:
    """A current dose check-in."""

    record_id: str
    trial_id: int | None
    local_date: dt.date
    taken_at: dt.datetime | None
    kit_code: str | None
    status: str


@dataclass(frozen=True)
class AdverseEventData:
    """A current adverse event (CTCAE grade 1-5)."""

    record_id: str
    term: str
    grade: int
    serious: bool
    onset_date: dt.date
    resolved_date: dt.date | None
    trial_id: int | None


@dataclass(frozen=True)
class ScreeningData:
    """A current screening result: the decision and its findings' rule ids and severities."""

    record_id: str
    substance: str
    decision: str
    findings: tuple[tuple[str, str], ...]  # (rule id, severity), most severe first
    recorded_at: dt.datetime
    signed_off_at: dt.datetime | None
    version: int = 1  # above 1: re-screened or signed off since it was first stored


@dataclass(frozen=True)
class GuessData:
    """A patient's guess of a period's arm."""

    record_id: str
    trial_id: int
    period_number: int
    guess: str
    confidence: int | None


@dataclass(frozen=True)
class PatientExport:
    """Everything exported about one patient."""

    id: int
    site_code: str
    study_code: str
    birth_year: int
    sex: str
    time_zone: str
    enrolled_on: dt.date
    conditions: tuple[ConditionData, ...] = ()
    medications: tuple[MedicationData, ...] = ()
    trials: tuple[TrialData, ...] = ()
    diary: tuple[DiaryData, ...] = ()
    doses: tuple[DoseData, ...] = ()
    adverse_events: tuple[AdverseEventData, ...] = ()
    guesses: tuple[GuessData, ...] = field(default=())
    screenings: tuple[ScreeningData, ...] = ()

    @property
    def reference_date(self) -> dt.date:
        """Study day 1: the first trial's start, else the first recorded day, else enrolment."""
        if self.trials:
            return self.trials[0].start_date
        days = [d.local_date for d in self.diary] + [d.local_date for d in self.doses]
        days += [e.onset_date for e in self.adverse_events]
        return min(days, default=self.enrolled_on)

    def trial_for(self, day: dt.date, trial_id: int | None = None) -> TrialData | None:
        """The trial a record belongs to: by id, else the one covering ``day``, else the first."""
        for trial in self.trials:
            if trial_id is not None and trial.id == trial_id:
                return trial
        for trial in self.trials:
            if trial.start_date <= day <= trial.end_date:
                return trial
        return self.trials[0] if self.trials else None
