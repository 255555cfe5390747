"""Long-format diary frames ↔ the ``(trials, days)`` arrays of the engine, with input validation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from microtrial.analysis.continuous import ACTIVE, BASELINE, EXCLUDED, PLACEBO
from microtrial.errors import ValidationError

REQUIRED = ("trial_id", "day", "arm", "value")
ARMS = {"active": ACTIVE, "placebo": PLACEBO, "baseline": BASELINE}
TRUE_WORDS = {"true", "1", "yes", "y", "t", "1.0"}
FALSE_WORDS = {"false", "0", "no", "n", "f", "", "nan", "none", "0.0"}
MAX_SPAN_DAYS = 3660


@dataclass(frozen=True)
class TrialArrays:
    """Trials (one per trial id and outcome) as dense day arrays."""

    trial_id: npt.NDArray[np.object_]
    outcome: npt.NDArray[np.object_]
    values: npt.NDArray[np.float64]
    arm: npt.NDArray[np.int8]


def _bad_row(
    column: str, index: int, message: str, value: object, allowed: str | None = None
) -> None:
    raise ValidationError(
        f"row {index + 1}, column {column!r}", message, value=value, allowed=allowed
    )


def _parse_days(day: pd.Series) -> npt.NDArray[np.int64]:
    """Integer day numbers, or ISO dates converted to days since 1970-01-01."""
    if pd.api.types.is_bool_dtype(day):
        _bad_row("day", 0, "must be an integer day number or an ISO date", day.iloc[0])
    if pd.api.types.is_integer_dtype(day):
        return day.to_numpy(dtype=np.int64)
    if pd.api.types.is_float_dtype(day):
        arr = day.to_numpy(dtype=np.float64)
        bad = ~np.isfinite(arr) | (arr != np.round(arr))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            _bad_row("day", i, "must be an integer day number or an ISO date", day.iloc[i])
        return arr.astype(np.int64)
    if pd.api.types.is_datetime64_any_dtype(day):
        dates = pd.to_datetime(day)
    else:
        text = day.astype("string").str.strip()
        as_int = pd.to_numeric(text, errors="coerce")
        if as_int.notna().all() and (as_int == as_int.round()).all():
            return as_int.to_numpy(dtype=np.int64)
        dates = pd.to_datetime(text, format="ISO8601", errors="coerce")
        if dates.isna().any():
            i = int(np.flatnonzero(dates.isna().to_numpy())[0])
            _bad_row("day", i, "must be an integer day number or an ISO date", day.iloc[i])
    days = (dates.dt.normalize() - pd.Timestamp("1970-01-01", tz=dates.dt.tz)).dt.days
    return np.asarray(days.to_numpy(dtype=np.int64), dtype=np.int64)


def _parse_values(value: pd.Series) -> npt.NDArray[np.float64]:
    if pd.api.types.is_bool_dtype(value):
        _bad_row("value", 0, "must be a number (empty = missing)", value.iloc[0])
    if pd.api.types.is_numeric_dtype(value):
        arr = value.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        text = value.astype("string").str.strip()
        num = pd.to_numeric(text, errors="coerce")
        missing_text = text.isna() | (text == "") | text.str.lower().isin(["nan", "na"])
        bad = num.isna() & ~missing_text
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            _bad_row("value", i, "must be a number (empty = missing)", value.iloc[i])
        arr = num.to_numpy(dtype=np.float64, na_value=np.nan)
    inf = np.isinf(arr)
    if inf.any():
        i = int(np.flatnonzero(inf)[0])
        _bad_row("value", i, "must be finite", value.iloc[i])
    return arr


def _parse_exclude(exclude: pd.Series) -> npt.NDArray[np.bool_]:
    if pd.api.types.is_bool_dtype(exclude):
        return exclude.to_numpy(dtype=bool)
    text = exclude.astype("string").str.strip().str.lower().fillna("")
    is_true = text.isin(TRUE_WORDS).to_numpy()
    is_false = text.isin(FALSE_WORDS).to_numpy()
    bad = ~(is_true | is_false)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        _bad_row("exclude", i, "must be true or false", exclude.iloc[i], allowed="true, false")
    return is_true


def trials_from_frame(frame: pd.DataFrame, *, default_outcome: str = "pain") -> TrialArrays:
    """Validate a long diary frame and pivot it to one row of day values per trial and outcome.

    Columns: ``trial_id``, ``day`` (integer or ISO date), ``arm`` (active/placebo/baseline, any
    case), ``value`` (number, empty = missing), optional ``exclude`` and ``outcome``.
    Row numbers in errors count data rows from 1.
    """
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise ValidationError(
            "columns", f"missing column {missing[0]!r}", value=list(frame.columns), allowed=REQUIRED
        )
    n_rows = len(frame)
    trial = frame["trial_id"]
    trial_code, trial_uniques = pd.factorize(trial, sort=False, use_na_sentinel=True)
    if (trial_code < 0).any():
        _bad_row("trial_id", int(np.flatnonzero(trial_code < 0)[0]), "is empty", None)
    trial_names = np.array([str(t) for t in trial_uniques], dtype=object)
    if "outcome" in frame.columns:
        out_code, out_uniques = pd.factorize(frame["outcome"], sort=False, use_na_sentinel=True)
        names = [str(o).strip() for o in out_uniques]
        out_names = np.array(
            [n if n else default_outcome for n in names] + [default_outcome], dtype=object
        )
        out_code = np.where(out_code < 0, len(names), out_code)
    else:
        out_code = np.zeros(n_rows, dtype=np.int64)
        out_names = np.array([default_outcome], dtype=object)

    # Normalise the few distinct arm labels, not every row.
    arm_code_raw, arm_uniques = pd.factorize(frame["arm"], sort=False, use_na_sentinel=True)
    label_code = np.array(
        [ARMS.get(str(u).strip().lower(), 99) for u in arm_uniques] + [99], dtype=np.int16
    )
    code16 = label_code[np.where(arm_code_raw < 0, len(arm_uniques), arm_code_raw)]
    bad_arm = code16 == 99
    if bad_arm.any():
        i = int(np.flatnonzero(bad_arm)[0])
        _bad_row("arm", i, "unknown arm", frame["arm"].iloc[i], allowed=", ".join(ARMS))
    code = code16.astype(np.int8)
    is_active = code == ACTIVE
    is_placebo = code == PLACEBO
    values = _parse_values(frame["value"])
    days = _parse_days(frame["day"])
    if "exclude" in frame.columns:
        code = np.where(_parse_exclude(frame["exclude"]), np.int8(EXCLUDED), code).astype(np.int8)

    pair = trial_code.astype(np.int64) * len(out_names) + out_code
    group_raw, pair_uniques = pd.factorize(pair, sort=False)
    group = np.asarray(group_raw, dtype=np.int64)
    n_groups = len(pair_uniques)
    pair_uniques = np.asarray(pair_uniques, dtype=np.int64)
    ids = trial_names[pair_uniques // len(out_names)]
    outs = out_names[pair_uniques % len(out_names)]
    first_day = np.full(n_groups, np.iinfo(np.int64).max)
    np.minimum.at(first_day, group, days)
    last_day = np.full(n_groups, np.iinfo(np.int64).min)
    np.maximum.at(last_day, group, days)
    for name, mask in (("active", is_active), ("placebo", is_placebo)):
        has = np.bincount(group, weights=mask, minlength=n_groups) > 0
        if not has.all():
            g = int(np.flatnonzero(~has)[0])
            i = int(np.flatnonzero(group == g)[0])
            _bad_row("arm", i, f"trial {ids[g]!r} has no {name} day", name)
    span = last_day - first_day + 1
    if n_groups and span.max() > MAX_SPAN_DAYS:
        g = int(np.argmax(span))
        i = int(np.flatnonzero(group == g)[0])
        _bad_row("day", i, f"trial spans more than {MAX_SPAN_DAYS} days", int(span[g]))
    n_days = int(span.max()) if n_groups else 1
    offset = days - first_day[group]
    dup = pd.Series(group * n_days + offset).duplicated().to_numpy()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        _bad_row("day", i, f"duplicate day for trial {ids[group[i]]!r}", frame["day"].iloc[i])
    vals = np.full((n_groups, n_days), np.nan)
    arms = np.full((n_groups, n_days), EXCLUDED, dtype=np.int8)
    vals[group, offset] = values
    arms[group, offset] = code
    return TrialArrays(trial_id=ids, outcome=outs, values=vals, arm=arms)
