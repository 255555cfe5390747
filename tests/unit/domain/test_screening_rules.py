"""Safety screening: decisions and findings for the acceptance cases and every catalog rule."""

from __future__ import annotations

from dataclasses import replace
from typing import get_args

import pytest

from microtrial import i18n
from microtrial.domain.catalog import load_catalog
from microtrial.domain.catalog_files import SEVERITY_ORDER, InteractionRule, Match, TimingRule
from microtrial.domain.screening import (
    BloodPressure,
    Decision,
    PatientSnapshot,
    ScreeningResult,
    decision_words,
    screen,
)
from microtrial.errors import ValidationError
from microtrial.web.staff_words import decision

CATALOG = load_catalog()
SUBSTANCES = ["psilocybin", "lsd"]
ALL_NO = dict.fromkeys(CATALOG.history_flags, False)
CLEAN = PatientSnapshot(
    history=ALL_NO, pregnant=False, blood_pressures=(BloodPressure(122, 78),), age=45
)


DECISION_FOR = {
    "contraindicated": "do-not-start",
    "major": "clinician-review",
    "moderate": "clinician-review",
    "minor": "no-known-issues",
}


def with_meds(*meds: str) -> PatientSnapshot:
    return replace(CLEAN, medications=meds)


def codes(result: ScreeningResult) -> set[str]:
    return {f.code for f in result.findings}


def worst(result: ScreeningResult) -> str | None:
    if not result.findings:
        return None
    return max(result.findings, key=lambda f: SEVERITY_ORDER[f.severity]).severity


@pytest.mark.parametrize("substance", SUBSTANCES)
def test_clean_patient_has_no_known_issues(substance: str) -> None:
    result = screen(CLEAN, substance)
    assert result.decision == "no-known-issues"
    assert result.findings == ()


@pytest.mark.parametrize("substance", SUBSTANCES)
@pytest.mark.parametrize(
    "name",
    ["lithium", "Lithobid 300 mg ER tab", "Eskalith", "Priadel 400mg", "Camcolit",
     "lithium carbonate 300 mg", "LITHIUM CITRATE syrup"],
)  # fmt: skip
def test_lithium_and_its_brands_do_not_start(name: str, substance: str) -> None:
    result = screen(with_meds(name), substance)
    assert result.decision == "do-not-start"
    lithium = next(f for f in result.findings if f.code == "ix-lithium")
    assert lithium.severity == "contraindicated"
    assert lithium.matched is not None
    assert name in lithium.matched
    assert any("Nayak" in s for s in lithium.sources)


@pytest.mark.parametrize("substance", SUBSTANCES)
@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("tramadol 50 mg", "ix-tramadol"), ("Ultram", "ix-tramadol"),
        ("Ultracet", "ix-tramadol"), ("phenelzine", "ix-maoi"), ("Nardil", "ix-maoi"),
        ("Parnate 10mg", "ix-maoi"), ("isocarboxazid", "ix-maoi"), ("linezolid", "ix-maoi"),
        ("moclobemide", "ix-rima-harmala"), ("amitriptyline 10 mg", "ix-tca"),
        ("nortriptyline", "ix-tca"), ("Elavil", "ix-tca"), ("imipramine", "ix-tca"),
        ("clomipramine", "ix-tca"), ("Pamelor 25mg", "ix-tca"),
    ],
)  # fmt: skip
def test_tramadol_maois_tricyclics_are_at_least_major(name: str, code: str, substance: str) -> None:
    result = screen(with_meds(name), substance)
    finding = next(f for f in result.findings if f.code == code)
    assert SEVERITY_ORDER[finding.severity] >= SEVERITY_ORDER["major"]
    assert result.decision in {"clinician-review", "do-not-start"}


@pytest.mark.parametrize("substance", SUBSTANCES)
@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("sertraline", "ix-ssri"), ("Zoloft 100mg", "ix-ssri"), ("escitalopram", "ix-ssri"),
        ("Lexapro", "ix-ssri"), ("fluoxetine", "ix-ssri"), ("paroxetine", "ix-ssri"),
        ("citalopram", "ix-ssri"), ("duloxetine 60 mg", "ix-snri"), ("Cymbalta", "ix-snri"),
        ("venlafaxine", "ix-snri"), ("Effexor XR", "ix-snri"), ("desvenlafaxine", "ix-snri"),
        ("milnacipran", "ix-snri"),
    ],
)  # fmt: skip
def test_ssris_and_snris_are_moderate_with_blunting(name: str, code: str, substance: str) -> None:
    result = screen(with_meds(name), substance)
    finding = next(f for f in result.findings if f.code == code)
    assert finding.severity == "moderate"
    assert "blunting" in finding.rationale.lower()
    assert worst(result) == "moderate"
    assert result.decision == "clinician-review"


