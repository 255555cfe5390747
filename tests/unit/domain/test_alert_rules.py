"""Alert rules (REFERENCE.md D.3): each threshold, both sides of it."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from microtrial.domain.alerts import (
    AdverseEventReport,
    alerts_for_score,
    check_adverse_event,
    check_blood_pressure,
    check_dose_on_calendar,
    check_missed_diary_days,
    check_new_medications,
    check_pain_flare,
    check_persistent_grade2,
    check_symptoms,
    check_weekly_worsening,
    crisis_item_rules,
    crisis_rule_fires,
    known_symptoms,
)
from microtrial.domain.catalog import load_catalog
from microtrial.domain.catalog_files import SymptomRule
from microtrial.domain.scoring import score
from microtrial.errors import ValidationError

CATALOG = load_catalog()
PHQ9_ZERO = {f"q{i}": 0 for i in range(1, 10)}
TODAY = date(2026, 3, 10)


def test_phq9_item9_one_with_total_one_is_urgent() -> None:
    alerts = alerts_for_score(score("phq9", PHQ9_ZERO | {"q9": 1}))
    assert [(a.code, a.severity, a.action) for a in alerts] == [
        ("phq9-item9", "urgent", "hold-dosing")
    ]
    assert alerts[0].detail == "q9 = 1"
    assert "988" in alerts[0].message
    assert alerts[0].sources


def test_phq9_high_total_without_item9_raises_no_alert() -> None:
    answers = PHQ9_ZERO | {f"q{i}": 3 for i in range(1, 9)}
    assert alerts_for_score(score("phq9", answers)) == []


@pytest.mark.parametrize(
    ("report", "codes"),
    [
        (AdverseEventReport("headache", 3), ["ae-grade-3-or-serious"]),
        (AdverseEventReport("anxiety", 4), ["ae-grade-3-or-serious"]),
        (AdverseEventReport("nausea", 2), []),
        (AdverseEventReport("fall", 1, serious=True), ["ae-grade-3-or-serious"]),
        (AdverseEventReport("seizure", 2, symptoms=frozenset({"seizure"})), ["seizure"]),
        (
            AdverseEventReport("serotonin syndrome", 3, symptoms=frozenset({"myoclonus"})),
            ["ae-grade-3-or-serious", "serotonin-toxicity"],
        ),
    ],
)
def test_adverse_event_alerts(report: AdverseEventReport, codes: list[str]) -> None:
    alerts = check_adverse_event(report)
    assert [a.code for a in alerts] == codes
    for alert in alerts:
        expected = {"ae-grade-3-or-serious": ("urgent", "pause-trial"),
                    "seizure": ("urgent", "stop"),
                    "serotonin-toxicity": ("urgent", "stop")}[alert.code]  # fmt: skip
        assert (alert.severity, alert.action) == expected


def test_adverse_event_grade_out_of_range() -> None:
    with pytest.raises(ValidationError):
        check_adverse_event(AdverseEventReport("x", 6))


@pytest.mark.parametrize("rule", CATALOG.alerts.symptom_rules, ids=lambda r: r.code)
def test_every_symptom_rule(rule: object) -> None:
    assert isinstance(rule, SymptomRule)
    for symptom in rule.symptoms:
        alerts = check_symptoms([symptom, "headache"])
        assert [(a.code, a.action) for a in alerts] == [(rule.code, rule.action)]


def test_symptom_vocabulary_and_unknown_symptoms() -> None:
    assert {"seizure", "myoclonus", "hyperthermia", "rigidity", "pregnancy"} <= known_symptoms()
    assert check_symptoms(["tired"]) == []


@pytest.mark.parametrize(
    ("reading", "strict", "expected"),
    [
        ((185, 100), False, ("bp-crisis", "urgent", "stop")),
        ((150, 120), False, ("bp-crisis", "urgent", "stop")),
        ((179, 119), False, ("bp-withhold", "high", "withhold-dose")),
        ((160, 80), False, ("bp-withhold", "high", "withhold-dose")),
        ((130, 90), False, ("bp-withhold", "high", "withhold-dose")),
        ((159, 89), False, None),
        ((145, 85), True, ("bp-withhold-strict", "high", "withhold-dose")),
        ((139, 89), True, None),
    ],
)
def test_blood_pressure_alerts(
    reading: tuple[int, int], strict: bool, expected: tuple[str, str, str] | None
) -> None:
    alerts = check_blood_pressure(*reading, strict=strict)
    assert [(a.code, a.severity, a.action) for a in alerts] == ([expected] if expected else [])


def test_home_bp_entry_raises_bp_alert() -> None:
    alerts = alerts_for_score(score("home_bp", {"systolic": 182, "diastolic": 95}))
    assert [a.code for a in alerts] == ["bp-crisis"]


@pytest.mark.parametrize(
    ("systolic", "diastolic", "codes"),
    [(182, 95, ["bp-crisis"]), (160, 80, ["bp-withhold"]), (159, 89, [])],
)
def test_a_clinic_bp_reading_raises_the_same_alerts_as_a_home_one(
    systolic: int, diastolic: int, codes: list[str]
) -> None:
    answers = {"systolic": systolic, "diastolic": diastolic}
    clinic = alerts_for_score(score("clinic_bp", answers))
    assert [a.code for a in clinic] == codes
    assert clinic == alerts_for_score(score("home_bp", answers))


def test_ae_checklist_entry_raises_ae_alerts() -> None:
    alerts = alerts_for_score(score("ae_checklist", {"headache": 3, "seizure": True}))
    assert [a.code for a in alerts] == ["ae-grade-3-or-serious", "seizure"]
    assert alerts_for_score(score("ae_checklist", {"headache": 1})) == []


@pytest.mark.parametrize(
    ("scores", "baseline", "fires"),
    [
        ([2, 7, 7, 7], 4.0, True),
        ([7, 7, 6.9], 4.0, False),
        ([7, None, 7], 4.0, False),
        ([8, 8], 4.0, False),
        ([9.5, 9.5, 9.5], 6.5, True),
    ],
)
def test_pain_flare(scores: list[float | None], baseline: float, fires: bool) -> None:
    alert = check_pain_flare(scores, baseline)
    assert (alert is not None) == fires
    if alert is not None:
        assert (alert.code, alert.action) == ("pain-flare", "clinician-review")


@pytest.mark.parametrize(
    ("weeks", "baseline", "kind", "fires"),
    [
        ([6.5, 6.5], 5.0, "pain", True),
        ([6.5, 6.4], 5.0, "pain", False),
        ([9.0], 5.0, "pain", False),
        ([3, 6.0, 6.0], 4.0, "headache", True),
        ([5.9, 6.0], 4.0, "headache", False),
    ],
)
def test_weekly_worsening(weeks: list[float], baseline: float, kind: str, fires: bool) -> None:
    alert = check_weekly_worsening(weeks, baseline, kind=kind)  # type: ignore[arg-type]
    assert (alert is not None) == fires
    if alert is not None:
        assert alert.code == f"{kind}-worsening"


@pytest.mark.parametrize(
    ("last_entry_days_ago", "expected_from_days_ago", "fires"),
    [(4, 30, True), (3, 30, False), (10, 2, False), (10, 3, True)],
)
def test_missed_diary_days(
    last_entry_days_ago: int, expected_from_days_ago: int, fires: bool
) -> None:
    entries = [TODAY - timedelta(days=d) for d in range(last_entry_days_ago, 30)]
    alert = check_missed_diary_days(entries, TODAY, TODAY - timedelta(days=expected_from_days_ago))
    assert (alert is not None) == fires
    if alert is not None:
        assert alert.code == "missed-diary-days"


def test_dose_on_and_off_calendar() -> None:
    schedule = [TODAY + timedelta(days=3 * k) for k in range(5)]
    assert check_dose_on_calendar(TODAY + timedelta(days=3), schedule) is None
    alert = check_dose_on_calendar(TODAY + timedelta(days=4), schedule)
    assert alert is not None
    assert (alert.code, alert.severity) == ("dose-off-calendar", "high")


def test_new_contraindicated_or_major_medication_holds_dosing() -> None:
    alerts = check_new_medications(["Zoloft"], ["Zoloft", "Lithobid 300 mg", "Ultram"], "lsd")
    # lithium; tramadol; and tramadol together with the listed SSRI (a combination rule)
    assert [(a.code, a.action) for a in alerts] == [
        ("new-medication-interaction", "hold-dosing")
    ] * 3
    assert "contraindicated" in (alerts[0].detail or "")
    assert "major" in (alerts[1].detail or "")
    assert "Ultram (tramadol) + Zoloft (sertraline)" in (alerts[2].detail or "")


def test_new_moderate_or_minor_medication_raises_nothing() -> None:
    assert check_new_medications([], ["Zoloft", "gabapentin"], "psilocybin") == []
    assert check_new_medications(["lithium"], ["Lithium"], "psilocybin") == []


def test_new_strength_or_brand_of_a_listed_ingredient_is_not_new() -> None:
    assert check_new_medications(["Lithobid 300 mg"], ["lithium carbonate 450 mg ER"], "lsd") == []
    alerts = check_new_medications(["Lithobid"], ["Lithobid", "Nardil"], "lsd")
    assert [a.detail for a in alerts] == [
        "Nardil (phenelzine): Monoamine oxidase inhibitors (major)"
    ]


@pytest.mark.parametrize(
    ("grade", "days", "doses", "fires"),
    [(2, 8, 0, True), (2, 7, 0, False), (2, 1, 2, True), (3, 20, 5, False)],
)
def test_persistent_grade2(grade: int, days: int, doses: int, fires: bool) -> None:
    assert (check_persistent_grade2(grade, days, doses) is not None) == fires


def test_every_alert_rule_in_the_catalog_is_tested_here() -> None:
    alerts = CATALOG.alerts
    codes = {r.code for r in (*alerts.instrument_rules, *alerts.symptom_rules,
                              *alerts.blood_pressure_rules)}  # fmt: skip
    codes |= {
        r.code
        for r in (alerts.adverse_event, alerts.persistent_grade2, alerts.blood_pressure_strict,
                  alerts.pain_flare, alerts.pain_worsening, alerts.headache_worsening,
                  alerts.missed_diary, alerts.dose_off_calendar, alerts.new_medication)
    }  # fmt: skip
    tested = {
        "phq9-item9", "ae-grade-3-or-serious", "ae-grade-2-persistent", "bp-crisis",
        "bp-withhold", "bp-withhold-strict", "pain-flare", "pain-worsening",
        "headache-worsening", "missed-diary-days", "dose-off-calendar",
        "new-medication-interaction",
    } | {r.code for r in alerts.symptom_rules}  # fmt: skip
    assert codes == tested


@pytest.mark.parametrize(
    ("answers", "fires"),
    [
        ({"q9": 0}, False),
        ({"q9": 1}, True),
        ({"q9": 3}, True),
        ({}, False),  # unanswered (e.g. a form sent back with an error)
        ({"q9": "1"}, False),  # not yet parsed: no answer
        ({"q1": 3}, False),
    ],
)
def test_the_crisis_rule_reads_the_catalog_item_rule(
    answers: dict[str, object], fires: bool
) -> None:
    assert crisis_rule_fires("phq9", answers, CATALOG) is fires
    assert not crisis_rule_fires("daily_diary", {"q9": 3}, CATALOG)
    assert [r.code for r in crisis_item_rules("phq9", CATALOG)] == ["phq9-item9"]
