"""The research export's data dictionary: every released column, its type, unit and codes.

Only the columns listed here leave (``interop.research`` refuses any other); each column's
manifest entry comes from its ``ColumnSpec``, and the columns flagged ``quasi_identifier`` are
the ones ``interop.k_anonymity`` checks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from microtrial.domain.adverse_events import OTHER_TERM
from microtrial.domain.lifecycle import TrialStatus

__all__ = [
    "ALLOWED_COLUMNS",
    "BLINDED",
    "DICTIONARY",
    "GUESS_VALUES",
    "NONE",
    "QUASI_IDENTIFIERS",
    "SUPPRESSED",
    "ColumnSpec",
]


@dataclass(frozen=True)
class ColumnSpec:
    """One released column in the data dictionary: its type, unit, allowed values and meaning."""

    type: Literal["integer", "number", "string", "date", "boolean"]
    description: str
    unit: str | None = None
    allowed: tuple[str, ...] | None = None
    value_range: tuple[int, int] | None = None
    codes: Mapping[str, str] = field(default_factory=dict)
    quasi_identifier: bool = False

    def entry(self, name: str) -> dict[str, Any]:
        """This column's manifest entry (keys without a value are left out)."""
        out: dict[str, Any] = {"name": name, "type": self.type, "description": self.description}
        if self.unit:
            out["unit"] = self.unit
        if self.allowed is not None:
            out["allowed"] = list(self.allowed)
        if self.value_range is not None:
            out["range"] = {"min": self.value_range[0], "max": self.value_range[1]}
        if self.codes:
            out["codes"] = dict(self.codes)
        out["quasi_identifier"] = self.quasi_identifier
        return out


# Every cell has a value: a missing value is written as a code listed in the dictionary, never
# as an empty cell. An empty cell makes readers guess (Dask infers each column's type from the
# first rows and fails when a column empty there holds text further down; Arrow and DuckDB read
# an all-empty column as null/text), so without codes the same file reads differently.
NONE = "none"
BLINDED = "blinded"
_ARM = ColumnSpec(
    "string",
    "Arm of the period the row falls in, released only for unblinded trials",
    allowed=("active", "placebo", BLINDED, NONE),
    codes={
        BLINDED: "the trial is still blinded",
        NONE: "no period: run-in days, or a day outside every trial",
    },
)
_PATIENT = ColumnSpec("string", "Patient pseudonym (keyed HMAC-SHA256; 'P' + 16 hex digits)")
_TRIAL = ColumnSpec(
    "string",
    "Trial pseudonym (keyed HMAC-SHA256; 'T' + 16 hex digits)",
    codes={NONE: "the row falls outside every trial"},
)
_STUDY_DAY = ColumnSpec(
    "integer", "Study day: day 1 = the trial's start, the day before is -1 (no day 0)", unit="day"
)
_PERIOD = ColumnSpec(
    "integer",
    "Treatment period number within the trial",
    value_range=(0, 1000),
    codes={"0": "no period: run-in days, or a day outside every trial"},
)
_WASH_IN = ColumnSpec(
    "integer", "Wash-in days at the start of each period (not analysed)", unit="day"
)
_GRADE_RANGE = (1, 5)
# the guesses a patient can give (analysis.blinding.GUESSES; interop may not import analysis,
# so a test keeps the two equal)
GUESS_VALUES = ("active", "placebo", "dont_know")

# The code of a value k-anonymity suppressed (``interop.k_anonymity``).
SUPPRESSED = "*"


def _suppressible(
    description: str, *, allowed: tuple[str, ...] | None = None, **codes: str
) -> ColumnSpec:
    """A text quasi-identifier that k-anonymity may suppress (to ``SUPPRESSED``)."""
    return ColumnSpec(
        "string",
        description,
        allowed=allowed,
        codes={**codes, SUPPRESSED: "suppressed (k-anonymity)"},
        quasi_identifier=True,
    )


