"""Drugs that used to pass screening silently: cyclobenzaprine, D2 antiemetics, antiepileptics."""

from __future__ import annotations

from dataclasses import replace

import pytest

from microtrial.domain.catalog import load_catalog
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


@pytest.mark.parametrize("substance", ["psilocybin", "lsd"])
@pytest.mark.parametrize(
    ("entered", "code"),
    [
        ("cyclobenzaprine 10 mg", "ix-cyclobenzaprine"),
        ("Flexeril", "ix-cyclobenzaprine"),
        ("prochlorperazine 5 mg", "ix-d2-antiemetic"),
        ("Stemetil", "ix-d2-antiemetic"),
        ("promethazine 25 mg", "ix-d2-antiemetic"),
        ("Phenergan", "ix-d2-antiemetic"),
        ("metoclopramide 10 mg", "ix-d2-antiemetic"),
        ("Reglan", "ix-d2-antiemetic"),
        ("levetiracetam 500 mg", "ix-antiepileptic-seizure-question"),
        ("Keppra", "ix-antiepileptic-seizure-question"),
        ("Depakote ER 500 mg", "ix-antiepileptic-seizure-question"),
        ("Dilantin 100 mg", "ix-antiepileptic-seizure-question"),
    ],
)
def test_added_drugs_need_clinician_review(entered: str, code: str, substance: str) -> None:
    got = result(entered, substance=substance)
    assert got.decision == "clinician-review"
    finding = next(f for f in got.findings if f.code == code)
    assert finding.severity == "moderate"
    assert finding.sources


def test_antiepileptic_prompts_the_seizure_question() -> None:
    got = result("Keppra 500 mg")
    finding = next(f for f in got.findings if f.code == "ix-antiepileptic-seizure-question")
    assert "answer the seizure-history question" in finding.rationale
    seizures = replace(CLEAN, history={**CLEAN.history, "seizure-history": True})
    assert screen(replace(seizures, medications=("Keppra",)), "lsd").decision == "do-not-start"


def test_extrapolated_rules_keep_their_unverified_mark() -> None:
    rules = {r.id: r for r in CATALOG.interaction_rules}
    assert rules["ix-cyclobenzaprine"].unverified
    assert rules["ix-d2-antiemetic"].unverified
    assert "(unverified)" in rules["ix-cyclobenzaprine"].mechanism
    assert "unverified" in rules["ix-d2-antiemetic"].mechanism


def test_antiepileptics_used_for_pain_keep_their_own_rules() -> None:
    assert result("topiramate 50 mg").decision == "no-known-issues"
    assert result("lamotrigine").decision == "no-known-issues"
    assert result("gabapentin").decision == "no-known-issues"
