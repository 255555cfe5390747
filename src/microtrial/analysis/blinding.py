"""Blinding assessment from period guesses: Bang's and James' blinding indices.

References: James KE et al., Stat Med 1996;15:1421-34 (James BI, weights 0 / 0.5 / 1 for correct /
incorrect / don't know; 0 = complete unblinding, 0.5 = random guessing, 1 = complete blinding);
Bang H et al., Control Clin Trials 2004;25:143-56 (Bang BI per arm, ``(correct - incorrect) / n``:
1 = all correct, 0 = random, -1 = all wrong).  Checked against the R package ``BI`` example.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from microtrial.errors import ValidationError

DONT_KNOW = "dont_know"  # a guess that names no arm: left out of the correct shares
GUESSES = ("active", "placebo", DONT_KNOW)
ARMS = ("active", "placebo")
_GUESS_ALIASES = {
    "active": "active",
    "placebo": "placebo",
    "dont_know": "dont_know",
    "don't know": "dont_know",
    "dont know": "dont_know",
    "dk": "dont_know",
    "unknown": "dont_know",
}


@dataclass(frozen=True)
class BlindingResult:
    """Per-arm guess counts and indices, James' overall index, effects by guess correctness."""

    arms: pd.DataFrame  # index arm; n, n_correct, n_incorrect, n_dont_know, correct_share, bang_bi
    overall_correct_share: float  # correct over named guesses (NaN when none was named)
    james_bi: float
    effect_by_guess: pd.DataFrame  # stratum, n_active, n_placebo, effect, se (needs a value column)

    def summary(self) -> pd.DataFrame:
        """The per-arm table as a tidy frame."""
        return self.arms.reset_index()

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: ``arms`` ({arm: n, correct_share, bang_bi}), overall share, James BI."""
        arms = {
            str(arm): {
                "n": int(row["n"]),
                "correct_share": _num(row["correct_share"]),
                "bang_bi": _num(row["bang_bi"]),
            }
            for arm, row in self.arms.iterrows()
        }
        return {
            "arms": arms,
            "overall_correct_share": _num(self.overall_correct_share),
            "james_bi": _num(self.james_bi),
        }


def _num(x: object) -> float | None:
    value = float(x)  # type: ignore[arg-type]
    return None if np.isnan(value) else value


def bang_bi(n_correct: int, n_incorrect: int, n_dont_know: int) -> float:
    """Bang's blinding index of one arm, ``(correct - incorrect) / n``.

    NaN (undefined, not 0) when the arm has no named guess: with only "don't know" answers the
    index is ``(2 * 0/0 - 1) * 0`` in Bang's own form (Bang et al. 2004), nothing to estimate.
    """
    n = n_correct + n_incorrect + n_dont_know
    if n_correct + n_incorrect == 0:
        return float("nan")
    return (n_correct - n_incorrect) / n


def james_bi(table: np.ndarray[Any, Any]) -> float:
    """James' blinding index from a 3x2 table (rows guess active/placebo/don't know, cols arm).

    Examples
    --------
    >>> round(james_bi(np.array([[48, 22], [4, 30], [330, 319]])), 3)
    0.896
    """
    x = np.asarray(table, dtype=np.float64)
    total = x.sum()
    if total == 0:
        return float("nan")
    p = x / total
    p_dk = p[2].sum()
    if p_dk >= 1.0:
        return 1.0
    weights = np.array([[0.0, 0.5], [0.5, 0.0]])
    row = p[:2].sum(axis=1)  # guess margins (incl. nothing from DK)
    col = p.sum(axis=0) - p[2]  # arm margins among those who guessed
    p_obs = (weights * p[:2]).sum() / (1.0 - p_dk)
    p_exp = (weights * np.outer(row, col)).sum() / (1.0 - p_dk) ** 2
    if p_exp == 0:
        return float("nan")
    kappa = (p_obs - p_exp) / p_exp
    return float((1.0 + p_dk + (1.0 - p_dk) * kappa) / 2.0)


def _cleaned(column: pd.Series) -> pd.Series:
    """``column.astype("string").str.strip().str.lower()``, worked out once per distinct value.

    A cohort's guesses repeat a handful of words tens of thousands of times: the string
    methods per row were most of pooling a large cohort's blinding.
    """
    codes, distinct = pd.factorize(column.to_numpy(dtype=object))
    words = pd.Series(distinct, dtype=object).astype("string").str.strip().str.lower()
    return pd.Series(words.array.take(codes, allow_fill=True), index=column.index, name=column.name)


def _normalise(frame: pd.DataFrame) -> pd.DataFrame:
    for col in ("trial_id", "arm", "guess"):
        if col not in frame.columns:
            raise ValidationError(
                "columns", f"missing column {col!r}", allowed=("trial_id", "period", "arm", "guess")
            )
    arm = _cleaned(frame["arm"])
    bad = ~arm.isin(ARMS).to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValidationError(
            f"row {i + 1}, column 'arm'", "unknown arm", value=frame["arm"].iloc[i], allowed=ARMS
        )
    guess = _cleaned(frame["guess"]).map(_GUESS_ALIASES)
    bad = guess.isna().to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValidationError(
            f"row {i + 1}, column 'guess'",
            "unknown guess",
            value=frame["guess"].iloc[i],
            allowed=GUESSES,
        )
    out = pd.DataFrame({"trial_id": frame["trial_id"].astype(str), "arm": arm, "guess": guess})
    if "value" in frame.columns:
        out["value"] = pd.to_numeric(frame["value"], errors="coerce")
    return out


def _effect_by_guess(g: pd.DataFrame) -> pd.DataFrame:
    """Mean outcome active minus placebo, within periods guessed right and guessed wrong."""
    rows = []
    strata = {
        "correct": g["guess"] == g["arm"],
        "incorrect": (g["guess"] != g["arm"]) & (g["guess"] != "dont_know"),
        "dont_know": g["guess"] == "dont_know",
    }
    for name, mask in strata.items():
        sub = g[mask & g["value"].notna()]
        act = sub.loc[sub["arm"] == "active", "value"]
        pla = sub.loc[sub["arm"] == "placebo", "value"]
        if len(act) and len(pla):
            effect = float(act.mean() - pla.mean())
            se = float(np.sqrt(act.var(ddof=1) / len(act) + pla.var(ddof=1) / len(pla)))
        else:
            effect = se = float("nan")
        rows.append(
            {
                "stratum": name,
                "n_active": len(act),
                "n_placebo": len(pla),
                "effect": effect,
                "se": se,
            }
        )
    return pd.DataFrame(rows)


def blinding(guesses: pd.DataFrame) -> BlindingResult:
    """Blinding indices from one guess per trial period.

    Parameters
    ----------
    guesses
        Columns ``trial_id``, ``period``, ``arm`` (active/placebo), ``guess`` (active, placebo or
        dont_know), optional ``confidence`` (ignored by the indices) and optional ``value`` (the
        period's outcome, for effects stratified by guess correctness).

    Returns
    -------
    BlindingResult
        ``correct_share`` (per arm and overall) is correct guesses over named guesses, "don't
        know" left out of the denominator (NaN when there is no named guess); ``bang_bi`` is NaN
        for an arm with no named guess.

    Examples
    --------
    >>> g = pd.DataFrame({"trial_id": "A", "period": [1, 2, 3, 4],
    ...                   "arm": ["active", "placebo", "active", "placebo"],
    ...                   "guess": ["active", "active", "dont_know", "placebo"]})
    >>> blinding(g).as_dict()["arms"]["active"]
    {'n': 2, 'correct_share': 1.0, 'bang_bi': 0.5}
    """
    g = _normalise(guesses)
    table = np.zeros((3, 2), dtype=np.int64)
    for j, arm in enumerate(ARMS):
        for i, guess in enumerate(GUESSES):
            table[i, j] = int(((g["arm"] == arm) & (g["guess"] == guess)).sum())
    rows = []
    for j, arm in enumerate(ARMS):
        n = int(table[:, j].sum())
        correct = int(table[j, j])
        incorrect = int(table[1 - j, j])
        dk = int(table[2, j])
        named = correct + incorrect
        rows.append(
            {
                "arm": arm,
                "n": n,
                "n_correct": correct,
                "n_incorrect": incorrect,
                "n_dont_know": dk,
                "correct_share": correct / named if named else float("nan"),
                "bang_bi": bang_bi(correct, incorrect, dk),
            }
        )
    arms = pd.DataFrame(rows).set_index("arm")
    named_total = int(table[:2].sum())  # "don't know" is not a guess: out of the denominator
    overall = (table[0, 0] + table[1, 1]) / named_total if named_total else float("nan")
    effects = (
        _effect_by_guess(g)
        if "value" in g.columns
        else pd.DataFrame(columns=["stratum", "n_active", "n_placebo", "effect", "se"])
    )
    return BlindingResult(arms, float(overall), james_bi(table), effects)


def guesses_from_self_blinding_study(
    pacutes: pd.DataFrame, *, test_name: str | None = None
) -> pd.DataFrame:
    """Turn the self-blinding study's ``pacutes`` table into period guesses.

    One session per participant, week and time point (``tp`` such as ``w1s1``): its true condition
    (MD → active, PL → placebo) and guess.  With ``test_name`` the session's value on that test is
    kept as ``value``.  Source: Szigeti et al., eLife 2021;10:e62878.
    """
    needed = ("trial_id", "tp", "condition", "guess")
    for col in needed:
        if col not in pacutes.columns:
            raise ValidationError("columns", f"missing column {col!r}", allowed=needed)
    data = pacutes
    if test_name is not None:
        if "test_name" not in pacutes.columns or "value" not in pacutes.columns:
            raise ValidationError("columns", "test_name and value are needed to pick a test")
        data = pacutes[pacutes["test_name"] == test_name]
        if data.empty:
            raise ValidationError("test_name", "no rows for this test", value=test_name)
    mapping = {"MD": "active", "PL": "placebo"}
    cond = data["condition"].astype("string").str.strip().str.upper().map(mapping)
    guess = data["guess"].astype("string").str.strip().str.upper().map(mapping).fillna("dont_know")
    bad = cond.isna().to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValidationError(
            f"row {i + 1}, column 'condition'",
            "unknown condition",
            value=data["condition"].iloc[i],
            allowed=("MD", "PL"),
        )
    out = pd.DataFrame(
        {
            "trial_id": data["trial_id"].astype(str).to_numpy(),
            "period": data["tp"].astype(str).to_numpy(),
            "arm": cond.to_numpy(),
            "guess": guess.to_numpy(),
        }
    )
    if test_name is not None:
        out["value"] = pd.to_numeric(data["value"], errors="coerce").to_numpy()
    return out.drop_duplicates(["trial_id", "period"]).reset_index(drop=True)


def blinding_from_self_blinding_study(
    pacutes: pd.DataFrame, *, test_name: str | None = None
) -> BlindingResult:
    """``blinding`` on the self-blinding study's sessions (participant x week x time point)."""
    return blinding(guesses_from_self_blinding_study(pacutes, test_name=test_name))