DICTIONARY: dict[str, dict[str, ColumnSpec]] = {
    "patients": {
        "patient": _PATIENT,
        "site": _suppressible("Site pseudonym (keyed HMAC-SHA256; 'S' + 8 hex digits)"),
        "age_band": ColumnSpec(
            "string",
            "Age at the reference date in 10-year bands; 90 and over as '90+'",
            unit="year",
            allowed=(
                "<18",
                "18-19",
                *(f"{low}-{low + 9}" for low in range(20, 90, 10)),
                "90+",
                "18-44",
                "45-89",
                SUPPRESSED,
            ),
            codes={
                "18-44": "wide band (k-anonymity)",
                "45-89": "wide band (k-anonymity)",
                SUPPRESSED: "suppressed (k-anonymity)",
            },
            quasi_identifier=True,
        ),
        "sex": _suppressible("Sex as recorded", allowed=("female", "male", "other", SUPPRESSED)),
        "condition": _suppressible(
            "Catalog condition groups ('+'-joined); codes outside the catalog count as 'other'",
            none="no condition recorded",
        ),
        "n_trials": ColumnSpec(
            "integer",
            "Number of trials of the patient (also the patient's row count in trials)",
            value_range=(0, 1000),
            quasi_identifier=True,
        ),
    },
    "trials": {
        "trial": ColumnSpec("string", "Trial pseudonym (keyed HMAC-SHA256; 'T' + 16 hex digits)"),
        "patient": _PATIENT,
        "status": ColumnSpec(
            "string", "Trial status at export", allowed=tuple(s.value for s in TrialStatus)
        ),
        "substance": _suppressible("Catalog substance id"),
        "regimen": _suppressible("Catalog regimen template id"),
        "run_in_days": ColumnSpec("integer", "Run-in (baseline) length", unit="day"),
        "period_days": ColumnSpec("integer", "Length of each treatment period", unit="day"),
        "wash_in_days": _WASH_IN,
        "n_periods": ColumnSpec("integer", "Number of treatment periods"),
        "unblinded": ColumnSpec("boolean", "The trial's arms are released"),
        "unblinded_early": ColumnSpec("boolean", "The blind was broken before completion"),
    },
    "periods": {
        "trial": ColumnSpec("string", "Trial pseudonym (keyed HMAC-SHA256; 'T' + 16 hex digits)"),
        "period": ColumnSpec(
            "integer", "Treatment period number within the trial", value_range=(1, 1000)
        ),
        "block": ColumnSpec("integer", "Randomisation block (a pair of periods)"),
        "start_day": ColumnSpec("integer", "First study day of the period", unit="day"),
        "end_day": ColumnSpec("integer", "Last study day of the period", unit="day"),
        "wash_in_days": _WASH_IN,
        "arm": ColumnSpec(
            "string",
            "The period's arm, released only for unblinded trials",
            allowed=("active", "placebo", BLINDED),
            codes={BLINDED: "the trial is still blinded"},
        ),
    },
    "scores": {
        "patient": _PATIENT,
        "trial": _TRIAL,
        "study_day": _STUDY_DAY,
        "period": _PERIOD,
        "arm": _ARM,
        "instrument": ColumnSpec("string", "Catalog instrument id (e.g. daily_diary, phq9)"),
        "score": ColumnSpec("string", "Score id within the instrument (e.g. average_pain)"),
        "value": ColumnSpec(
            "number", "The score's value", unit="instrument points (see the catalog)"
        ),
    },
    "doses": {
        "patient": _PATIENT,
        "trial": _TRIAL,
        "study_day": _STUDY_DAY,
        "period": _PERIOD,
        "arm": _ARM,
        "status": ColumnSpec("string", "Dose record status (e.g. taken)"),
    },
    "adverse_events": {
        "patient": _PATIENT,
        "trial": _TRIAL,
        "onset_day": ColumnSpec("integer", "Study day of onset", unit="day"),
        "resolved_day": ColumnSpec(
            "integer",
            "Study day of resolution",
            unit="day",
            codes={"0": "not resolved (there is no study day 0)"},
        ),
        "period": _PERIOD,
        "arm": _ARM,
        "term": ColumnSpec(
            "string",
            "The side-effect checklist's symptom the event names; anything else (free text, "
            f"which may identify) as '{OTHER_TERM}'",
        ),
        "grade": ColumnSpec("integer", "CTCAE grade", value_range=_GRADE_RANGE),
        "serious": ColumnSpec("boolean", "Serious adverse event"),
    },
    "guesses": {
        "patient": _PATIENT,
        "trial": _TRIAL,
        "period": ColumnSpec("integer", "Period the guess is about", value_range=(1, 1000)),
        "guess": ColumnSpec("string", "The patient's guess of the arm", allowed=GUESS_VALUES),
        "confidence": ColumnSpec(
            "integer",
            "Confidence in the guess",
            unit="%",
            value_range=(-1, 100),
            codes={"-1": "not given"},
        ),
        "arm": ColumnSpec(
            "string",
            "The period's true arm, released only for unblinded trials",
            allowed=("active", "placebo", BLINDED, NONE),
            codes={BLINDED: "the trial is still blinded", NONE: "no such period"},
        ),
    },
}
ALLOWED_COLUMNS: dict[str, tuple[str, ...]] = {
    table: tuple(columns) for table, columns in DICTIONARY.items()
}
QUASI_IDENTIFIERS: dict[str, tuple[str, ...]] = {
    table: tuple(name for name, spec in columns.items() if spec.quasi_identifier)
    for table, columns in DICTIONARY.items()
    if any(spec.quasi_identifier for spec in columns.values())
}
