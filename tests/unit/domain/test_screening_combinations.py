"""Combination rules over pairs of drug classes, in screening and the mid-trial medication rule."""

from __future__ import annotations

from dataclasses import replace

import pytest

from microtrial.domain.alerts import check_new_medications
from microtrial.domain.catalog import CatalogError, load_catalog, load_catalog_files, parse_catalog
from microtrial.domain.catalog_files import CombinationRule
from microtrial.domain.screening import BloodPressure, PatientSnapshot, ScreeningResult, screen

CATALOG = load_catalog()
CLEAN = PatientSnapshot(
    history=dict.fromkeys(CATALOG.history_flags, False),
    pregnant=False,
    blood_pressures=(BloodPressure(122, 78),),
    age=45,
)


def result(*meds: str, substance: str = "psilocybin") -> ScreeningResult:
    return screen(replace(CLEAN, medications=meds), substance)


def one_name(match_ids: tuple[str, ...], classes: tuple[str, ...]) -> str:
    """An ingredient that the rule side matches (by ingredient or class)."""
    if match_ids:
        return match_ids[0]
    return next(i.id for i in CATALOG.ingredients.values() if set(i.classes) & set(classes))


@pytest.mark.parametrize("substance", ["psilocybin", "lsd"])
@pytest.mark.parametrize(
    ("meds", "code", "decision"),
    [
        (("sertraline", "linezolid"), "combo-serotonergic-maoi", "do-not-start"),
        (("Zoloft 50 mg", "Zyvox 600 mg"), "combo-serotonergic-maoi", "do-not-start"),
        (("sertraline + linezolid",), "combo-serotonergic-maoi", "do-not-start"),
        (("duloxetine", "methylene blue"), "combo-serotonergic-maoi", "do-not-start"),
        (("Effexor XR 75 mg", "Nardil"), "combo-serotonergic-maoi", "do-not-start"),
        (("escitalopram", "moclobemide"), "combo-serotonergic-maoi", "do-not-start"),
        (("tramadol 50 mg", "sertraline"), "combo-tramadol-serotonergic", "clinician-review"),
        (("Ultracet", "Cymbalta"), "combo-tramadol-serotonergic", "clinician-review"),
        (("sumatriptan", "dihydroergotamine"), "combo-triptan-ergot", "clinician-review"),
        (("Treximet", "DHE 45 injection"), "combo-triptan-ergot", "clinician-review"),
    ],
)
def test_combinations_reach_their_decision(
    meds: tuple[str, ...], code: str, decision: str, substance: str
) -> None:
    got = result(*meds, substance=substance)
    assert got.decision == decision
    combos = [f for f in got.findings if f.code.startswith("combo-")]
    assert [f.code for f in combos] == [code]
    assert combos[0].sources


@pytest.mark.parametrize(
    "meds",
    [("sertraline",), ("linezolid",), ("sumatriptan", "naproxen"),
     ("tramadol", "gabapentin"), ("sertraline", "escitalopram")],
)  # fmt: skip
def test_no_combination_without_both_sides(meds: tuple[str, ...]) -> None:
    assert not [f for f in result(*meds).findings if f.code.startswith("combo-")]


def test_pairs_are_named_in_the_finding() -> None:
    got = result("Zoloft 50 mg", "Zyvox 600 mg")
    combo = next(f for f in got.findings if f.code == "combo-serotonergic-maoi")
    assert combo.matched == "Zoloft 50 mg (sertraline) + Zyvox 600 mg (linezolid)"
    assert combo.severity == "contraindicated"


@pytest.mark.parametrize("rule", CATALOG.combination_rules, ids=lambda r: r.id)
def test_every_combination_rule_fires_for_a_matching_pair(rule: CombinationRule) -> None:
    first = one_name(rule.first.ingredients, rule.first.classes)
    second = one_name(rule.second.ingredients, rule.second.classes)
    got = result(first, second)
    assert rule.id in {f.code for f in got.findings}
    assert all(s in CATALOG.sources for s in rule.sources)


def test_the_listed_combinations_are_in_the_catalog() -> None:
    assert {r.id for r in CATALOG.combination_rules} >= {
        "combo-serotonergic-maoi",
        "combo-tramadol-serotonergic",
        "combo-triptan-ergot",
    }
    maoi = next(r for r in CATALOG.combination_rules if r.id == "combo-serotonergic-maoi")
    assert maoi.severity == "contraindicated"
    assert {"linezolid", "methylene blue"} <= {
        i.id for i in CATALOG.ingredients.values() if "maoi" in i.classes
    }


def test_mid_trial_rule_alerts_on_a_new_combination_only() -> None:
    alerts = check_new_medications(["Zyvox"], ["Zyvox", "Zoloft"], "lsd")
    assert len(alerts) == 1
    assert alerts[0].action == "hold-dosing"
    assert alerts[0].detail is not None
    assert "Zoloft (sertraline) + Zyvox (linezolid)" in alerts[0].detail
    assert "contraindicated" in alerts[0].detail
    # the triptan alone is moderate: only its combination with the listed ergot alerts
    alerts = check_new_medications(["DHE"], ["DHE", "sumatriptan"], "psilocybin")
    assert [a.detail for a in alerts] == [
        "sumatriptan (sumatriptan) + DHE (dihydroergotamine): "
        "Triptan together with an ergot (e.g. dihydroergotamine) (major)"
    ]
    # an unrelated new drug does not re-raise a combination already on the list
    assert (
        check_new_medications(["DHE", "sumatriptan"], ["DHE", "sumatriptan", "Advil"], "lsd") == []
    )


def test_a_combination_rule_naming_an_unknown_class_is_a_catalog_error() -> None:
    texts = load_catalog_files()
    bad = texts["screening.yaml"].replace(
        "second: {classes: [ergot]}", "second: {classes: [no-such-class]}"
    )
    assert bad != texts["screening.yaml"]
    with pytest.raises(CatalogError, match="combo-triptan-ergot: unknown class no-such-class"):
        parse_catalog({**texts, "screening.yaml": bad})
