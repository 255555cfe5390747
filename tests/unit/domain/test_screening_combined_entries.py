"""Combined medication entries: split, matched part by part, misspellings and leftovers reported."""

from __future__ import annotations

from dataclasses import replace

import pytest

from microtrial.domain.alerts import check_new_medications
from microtrial.domain.catalog import load_catalog
from microtrial.domain.medications import edit_distance, match_medication, split_medication_entry
from microtrial.domain.screening import BloodPressure, PatientSnapshot, screen

CATALOG = load_catalog()
CLEAN = PatientSnapshot(
    history=dict.fromkeys(CATALOG.history_flags, False),
    pregnant=False,
    blood_pressures=(BloodPressure(122, 78),),
    age=45,
)


def findings(*meds: str, substance: str = "psilocybin") -> list[tuple[str, str, str | None]]:
    result = screen(replace(CLEAN, medications=meds), substance)
    return [(f.code, f.severity, f.matched) for f in result.findings]


def decision(*meds: str, substance: str = "psilocybin") -> str:
    return screen(replace(CLEAN, medications=meds), substance).decision


@pytest.mark.parametrize(
    ("entered", "parts"),
    [
        ("paracetamol and lithum", ("paracetamol and lithum",)),
        ("Vitamin D3 1000 IU + Lithiun", ("Vitamin D3 1000 IU", "Lithiun")),
        ("a, b / c; d & e", ("a", "b", "c", "d", "e")),
        (" + ", ()),
    ],
)
def test_split_at_separators(entered: str, parts: tuple[str, ...]) -> None:
    assert split_medication_entry(entered) == parts


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [("lithum", "lithium", 1), ("nardl", "nardil", 1), ("lihtium", "lithium", 1),
     ("zoloft", "zoloft", 0), ("vitamin", "ritalin", 2), ("", "abc", 3)],
)  # fmt: skip
def test_edit_distance(a: str, b: str, distance: int) -> None:
    assert edit_distance(a, b) == distance


@pytest.mark.parametrize(
    ("entered", "ingredients", "word"),
    [
        ("paracetamol and lithum", ("acetaminophen", "lithium"), "lithum"),
        ("Vitamin D3 1000 IU + Lithiun", ("vitamin d", "lithium"), "lithiun"),
        ("ibuprofen + Nardl", ("ibuprofen", "phenelzine"), "nardl"),
        ("sertraline with linezolide", ("sertraline", "linezolid"), "linezolide"),
        ("Lexaprro 10 mg, magnesium", ("escitalopram", "magnesium"), "lexaprro"),
    ],
)
def test_each_part_matches_and_misspellings_are_suggested(
    entered: str, ingredients: tuple[str, ...], word: str
) -> None:
    found = match_medication(entered)
    assert found.ingredients == ingredients
    assert [s.word for s in found.suggestions] == [word]
    assert found.unrecognised == ()


@pytest.mark.parametrize(
    ("entered", "ingredients", "unrecognised"),
    [
        ("paracetamol, Zyxorin 20 mg", ("acetaminophen",), ("zyxorin",)),
        ("Zoloft + vitamin z", ("sertraline",), ("vitamin z",)),
        ("Elavil 10mg at night", ("amitriptyline",), ()),
        ("Tylenol with codeine #3", ("acetaminophen", "codeine"), ()),
        ("Treximet 85/500", ("sumatriptan", "naproxen"), ()),
        ("Zyxorin", (), ("zyxorin",)),
    ],
)
def test_leftover_words_are_kept_unless_dose_unit_form_or_instruction(
    entered: str, ingredients: tuple[str, ...], unrecognised: tuple[str, ...]
) -> None:
    found = match_medication(entered)
    assert found.ingredients == ingredients
    assert found.unrecognised == unrecognised


@pytest.mark.parametrize("substance", ["psilocybin", "lsd"])
@pytest.mark.parametrize("entered", ["paracetamol and lithum", "Vitamin D3 1000 IU + Lithiun"])
def test_misspelt_lithium_in_a_combined_entry_does_not_start(entered: str, substance: str) -> None:
    got = findings(entered, substance=substance)
    assert decision(entered, substance=substance) == "do-not-start"
    assert ("ix-lithium", "contraindicated") in [(c, s) for c, s, _ in got]
    spelling = [f for f in got if f[0] == "medication-spelling"]
    word = entered.split()[-1].lower()
    assert spelling == [("medication-spelling", "moderate", f"{word} -> lithium")]


def test_did_you_mean_is_in_the_title() -> None:
    result = screen(replace(CLEAN, medications=("ibuprofen + Nardl",)), "lsd")
    spelling = next(f for f in result.findings if f.code == "medication-spelling")
    assert spelling.title == "Did you mean nardil? ('nardl' in 'ibuprofen + Nardl')"


def test_an_unrecognised_word_beside_a_known_drug_is_its_own_finding() -> None:
    got = findings("gabapentin + Zyxorin 20 mg")
    assert ("medication-unrecognised", "moderate", "zyxorin") in got
    assert ("ix-gabapentinoid", "minor", "gabapentin + Zyxorin 20 mg (gabapentin)") in got
    assert decision("gabapentin + Zyxorin 20 mg") == "clinician-review"
    assert decision("gabapentin 300 mg at night") == "no-known-issues"


def test_new_combined_entry_with_misspelt_maoi_holds_dosing() -> None:
    alerts = check_new_medications(["gabapentin"], ["gabapentin", "ibuprofen + Nardl"], "lsd")
    assert [(a.code, a.action) for a in alerts] == [("new-medication-interaction", "hold-dosing")]
    assert alerts[0].detail is not None
    assert "Nardl" in alerts[0].detail
