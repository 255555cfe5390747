"""k-anonymity for the research export: generalise quasi-identifiers step by step, or refuse.

Quasi-identifiers (every released column that describes the patient rather than a measurement:
site, age band, sex, condition group, number of trials, substance, regimen) must be shared by at
least ``k`` patients (Sweeney 2002); below ``k`` the export generalises along
``GENERALISATION_LEVELS``, withholds the patients still in too small a class as the last step,
and refuses when fewer than ``k`` would remain.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Literal

import pandas as pd

from microtrial.errors import ConflictError, ValidationError
from microtrial.interop.research_dictionary import NONE, QUASI_IDENTIFIERS, SUPPRESSED

__all__ = [
    "GENERALISATION_LEVELS",
    "PATIENT_QUASI_IDENTIFIERS",
    "KAnonymityResult",
    "apply_k_anonymity",
]

# k-anonymity is checked per patient over every released column that describes the patient
# (not a measurement): the patients table's quasi-identifiers plus, from the trials table, the set
# of substances and of regimens the patient took (a patient alone on a rare regimen is singled
# out by it just as by a rare age). ``n_trials`` cannot be coarsened (the trials table's rows
# give it away), so patients whose class stays too small are withheld (all their rows): first,
# before the condition group goes, only when fewer than k patients would go (the outliers, as
# Sweeney's Datafly suppresses them); at the last step, as many as must, while k remain.
PATIENT_QUASI_IDENTIFIERS = (*QUASI_IDENTIFIERS["patients"], *QUASI_IDENTIFIERS["trials"])

# Generalisation ladder: each level coarsens one more quasi-identifier. The condition group is
# the research variable (the cohort page pools by it), so it is coarsened last, and at first only
# for the groups that hold fewer than k patients.
GENERALISATION_LEVELS: tuple[str, ...] = (
    "10-year age bands, site, condition group, sex, number of trials, substance, regimen",
    "site suppressed",
    "regimen suppressed",
    "age in 3 wide bands (18-44, 45-89, 90+ kept as 90+ is already coarse)",
    "sex suppressed",
    "age suppressed",
    "condition groups with fewer than k patients suppressed",
    "substance suppressed",
    "fewer than k patients, alone in too small a class, withheld (every row of theirs)",
    "condition group suppressed",
    "condition group suppressed; patients still in too small a class withheld",
)
_REGIMEN_LEVEL = 2
_SUBSTANCE_LEVEL = 7
_OUTLIER_LEVEL = 8
_CONDITION_LEVEL = 9
_WITHHOLD_LEVEL = len(GENERALISATION_LEVELS) - 1
_WIDE_BANDS = ((18, 44, "18-44"), (45, 89, "45-89"))


def _widen(band: str) -> str:
    if band in ("90+", "<18", SUPPRESSED):
        return band
    low = int(band.split("-")[0])
    for start, end, label in _WIDE_BANDS:
        if start <= low <= end:
            return label
    return band


def _generalise(patients: pd.DataFrame, level: int, k: int) -> pd.DataFrame:
    out = patients.copy()
    if level >= 1:
        out["site"] = SUPPRESSED
    if level >= _REGIMEN_LEVEL:
        out["regimen"] = SUPPRESSED
    if level >= 3:
        out["age_band"] = out["age_band"].map(_widen)
    if level >= 4:
        out["sex"] = SUPPRESSED
    if level >= 5:
        out["age_band"] = SUPPRESSED
    if level >= 6:
        sizes = out["condition"].map(out["condition"].value_counts())
        out.loc[sizes < k, "condition"] = SUPPRESSED
    if level >= _SUBSTANCE_LEVEL:
        out["substance"] = SUPPRESSED
    if level >= _CONDITION_LEVEL:
        out["condition"] = SUPPRESSED
    return out


def _class_sizes(patients: pd.DataFrame) -> pd.Series:
    """For each patient, how many patients share all their quasi-identifiers."""
    keys = [tuple(row) for row in patients[list(PATIENT_QUASI_IDENTIFIERS)].itertuples(False)]
    counts = Counter(keys)
    return pd.Series([counts[key] for key in keys], index=patients.index, dtype="int64")


def _profiles(patients: pd.DataFrame, trials: pd.DataFrame | None) -> pd.DataFrame:
    """The patients table plus each patient's substances and regimens ('+'-joined, sorted)."""
    out = patients.copy()
    for column in QUASI_IDENTIFIERS["trials"]:
        taken: dict[str, set[str]] = {}
        if trials is not None:
            for pid, value in zip(trials["patient"], trials[column], strict=True):
                taken.setdefault(str(pid), set()).add(str(value))
        out[column] = ["+".join(sorted(taken.get(str(pid), ()))) or NONE for pid in out["patient"]]
    return out


@dataclass(frozen=True)
class KAnonymityResult:
    """The patients and trials tables after generalisation, and how far it had to go."""

    patients: pd.DataFrame
    level: int
    smallest_class: int
    trials: pd.DataFrame | None = None
    withheld: frozenset[str] = frozenset()


def apply_k_anonymity(
    patients: pd.DataFrame,
    k: int,
    policy: Literal["generalise", "refuse"] = "generalise",
    trials: pd.DataFrame | None = None,
) -> KAnonymityResult:
    """Generalise quasi-identifiers until every class holds ``k`` patients, or refuse.

    The classes are formed over ``PATIENT_QUASI_IDENTIFIERS``: the patients table's columns and
    each patient's substances and regimens from ``trials``. Raises ConflictError when the data
    cannot reach ``k`` (too few patients, or ``policy`` is ``refuse`` and the ungeneralised
    table is below ``k``).
    """
    if k < 2:
        raise ValidationError("k", f"{k} is too small", value=k, allowed="2 or more")
    if patients.empty:
        raise ConflictError("k-anonymity: no patients to export")
    profiles = _profiles(patients, trials)
    levels = range(len(GENERALISATION_LEVELS)) if policy == "generalise" else range(1)
    smallest = 0
    for level in levels:
        candidate = _generalise(profiles, level, k)
        sizes = _class_sizes(candidate)
        kept = sizes >= k
        outliers = level == _OUTLIER_LEVEL and (~kept).sum() < k
        if (outliers or level == _WITHHOLD_LEVEL) and kept.sum() >= k:
            withheld = frozenset(str(p) for p in candidate.loc[~kept, "patient"])
            candidate, sizes = candidate[kept], sizes[kept]
        else:
            withheld = frozenset()
        smallest = int(sizes.min())
        if smallest >= k:
            return KAnonymityResult(
                candidate[list(patients.columns)].reset_index(drop=True),
                level,
                smallest,
                _generalise_trials(trials, level, withheld),
                withheld,
            )
    raise ConflictError(
        f"k-anonymity: export refused; a quasi-identifier class holds {smallest} patient(s), "
        f"fewer than k={k} ({policy})"
    )


def _generalise_trials(
    trials: pd.DataFrame | None, level: int, withheld: frozenset[str]
) -> pd.DataFrame | None:
    if trials is None:
        return None
    out = trials[~trials["patient"].isin(withheld)].reset_index(drop=True)
    if level >= _REGIMEN_LEVEL:
        out["regimen"] = SUPPRESSED
    if level >= _SUBSTANCE_LEVEL:
        out["substance"] = SUPPRESSED
    return out