@pytest.mark.parametrize("substance", SUBSTANCES)
@pytest.mark.parametrize("name", ["gabapentin", "Neurontin 300 mg", "pregabalin", "Lyrica 75mg"])
def test_gabapentinoids_are_minor(name: str, substance: str) -> None:
    result = screen(with_meds(name), substance)
    assert [(f.code, f.severity) for f in result.findings] == [("ix-gabapentinoid", "minor")]
    assert result.decision == "no-known-issues"


@pytest.mark.parametrize("substance", SUBSTANCES)
def test_unrecognised_medication_needs_review_and_is_named(substance: str) -> None:
    result = screen(with_meds("gabapentin", "Zyxorin 20 mg"), substance)
    assert result.decision == "clinician-review"
    unknown = [f for f in result.findings if f.code == "medication-unrecognised"]
    assert len(unknown) == 1
    assert unknown[0].matched == "Zyxorin 20 mg"
    assert "Zyxorin 20 mg" in unknown[0].title


@pytest.mark.parametrize("substance", SUBSTANCES)
@pytest.mark.parametrize("flag", ["psychotic-disorder", "bipolar-1"])
def test_psychosis_or_bipolar_1_history_do_not_start(flag: str, substance: str) -> None:
    result = screen(replace(CLEAN, history=ALL_NO | {flag: True}), substance)
    assert result.decision == "do-not-start"
    assert [f.matched for f in result.findings] == [flag]


@pytest.mark.parametrize("substance", SUBSTANCES)
def test_pregnancy_does_not_start(substance: str) -> None:
    result = screen(replace(CLEAN, pregnant=True), substance)
    assert result.decision == "do-not-start"
    assert codes(result) == {"ci-pregnancy"}


def test_unknown_pregnancy_status_needs_review() -> None:
    result = screen(replace(CLEAN, pregnant=None), "lsd")
    assert result.decision == "clinician-review"
    assert codes(result) == {"pregnancy-unanswered"}


@pytest.mark.parametrize("rule", CATALOG.condition_rules, ids=lambda r: r.id)
def test_every_history_rule_fires_with_its_severity(rule: object) -> None:
    from microtrial.domain.catalog_files import ConditionRule

    assert isinstance(rule, ConditionRule)
    result = screen(replace(CLEAN, history=ALL_NO | {rule.history_flag: True}), "psilocybin")
    assert [(f.code, f.severity) for f in result.findings] == [(rule.id, rule.severity)]
    expected = DECISION_FOR[rule.severity]
    assert result.decision == expected
    assert result.findings[0].sources


def test_history_mapping_to_severity() -> None:
    severity = {r.history_flag: r.severity for r in CATALOG.condition_rules}
    assert severity["seizure-history"] == "contraindicated"
    assert severity["suicide-risk"] == "contraindicated"
    assert severity["bipolar-2"] == "major"
    assert severity["family-epilepsy"] == "moderate"
    assert severity["valvular-disease"] == "contraindicated"


@pytest.mark.parametrize("flag", sorted(f.id for f in CATALOG.history_flags.values() if f.required))
def test_unanswered_required_history_needs_review(flag: str) -> None:
    history = {k: v for k, v in ALL_NO.items() if k != flag}
    result = screen(replace(CLEAN, history=history), "lsd")
    assert result.decision == "clinician-review"
    assert [(f.code, f.matched) for f in result.findings] == [("history-unanswered", flag)]


def test_unanswered_optional_history_is_fine() -> None:
    history = ALL_NO | {"hppd": None}
    assert screen(replace(CLEAN, history=history), "lsd").decision == "no-known-issues"


def medication_for(match: Match) -> str:
    """A catalog name (a brand where there is one) that the rule's match covers."""
    for ingredient in CATALOG.ingredients.values():
        if set(ingredient.classes) & set(match.classes) or ingredient.id in match.ingredients:
            return ingredient.names[0] if ingredient.names else ingredient.id
    raise AssertionError("rule matches no ingredient")


@pytest.mark.parametrize("substance", SUBSTANCES)
@pytest.mark.parametrize("rule", CATALOG.interaction_rules, ids=lambda r: r.id)
def test_every_interaction_rule_fires_for_a_matching_drug(rule: object, substance: str) -> None:
    assert isinstance(rule, InteractionRule)
    result = screen(with_meds(medication_for(rule.match)), substance)
    finding = next(f for f in result.findings if f.code == rule.id)
    assert finding.severity == rule.severity[substance]
    assert finding.sources == CATALOG.cite(rule.sources)
    assert finding.rationale == rule.mechanism


