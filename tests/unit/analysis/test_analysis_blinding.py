"""Blinding indices (checked against the R package ``BI`` example) and the self-blinding loader."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from microtrial.analysis import (
    blinding,
    blinding_from_self_blinding_study,
    guesses_from_self_blinding_study,
)
from microtrial.analysis.blinding import _cleaned, bang_bi, james_bi
from microtrial.errors import ValidationError

PACUTES = (
    Path(__file__).resolve().parents[3].parent
    / "shared"
    / "datasets"
    / "self-blinding-microdose"
    / "pacutes.csv"
)


def table_to_guesses(table: np.ndarray) -> pd.DataFrame:
    rows = []
    for j, arm in enumerate(["active", "placebo"]):
        for i, guess in enumerate(["active", "placebo", "dont_know"]):
            rows += [{"trial_id": f"{arm}{i}", "arm": arm, "guess": guess}] * int(table[i, j])
    frame = pd.DataFrame(rows)
    frame["period"] = np.arange(len(frame))
    return frame


def test_r_package_bi_example() -> None:
    # BI::BI(matrix(c(48, 4, 330, 22, 30, 319), 3, 2)): James 0.896, Bang 0.115 / 0.022.
    table = np.array([[48, 22], [4, 30], [330, 319]])
    assert james_bi(table) == pytest.approx(0.896, abs=5e-4)
    res = blinding(table_to_guesses(table))
    assert res.james_bi == pytest.approx(0.896, abs=5e-4)
    assert res.arms.loc["active", "bang_bi"] == pytest.approx(0.115, abs=5e-4)
    assert res.arms.loc["placebo", "bang_bi"] == pytest.approx(0.022, abs=5e-4)
    # shares over named guesses: "don't know" is not in the denominator
    assert res.arms.loc["active", "correct_share"] == pytest.approx(48 / 52)
    assert res.overall_correct_share == pytest.approx(78 / 104)


def test_perfect_and_absent_unblinding() -> None:
    assert bang_bi(10, 0, 0) == 1.0
    assert bang_bi(5, 5, 0) == 0.0
    assert james_bi(np.array([[10, 0], [0, 10], [0, 0]])) == pytest.approx(0.0)
    assert james_bi(np.array([[0, 0], [0, 0], [5, 5]])) == 1.0


def test_as_dict_shape() -> None:
    g = pd.DataFrame(
        {
            "trial_id": "A",
            "period": [1, 2, 3, 4],
            "arm": ["active", "placebo", "active", "Placebo"],
            "guess": ["active", "active", "dont_know", "placebo"],
            "confidence": [80, 60, 10, 90],
        }
    )
    d = blinding(g).as_dict()
    assert set(d) == {"arms", "overall_correct_share", "james_bi"}
    assert d["arms"]["placebo"] == {"n": 2, "correct_share": 0.5, "bang_bi": 0.0}
    assert d["arms"]["active"] == {"n": 2, "correct_share": 1.0, "bang_bi": 0.5}
    assert d["overall_correct_share"] == pytest.approx(2 / 3)


def test_an_arm_of_only_dont_know_has_no_bang_index() -> None:
    assert math.isnan(bang_bi(0, 0, 4))
    assert bang_bi(0, 1, 3) == -0.25
    g = pd.DataFrame(
        {
            "trial_id": "A",
            "period": [1, 2, 3, 4],
            "arm": ["active", "placebo", "active", "placebo"],
            "guess": ["dont_know", "placebo", "dont_know", "active"],
        }
    )
    res = blinding(g)
    assert math.isnan(res.arms.loc["active", "bang_bi"])
    assert math.isnan(res.arms.loc["active", "correct_share"])
    assert res.arms.loc["placebo", "bang_bi"] == 0.0
    # 1 right of the 2 named guesses; the two "don't know" answers are not counted
    assert res.overall_correct_share == 0.5
    d = res.as_dict()
    assert d["arms"]["active"] == {"n": 2, "correct_share": None, "bang_bi": None}
    only_dk = blinding(g.assign(guess="dont_know"))
    assert math.isnan(only_dk.overall_correct_share)
    assert only_dk.as_dict()["overall_correct_share"] is None


def test_bad_guess_is_rejected() -> None:
    g = pd.DataFrame({"trial_id": "A", "period": [1], "arm": ["active"], "guess": ["maybe"]})
    with pytest.raises(ValidationError, match="row 1, column 'guess'"):
        blinding(g)


def test_effects_by_guess_correctness() -> None:
    g = pd.DataFrame(
        {
            "trial_id": "A",
            "period": range(8),
            "arm": ["active", "placebo"] * 4,
            "guess": ["active", "placebo", "active", "placebo", "placebo", "active"]
            + ["active"] * 2,
            "value": [1.0, 5.0, 2.0, 6.0, 3.0, 3.5, 9.0, 9.0],
        }
    )
    eff = blinding(g).effect_by_guess.set_index("stratum")
    assert eff.loc["correct", "effect"] == pytest.approx(4.0 - 5.5)
    assert eff.loc["incorrect", "effect"] == pytest.approx(3.0 - 6.25)


@pytest.mark.skipif(not PACUTES.exists(), reason="shared self-blinding dataset not present")
def test_self_blinding_study_loader() -> None:
    raw = pd.read_csv(PACUTES)
    guesses = guesses_from_self_blinding_study(raw)
    sessions = raw.drop_duplicates(["trial_id", "tp"])
    assert len(guesses) == len(sessions) == 1707
    res = blinding_from_self_blinding_study(raw)
    for arm, code in (("active", "MD"), ("placebo", "PL")):
        sub = sessions[sessions["condition"] == code]
        assert res.arms.loc[arm, "n"] == len(sub)
        assert res.arms.loc[arm, "correct_share"] == pytest.approx((sub["guess"] == code).mean())
    assert 0.0 <= res.james_bi <= 1.0
    with_value = guesses_from_self_blinding_study(raw, test_name="mood")
    assert with_value["value"].notna().any()


def test_guess_words_cleaned_once_per_word_as_the_string_methods_clean_them() -> None:
    column = pd.Series(
        [" Active", "placebo", None, "PLACEBO ", 1, float("nan"), "dont_know"],
        index=[5, 4, 3, 2, 1, 0, 9],
        name="guess",
    )
    for case in (column, column.iloc[:0], column.astype("string")):
        pd.testing.assert_series_equal(
            _cleaned(case), case.astype("string").str.strip().str.lower()
        )
