"""What the analysis service works with: its constants, the engine's inputs and the results.

Shared by loading (``analysis_load``), fitting (``analysis_fit``), storing (``trial_fits``) and
the entry points (``analysis``), so that none of them needs another's internals.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from microtrial.analysis import BlindingResult, PoolResult
from microtrial.analysis.completeness import Completeness
from microtrial.domain.calendar import Adherence, Phase
from microtrial.services.adverse_events import AdverseEventRead
from microtrial.services.trial_views import TrialRead

# Diary scores analysed per trial: (outcome name, daily_diary score id, higher is better).
OUTCOMES = (
    ("pain", "average_pain", False),
    ("worst_pain", "worst_pain", False),
    ("sleep", "sleep_quality", True),
)
OFF_PROTOCOL = (
    Phase.PAUSED.value
)  # the arm label of paused days: no arm, left out of every analysis
MCID_POINTS = 1.0  # REFERENCE.md C.3 (IMMPACT): 1 point on the 0-10 NRS
RELATIVE_MCID = 0.3  # IMMPACT: 30 % reduction is moderately important
# Condition primary endpoints analysed with the engine's discrete model, by their instrument:
# a migraine day is yes/no (binary), cluster attacks are counted per day (count). The value
# analysed is the instrument's catalog primary_score (migraine_day, attacks).
DISCRETE_ENDPOINTS = {"migraine_diary": "binary", "cluster_attack_log": "count"}


@dataclass(frozen=True)
class EndpointAnalysis:
    """A condition group's primary endpoint fitted with the binary or count model.

    ``days`` holds every calendar day with its ``arm`` (as in ``TrialAnalysis.days``) and the
    analysed ``value`` (NaN = missing) and its ``source``: ``entry`` (the instrument's entry of
    the day), ``diary`` (no entry, but the daily diary was kept: counted as 0) or ``none``.
    ``result`` is the engine's row (``fit_trials`` columns) or {} with ``reason`` saying why not.
    """

    endpoint_id: str
    description: str
    instrument: str
    score: str
    outcome_type: str
    entries: int
    days: pd.DataFrame
    result: dict[str, Any] = field(default_factory=dict)
    reason: str = ""


@dataclass(frozen=True)
class TrialAnalysis:
    """Everything a trial report shows, computed by the analysis engine."""

    trial: TrialRead
    conditions: list[str]
    condition_group: str | None
    days: pd.DataFrame
    results: pd.DataFrame
    period_means: pd.DataFrame
    guesses: pd.DataFrame
    blinding: BlindingResult | None
    adverse_events: list[AdverseEventRead]
    doses_planned: int
    doses_taken: int
    doses_through: dt.date
    completeness: Completeness
    warnings: list[str] = field(default_factory=list)
    # The condition's primary endpoint through the discrete model (migraine and cluster only).
    endpoint: EndpointAnalysis | None = None

    @property
    def primary(self) -> dict[str, Any]:
        """The primary outcome's result row (daily average pain)."""
        if self.results.empty:
            return {}
        rows = self.results[self.results["outcome"] == "pain"]
        return {str(k): plain(v) for k, v in rows.iloc[0].to_dict().items()} if len(rows) else {}