@pytest.mark.parametrize("rule", CATALOG.timing_rules, ids=lambda r: r.id)
def test_every_timing_rule_is_a_finding(rule: object) -> None:
    assert isinstance(rule, TimingRule)
    result = screen(with_meds(medication_for(rule.match)), "psilocybin")
    finding = next(f for f in result.findings if f.code == rule.id)
    assert finding.severity == rule.severity
    assert f"{rule.separation_days_before} day(s) before" in finding.rationale


@pytest.mark.parametrize(
    ("conditions", "timing"),
    [((), True), (("migraine-with-aura",), True), (("G44.029",), True), (("fibromyalgia",), False),
     (("fibromyalgia", "chronic-migraine"), True)],
)  # fmt: skip
def test_headache_trial_timing_rules_follow_condition_group(
    conditions: tuple[str, ...], timing: bool
) -> None:
    result = screen(replace(CLEAN, conditions=conditions, medications=("Zoloft",)), "lsd")
    assert ("timing-serotonergic-preventive" in codes(result)) == timing
    assert "ix-ssri" in codes(result)


def test_triptan_gives_interaction_and_timing_findings() -> None:
    result = screen(with_meds("Imitrex 50 mg"), "psilocybin")
    assert codes(result) == {"ix-triptan", "timing-triptan"}
    assert result.decision == "clinician-review"


def test_missing_blood_pressure_is_a_minor_finding() -> None:
    result = screen(replace(CLEAN, blood_pressures=()), "lsd")
    assert [(f.code, f.severity) for f in result.findings] == [("bp-not-recorded", "minor")]
    assert result.decision == "no-known-issues"


@pytest.mark.parametrize(
    ("age", "code", "decision"),
    [(17, "ci-age-under-18", "do-not-start"), (18, None, "no-known-issues"),
     (None, "age-unknown", "clinician-review")],
)  # fmt: skip
def test_age(age: int | None, code: str | None, decision: str) -> None:
    result = screen(replace(CLEAN, age=age), "psilocybin")
    assert codes(result) == ({code} if code else set())
    assert result.decision == decision


def test_findings_are_sorted_most_severe_first() -> None:
    result = screen(with_meds("gabapentin", "Zoloft", "lithium"), "lsd")
    severities = [f.severity for f in result.findings]
    assert severities == sorted(severities, key=lambda s: -SEVERITY_ORDER[s])
    assert severities[0] == "contraindicated"


def test_bad_inputs_are_validation_errors() -> None:
    with pytest.raises(ValidationError, match="unknown substance 'mdma'"):
        screen(CLEAN, "mdma")
    with pytest.raises(ValidationError, match="unknown history flag 'epilepsy'"):
        screen(replace(CLEAN, history=ALL_NO | {"epilepsy": True}), "lsd")
    with pytest.raises(ValidationError, match="unknown condition"):
        screen(replace(CLEAN, conditions=("Z99.9",)), "lsd")
    with pytest.raises(ValidationError, match="implausible"):
        screen(replace(CLEAN, blood_pressures=(BloodPressure(400, 80),)), "lsd")


def test_conditions_accept_ids_and_icd10_codes() -> None:
    snapshot = replace(CLEAN, conditions=("fibromyalgia", "G43.909"))
    assert screen(snapshot, "lsd").decision == "no-known-issues"


@pytest.mark.parametrize(("text", "sys", "dia"), [("128/84", 128, 84), (" 140/90 ", 140, 90)])
def test_blood_pressure_parse(text: str, sys: int, dia: int) -> None:
    assert BloodPressure.parse(text) == BloodPressure(sys, dia)


@pytest.mark.parametrize("text", ["128-84", "abc", "80/128", "128/84/1"])
def test_blood_pressure_parse_rejects(text: str) -> None:
    with pytest.raises(ValidationError):
        BloodPressure.parse(text)


def test_result_as_dict_shape() -> None:
    data = screen(with_meds("lithium"), "lsd").as_dict()
    assert data["decision"] == "do-not-start"
    findings = data["findings"]
    assert isinstance(findings, list)
    assert set(findings[0]) == {
        "severity",
        "code",
        "title",
        "rationale",
        "sources",
        "matched",
        "until",
    }
    assert findings[0]["until"] is None  # only a stopped medication's wash-out has an end


def test_every_decision_has_words_that_the_pages_translate() -> None:
    # One home for the words: the preparation PDF prints them, the staff pages translate them.
    for code in get_args(Decision):
        assert decision_words(code) != code
        assert decision(code) == decision_words(code)
        with i18n.speaking("de"):
            assert decision(code) not in (code, decision_words(code))
    assert decision_words("no-known-issues") == "no known issues"
    assert decision_words("something-new") == "something-new"
