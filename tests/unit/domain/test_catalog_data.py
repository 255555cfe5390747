"""The packaged catalog: loads, is frozen, carries the REFERENCE.md facts, and rejects bad files."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest
import yaml

from microtrial.domain.catalog import (
    CatalogError,
    catalog_problems,
    load_catalog,
    load_catalog_files,
    parse_catalog,
    parse_instrument,
)
from microtrial.domain.regimens import DoseUnit, load_regimen_catalog
from microtrial.domain.scoring import score
from microtrial.domain.substances import substance_ids

CATALOG = load_catalog()

# REFERENCE.md F.1, typed in by hand from the reference (independent of the data file)
F1_CODES = {
    "diabetic-polyneuropathy": {"E11.42", "E10.42", "E13.42", "E08.42", "E09.42"},
    "postherpetic-neuralgia": {"B02.29", "B02.22", "B02.23"},
    "trigeminal-neuralgia": {"G50.0"},
    "other-neuropathic-pain": {"M79.2"},
    "migraine-without-aura": {"G43.001", "G43.009", "G43.011", "G43.019"},
    "migraine-with-aura": {"G43.101", "G43.109", "G43.111", "G43.119"},
    "chronic-migraine": {"G43.701", "G43.709", "G43.711", "G43.719"},
    "menstrual-migraine": {"G43.821", "G43.829", "G43.831", "G43.839"},
    "migraine-other-unspecified": {"G43.809", "G43.909", "G43.919"},
    "cluster-headache-episodic": {"G44.011", "G44.019"},
    "cluster-headache-chronic": {"G44.021", "G44.029"},
    "cluster-headache-unspecified": {"G44.001", "G44.009"},
    "fibromyalgia": {"M79.7"},
}
UNVERIFIED_CODES = {"E10.42", "E13.42", "E08.42", "E09.42", "B02.29", "M79.7"}
REFERENCE_TO_SEVERITY = {
    "contraindicated": "contraindicated",
    "avoid": "major",
    "caution": "moderate",
    "minimal": "minor",
}


def test_load_catalog_is_cached_and_frozen() -> None:
    assert load_catalog() is CATALOG
    with pytest.raises(pydantic.ValidationError):
        CATALOG.age_rule = CATALOG.age_rule  # type: ignore[misc]


def test_instruments_shipped_in_full() -> None:
    assert set(CATALOG.instruments) == {
        "daily_diary", "peg3", "phq9", "phq2", "gad7", "pgic", "acr_fm_2010", "acr_fm_2011",
        "acr_fm_2016", "migraine_diary", "cluster_attack_log", "neuropathic_symptoms",
        "ae_checklist", "home_bp", "clinic_bp",
    }  # fmt: skip


def test_licensed_instruments_are_listed_not_shipped() -> None:
    licensed = {"bpi", "fiqr", "hit6", "midas", "promis", "wemwbs", "dn4", "npsi", "dass21"}
    assert set(CATALOG.licensed_instruments) == licensed
    assert not licensed & set(CATALOG.instruments)
    with pytest.raises(CatalogError, match="licensed, not shipped"):
        CATALOG.instrument("bpi")


@pytest.mark.parametrize(
    ("instrument", "where", "code"),
    [
        ("daily_diary", "item:average_pain", "72514-3"),
        ("peg3", "panel", "91148-7"),
        ("peg3", "score:mean", "91147-9"),
        ("peg3", "item:p", "75893-8"),
        ("peg3", "item:e", "91145-3"),
        ("peg3", "item:g", "91146-1"),
        ("phq9", "panel", "44249-1"),
        ("phq9", "score:total", "44261-6"),
        ("phq9", "item:q1", "44250-9"),
        ("phq9", "item:q9", "44260-8"),
        ("phq9", "item:difficulty", "69722-7"),
        ("phq2", "panel", "55757-9"),
        ("phq2", "score:total", "55758-7"),
        ("gad7", "panel", "69737-5"),
        ("gad7", "score:total", "70274-6"),
        ("gad7", "item:q7", "69736-7"),
        *(
            (bp, where, code)
            for bp in ("home_bp", "clinic_bp")
            for where, code in (
                ("panel", "85354-9"),
                ("item:systolic", "8480-6"),
                ("item:diastolic", "8462-4"),
            )
        ),
    ],
)
def test_loinc_codes_match_reference(instrument: str, where: str, code: str) -> None:
    inst = CATALOG.instrument(instrument)
    if where == "panel":
        assert inst.loinc == code
    elif where.startswith("item:"):
        assert inst.item(where[5:]).loinc == code
    else:
        assert inst.score_def(where[6:]).loinc == code


def test_icd10_codes_are_exactly_reference_f1() -> None:
    got = {cid: {c.code for c in cond.codes} for cid, cond in CATALOG.conditions.items()}
    assert got == F1_CODES
    unverified = {
        c.code for cond in CATALOG.conditions.values() for c in cond.codes if c.unverified
    }
    assert unverified == UNVERIFIED_CODES


def test_condition_lookup_by_code() -> None:
    found = CATALOG.condition_by_code("g44.021")
    assert found is not None
    assert found.id == "cluster-headache-chronic"
    assert CATALOG.condition_by_code("Z99.9") is None


@pytest.mark.parametrize("condition_id", sorted(F1_CODES))
def test_every_condition_has_group_endpoints_and_sourced_evidence(condition_id: str) -> None:
    condition = CATALOG.conditions[condition_id]
    group = CATALOG.groups[condition.group]
    assert group.id in {"neuropathic", "migraine", "cluster", "fibromyalgia"}
    assert group.endpoints.primary
    assert group.endpoints.secondary
    assert set(group.diary_instruments) <= set(CATALOG.instruments)
    note = CATALOG.evidence_notes[condition.evidence_note]
    assert note.known
    assert note.unknown
    assert all(s in CATALOG.sources for s in note.sources)


@pytest.mark.parametrize(
    ("group", "diary"),
    [
        ("migraine", "migraine_diary"),
        ("cluster", "cluster_attack_log"),
        ("neuropathic", "neuropathic_symptoms"),
        ("fibromyalgia", "daily_diary"),
    ],
)
def test_groups_use_their_condition_diary(group: str, diary: str) -> None:
    assert diary in CATALOG.groups[group].diary_instruments
    assert "daily_diary" in CATALOG.groups[group].diary_instruments


def test_at_least_150_medication_names() -> None:
    assert len(CATALOG.medication_names) >= 150


@pytest.mark.parametrize("rule", CATALOG.interaction_rules, ids=lambda r: r.id)
def test_interaction_severity_follows_reference_class(rule: object) -> None:
    from microtrial.domain.catalog_files import InteractionRule

    assert isinstance(rule, InteractionRule)
    expected = REFERENCE_TO_SEVERITY[rule.reference_class]
    assert rule.severity == {"psilocybin": expected, "lsd": expected}
    assert rule.sources
    assert all(s in CATALOG.sources for s in rule.sources)


def test_unverified_marks_are_kept() -> None:
    rules = {r.id: r for r in CATALOG.interaction_rules}
    assert rules["ix-snri"].unverified
    assert rules["ix-gabapentinoid"].unverified
    assert rules["ix-opioid-serotonergic"].unverified
    assert not rules["ix-lithium"].unverified
    hppd = next(r for r in CATALOG.condition_rules if r.id == "ci-hppd")
    assert hppd.unverified
    assert "(unverified)" in CATALOG.cite(hppd.sources)[0]
    assert CATALOG.instruments["migraine_diary"].score_def("migraine_day").unverified


def test_substance_identifiers_from_reference_f2() -> None:
    assert CATALOG.substances["psilocybin"].unii == "2RV7212BP0"
    assert CATALOG.substances["psilocybin"].drugbank == "DB11664"
    assert CATALOG.substances["lsd"].unii == "8NA5SWF92O"
    assert CATALOG.substances["lsd"].drugbank == "DB04829"


def test_packaged_files_have_no_problems() -> None:
    assert catalog_problems(load_catalog_files()) == []


def _edited(name: str, edit: object) -> dict[str, str]:
    texts = load_catalog_files()
    data = yaml.safe_load(texts[name])
    edit(data)  # type: ignore[operator]
    texts[name] = yaml.safe_dump(data, allow_unicode=True)
    return texts


def _drop_sources(data: dict[str, list[dict[str, object]]]) -> None:
    data["interaction_rules"][0]["sources"] = []


def _unknown_class(data: dict[str, list[dict[str, object]]]) -> None:
    data["interaction_rules"][0]["match"] = {"classes": ["no-such-class"]}


def _unknown_source(data: dict[str, list[dict[str, object]]]) -> None:
    data["condition_rules"][0]["sources"] = ["no-such-source"]


def _duplicate_name(data: dict[str, list[dict[str, object]]]) -> None:
    data["ingredients"][1]["names"] = ["Lithobid"]


def _bad_icd(data: dict[str, list[dict[str, object]]]) -> None:
    data["conditions"][0]["codes"] = [{"code": "E11-42", "title": "typo"}]


def _unknown_key(data: dict[str, list[dict[str, object]]]) -> None:
    data["history_flags"][0]["requird"] = True


def _unknown_instrument(data: dict[str, list[dict[str, object]]]) -> None:
    data["groups"][0]["diary_instruments"] = ["bpi"]


def _alert_unknown_item(data: dict[str, list[dict[str, object]]]) -> None:
    data["instrument_rules"][0]["item"] = "q10"


def _bp_out_of_order(data: dict[str, list[dict[str, object]]]) -> None:
    data["blood_pressure_rules"].reverse()


def _bp_bad_comparison(data: dict[str, list[dict[str, object]]]) -> None:
    data["blood_pressure_rules"][1]["comparison"] = "over"


def _bp_averaging_unsourced(data: dict[str, dict[str, object]]) -> None:
    data["blood_pressure_averaging"]["sources"] = ["no-such-source"]


def _answer_code_missing(data: dict[str, list[dict[str, Any]]]) -> None:
    phq9 = next(i for i in data["instruments"] if i["id"] == "phq9")
    phq9["items"][0]["answer_codes"] = {
        "system": "http://loinc.org",
        "codes": {0: "LA6568-5"},
        "sources": ["loinc"],
    }


def _answer_code_unsourced(data: dict[str, list[dict[str, Any]]]) -> None:
    gad7 = next(i for i in data["instruments"] if i["id"] == "gad7")
    gad7["items"][2]["answer_codes"] = {
        **gad7["items"][2]["answer_codes"],
        "sources": ["no-such-source"],
    }


@pytest.mark.parametrize(
    ("name", "edit", "message"),
    [
        (
            "instruments.yaml",
            _answer_code_missing,
            "item q1: answer codes must cover exactly the labelled grades",
        ),
        (
            "instruments.yaml",
            _answer_code_unsourced,
            "instrument gad7.q3 answer codes: unknown source no-such-source",
        ),
        ("screening.yaml", _drop_sources, "interaction_rules.0.sources"),
        (
            "screening.yaml",
            _bp_out_of_order,
            "rule bp-uncontrolled: blood_pressure_rules must run most severe first",
        ),
        ("screening.yaml", _bp_bad_comparison, "blood_pressure_rules.1.comparison"),
        (
            "screening.yaml",
            _bp_averaging_unsourced,
            "blood_pressure_averaging: unknown source no-such-source",
        ),
        ("screening.yaml", _unknown_class, "rule ix-lithium: unknown class no-such-class"),
        ("screening.yaml", _unknown_source, "rule ci-psychotic-disorder: unknown source"),
        ("medications.yaml", _duplicate_name, "duplicate medication name 'Lithobid'"),
        ("conditions.yaml", _bad_icd, "malformed ICD-10-CM code E11-42"),
        ("screening.yaml", _unknown_key, "history_flags.0.requird"),
        ("conditions.yaml", _unknown_instrument, "group neuropathic: unknown instrument bpi"),
        ("alerts.yaml", _alert_unknown_item, "alert phq9-item9: unknown item q10"),
    ],
)
def test_broken_catalogs_are_rejected_with_clear_messages(
    name: str, edit: object, message: str
) -> None:
    texts = _edited(name, edit)
    problems = catalog_problems(texts)
    assert any(message in p for p in problems), problems
    with pytest.raises(CatalogError, match="invalid catalog"):
        parse_catalog(texts)


def test_invalid_yaml_is_reported_with_file_name() -> None:
    texts = load_catalog_files()
    texts["alerts.yaml"] = "version: [unclosed"
    assert any(p.startswith("alerts.yaml: not valid YAML") for p in catalog_problems(texts))


USER_INSTRUMENT = """
id: site_bpi_severity
version: site-copy-1
title: Site's licensed pain severity items (example)
kind: questionnaire
recall: last 24 hours
licence: Licensed copy held by the site
sources: [design-choice]
items:
  - {id: worst, text: Worst pain, type: integer, min: 0, max: 10}
  - {id: least, text: Least pain, type: integer, min: 0, max: 10}
  - {id: average, text: Average pain, type: integer, min: 0, max: 10}
  - {id: now, text: Pain now, type: integer, min: 0, max: 10}
missing: {policy: none}
scores:
  - id: severity
    title: Mean severity
    method: mean
    items: [worst, least, average, now]
    min: 0
    max: 10
primary_score: severity
"""


def test_user_instrument_definition_loads_and_scores() -> None:
    instrument = parse_instrument(USER_INSTRUMENT)
    result = score(instrument, {"worst": 8, "least": 2, "average": 5, "now": 5})
    assert result.primary.value == 5


def test_user_instrument_with_bad_reference_is_rejected() -> None:
    broken = USER_INSTRUMENT.replace("items: [worst, least, average, now]", "items: [worst, best]")
    with pytest.raises(CatalogError, match="unknown item best"):
        parse_instrument(broken)
    with pytest.raises(CatalogError, match="mapping"):
        parse_instrument("- just a list")


def test_substances_and_their_units_come_from_the_catalog() -> None:
    assert substance_ids(CATALOG) == ("psilocybin", "lsd")
    # units are stated once, with the sourced range of each preparation (regimens.yaml)
    ranges = load_regimen_catalog().microdose_ranges
    assert {r.unit for r in ranges["lsd"]} == {DoseUnit.MICROGRAM}