@dataclass(frozen=True)
class FitStatus:
    """Where the stored fits a cohort shows come from, and how many are missing or stale.

    ``stale``: trials whose data changed after their fit was computed (their stored numbers
    are shown, marked); ``missing``: unblinded trials not yet fitted (left out until the next
    refresh). ``data_version`` names the set of fits shown (a hash of each trial's version).
    """

    unblinded: int
    current: int
    stale: int
    missing: int
    computed_from: dt.datetime | None
    computed_to: dt.datetime | None
    data_version: str
    # The pooled, descriptive and blinding results shown: when the refresh stored them (None:
    # none is stored for this view yet, so they were computed from the stored fits for this
    # read), and whether per-trial results were refreshed after them (they lag behind).
    pooled_at: dt.datetime | None = None
    pooled_behind: bool = False

    @property
    def up_to_date(self) -> bool:
        """Whether every unblinded trial in scope has a fit of its current data."""
        return self.stale == 0 and self.missing == 0

    @property
    def provenance(self) -> str:
        """One sentence: when the fits shown were computed and from which data version."""
        if self.computed_from is None or self.computed_to is None:
            return "No per-trial results have been computed yet."
        first = f"{self.computed_from:%Y-%m-%d %H:%M} UTC"
        last = f"{self.computed_to:%Y-%m-%d %H:%M} UTC"
        when = f"at {first}" if first == last else f"between {first} and {last}"
        pooled = (
            f" Pooled, descriptive and blinding results computed at "
            f"{self.pooled_at:%Y-%m-%d %H:%M} UTC and stored."
            if self.pooled_at is not None
            else " Pooled, descriptive and blinding results computed for this page (none are "
            "stored yet: the next refresh stores them)."
        )
        return f"Per-trial results computed {when} (data version {self.data_version}).{pooled}"

    @property
    def caveat(self) -> str:
        """What is not up to date, in plain words ('' when every fit is current)."""
        parts = []
        if self.stale:
            parts.append(
                f"{self.stale} of {self.unblinded} unblinded trial(s) changed after their "
                "results were computed: their numbers are from before the change (marked "
                "stale) until the next refresh."
            )
        if self.missing:
            parts.append(
                f"{self.missing} unblinded trial(s) have no results computed yet and are left "
                "out until the next refresh."
            )
        if self.pooled_behind:
            parts.append(
                "Per-trial results were refreshed after the pooled results shown were stored: "
                "the pooled results are from the earlier set until the next refresh."
            )
        return " ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        """The status as JSON-ready values (times in ISO 8601 UTC), with its two sentences."""
        return {
            "unblinded_trials": self.unblinded,
            "current": self.current,
            "stale": self.stale,
            "not_yet_computed": self.missing,
            "computed_from": self.computed_from.isoformat() if self.computed_from else None,
            "computed_to": self.computed_to.isoformat() if self.computed_to else None,
            "data_version": self.data_version,
            "pooled_computed_at": self.pooled_at.isoformat() if self.pooled_at else None,
            "pooled_stored": self.pooled_at is not None,
            "pooled_behind": self.pooled_behind,
            "provenance": self.provenance,
            "caveat": self.caveat,
        }


@dataclass(frozen=True)
class CohortAnalysis:
    """De-identified per-trial results, pooled effects and blinding across trials."""

    results: pd.DataFrame
    pooled: PoolResult | None
    blinding: BlindingResult | None
    effect_by_guess: pd.DataFrame
    n_trials: int
    descriptive: pd.DataFrame
    fits: FitStatus | None = None  # where the stored fits came from (None: fitted just now)


@dataclass(frozen=True)
class TrialInputs:
    """What analysing one trial reads from the database, loaded inside a transaction."""

    trial: TrialRead
    conditions: list[str]
    condition_group: str | None
    days: pd.DataFrame
    period_means: pd.DataFrame
    guesses: pd.DataFrame
    adverse_events: list[AdverseEventRead]
    adherence: Adherence
    doses_through: dt.date
    completeness: Completeness
    endpoint: EndpointAnalysis | None = None


def plain(value: Any) -> Any:
    """A numpy scalar or date as a plain JSON-ready value."""
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def frame_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """``frame.to_dict("records")``, column by column (string keys): several times faster.

    A numpy number or boolean column converts in one ``tolist``, any other column as
    ``to_dict`` gives it; per value everywhere cost a refresh of thousands of trials seconds.
    """
    names = [str(k) for k in frame.columns]
    columns = [
        column.tolist()
        if isinstance(column.dtype, np.dtype) and column.dtype.kind in "biuf"
        else list(column.to_dict().values())
        for column in (frame.iloc[:, i] for i in range(len(names)))
    ]
    return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]


def json_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """``frame_rows`` with JSON-ready values (``plain``; NaN as None), column by column."""
    columns = json_columns(frame)
    return [dict(zip(columns, row, strict=True)) for row in zip(*columns.values(), strict=True)]


def json_columns(frame: pd.DataFrame) -> dict[str, list[Any]]:
    """Each column's JSON-ready values (``plain``; NaN as None), by column name.

    Stored so, a table of thousands of rows is about half the JSON of its rows (no key
    repeated per row), and ``pd.DataFrame`` reads either form.
    """
    columns: dict[str, list[Any]] = {}
    for i, name in enumerate(frame.columns):
        column = frame.iloc[:, i]
        kind = column.dtype.kind if isinstance(column.dtype, np.dtype) else ""
        if kind and kind in "biu":
            values = column.tolist()
        elif kind == "f":
            floats = column.to_numpy()
            boxed = floats.astype(object)  # Python floats
            boxed[np.isnan(floats)] = None
            values = boxed.tolist()
        elif kind == "O":  # strings as they are; anything else made plain (numpy, dates, NaN)
            values = [v if type(v) is str else _json_value(v) for v in column.tolist()]
        else:  # an extension type: as ``to_dict`` gives it (its missing value as None)
            values = [_json_value(v) for v in column.to_dict().values()]
        columns[str(name)] = values
    return columns


def _json_value(value: Any) -> Any:
    value = plain(value)
    return None if isinstance(value, float) and value != value else value
