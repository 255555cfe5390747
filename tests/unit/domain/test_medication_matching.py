"""Medication names as entered -> ingredients and classes."""

from __future__ import annotations

import pytest

from microtrial.domain.medications import match_medication


@pytest.mark.parametrize(
    ("entered", "ingredients", "cls"),
    [
        ("Lithobid 300 mg ER tab", ("lithium",), "lithium"),
        ("LITHIUM CARBONATE 300MG", ("lithium",), "lithium"),
        ("priadel 400 mg", ("lithium",), "lithium"),
        ("Zoloft 50mg", ("sertraline",), "ssri"),
        ("Effexor XR 75 mg cap", ("venlafaxine",), "snri"),
        ("Cymbalta 60 mg DR capsule", ("duloxetine",), "cyp2d6-inhibitor"),
        ("sumatriptan succinate 100 mg tablet", ("sumatriptan",), "triptan"),
        ("Imitrex nasal spray 20mg", ("sumatriptan",), "triptan"),
        ("DHE 45 injection", ("dihydroergotamine",), "ergot"),
        ("Nardil 15 mg", ("phenelzine",), "maoi"),
        ("Elavil 10mg at night", ("amitriptyline",), "tca"),
        ("Ultram 50 mg", ("tramadol",), "opioid-tramadol"),
        ("Neurontin 300 mg caps", ("gabapentin",), "gabapentinoid"),
        ("St. John's Wort 300 mg", ("st john's wort",), "serotonergic-supplement"),
        ("Toprol-XL 25", ("metoprolol",), "beta-blocker"),
        ("Nurtec ODT 75 mg", ("rimegepant",), "gepant"),
    ],
)
def test_names_match_ignoring_case_strength_and_form(
    entered: str, ingredients: tuple[str, ...], cls: str
) -> None:
    found = match_medication(entered)
    assert found.ingredients == ingredients
    assert cls in found.classes
    assert found.recognised


def test_combination_products_map_to_every_ingredient() -> None:
    assert match_medication("Treximet 85/500").ingredients == ("sumatriptan", "naproxen")
    assert match_medication("Tylenol with codeine #3").ingredients == ("acetaminophen", "codeine")


def test_two_names_in_one_entry_both_match() -> None:
    found = match_medication("sertraline and lithium")
    assert found.ingredients == ("sertraline", "lithium")
    assert found.classes == ("ssri", "lithium")


@pytest.mark.parametrize("entered", ["Zyxorin 20 mg", "", "300 mg tablet", "vitamin z"])
def test_unknown_names_are_not_recognised(entered: str) -> None:
    found = match_medication(entered)
    assert not found.recognised
    assert found.ingredients == ()
