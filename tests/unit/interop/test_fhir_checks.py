"""The FHIR bundle builder and the checks fhir.resources does not make."""

from __future__ import annotations

import copy
import datetime as dt
import json

from microtrial.domain.catalog import load_catalog
from microtrial.interop.fhir import build_bundle, bundle_problems
from microtrial.interop.records import (
    AdverseEventData,
    ConditionData,
    DiaryData,
    DoseData,
    MedicationData,
    PatientExport,
    PeriodData,
    TrialData,
)

START = dt.date(2026, 3, 2)


def patient(arms: tuple[str | None, str | None]) -> PatientExport:
    periods = tuple(
        PeriodData(
            n,
            1,
            START + dt.timedelta(days=7 * (n - 1)),
            START + dt.timedelta(days=7 * n - 1),
            1,
            f"KIT{n}AAAA",
            arm,
        )
        for n, arm in zip((1, 2), arms, strict=True)
    )
    unblinded = arms[0] is not None
    trial = TrialData(
        id=4,
        status="unblinded" if unblinded else "running",
        start_date=START,
        substance="psilocybin",
        regimen_template="fadiman",
        regimen_text="every 3 days",
        run_in_days=0,
        period_days=7,
        wash_in_days=1,
        periods=periods,
        unblinded=unblinded,
        unblinded_early=False,
        created_at=dt.datetime(2026, 3, 1, tzinfo=dt.UTC),
    )
    return PatientExport(
        id=1,
        site_code="S1",
        study_code="P-1",
        birth_year=1970,
        sex="male",
        time_zone="Europe/Paris",
        enrolled_on=START,
        conditions=(ConditionData("c0000000-0000-4000-8000-000000000001", "G43.909", "active"),),
        medications=(
            MedicationData("m0000000-0000-4000-8000-000000000001", "sertraline", "active"),
        ),
        trials=(trial,),
        diary=(
            DiaryData(
                "d0000000-0000-4000-8000-000000000001",
                "daily_diary",
                START,
                {"average_pain": 4, "dose_check_in": "taken"},
                {
                    "instrument_version": "1",
                    "scores": {"average_pain": {"value": 4}, "worst_pain": {"value": None}},
                },
                dt.datetime(2026, 3, 2, 20, tzinfo=dt.UTC),
                4,
            ),
            DiaryData(
                "d0000000-0000-4000-8000-000000000002",
                "peg3",
                START,
                {"p": 4, "e": 5, "g": 5},
                {"instrument_version": "1", "scores": {"mean": {"value": 4.67}}},
                dt.datetime(2026, 3, 2, 20, tzinfo=dt.UTC),
                4,
            ),
        ),
        doses=tuple(
            DoseData(
                f"e0000000-0000-4000-8000-00000000000{n}",
                4,
                START + dt.timedelta(days=7 * (n - 1)),
                dt.datetime.combine(
                    START + dt.timedelta(days=7 * (n - 1)), dt.time(8), tzinfo=dt.UTC
                ),
                f"KIT{n}AAAA",
                "taken",
            )
            for n in (1, 2)
        ),
        adverse_events=(
            AdverseEventData(
                "a0000000-0000-4000-8000-000000000001",
                "nausea",
                3,
                True,
                START + dt.timedelta(days=2),
                None,
                None,
            ),
        ),
    )


def test_bundle_validates_and_is_deterministic() -> None:
    bundle = build_bundle([patient((None, None))], catalog=load_catalog())
    assert bundle_problems(bundle) == []
    assert build_bundle([patient((None, None))], catalog=load_catalog()) == bundle
    by_kind: dict[str, list[dict[str, object]]] = {}
    for entry in bundle["entry"]:
        by_kind.setdefault(entry["resource"]["resourceType"], []).append(entry["resource"])
    (event,) = by_kind["AdverseEvent"]
    assert event["seriousness"]["coding"][0]["code"] == "serious"  # type: ignore[index]
    assert event["severity"]["coding"][0]["code"] == "severe"  # type: ignore[index]
    assert event["study"] == [{"reference": bundle["entry"][3]["fullUrl"]}]
    observations = by_kind["Observation"]
    assert [o["code"]["coding"][0]["code"] for o in observations] == ["72514-3", "91147-9"]  # type: ignore[index]
    assert observations[1]["valueQuantity"]["value"] == 4.67  # type: ignore[index]
    (condition,) = by_kind["Condition"]
    assert condition["code"]["coding"][0]["system"] == "http://hl7.org/fhir/sid/icd-10-cm"  # type: ignore[index]
    qr = by_kind["QuestionnaireResponse"][0]
    assert [i["linkId"] for i in qr["item"]] == ["average_pain", "dose_check_in"]  # type: ignore[index]
    assert "placebo" not in json.dumps(bundle)


def test_unblinded_doses_carry_their_period_arm() -> None:
    bundle = build_bundle([patient(("placebo", "active"))], catalog=load_catalog())
    assert bundle_problems(bundle) == []
    arms = [
        e["resource"]["medicationCodeableConcept"]["coding"][0]["code"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "MedicationAdministration"
    ]
    assert arms == ["placebo", "active"]


def test_our_checks_catch_what_the_library_does_not() -> None:
    good = build_bundle([patient((None, None))], catalog=load_catalog())
    broken = copy.deepcopy(good)
    del broken["entry"][1]["request"]
    broken["entry"][2]["resource"]["status"] = "current"  # MedicationStatement
    broken["entry"][0]["resource"]["gender"] = "woman"
    broken["entry"][2]["resource"]["subject"]["reference"] = (
        "urn:uuid:00000000-0000-4000-8000-000000000000"
    )
    broken["entry"][3]["request"]["ifNoneExist"] = ""
    broken["entry"][4]["fullUrl"] = broken["entry"][5]["fullUrl"]
    problems = bundle_problems(broken)
    assert any(p.startswith("bdl-3: entry[1] (Condition)") for p in problems)
    assert any("MedicationStatement.status code 'current'" in p for p in problems)
    assert any("Patient.gender code 'woman'" in p for p in problems)
    assert any("does not resolve in the bundle" in p for p in problems)
    assert any(p.startswith("entry[3]: POST without ifNoneExist") for p in problems)
    assert any(p.startswith("bdl-7") for p in problems)
    structural = copy.deepcopy(good)
    structural["entry"][0]["resource"]["birthDate"] = "not a date"
    assert any(p.startswith("fhir.resources:") for p in bundle_problems(structural))


def test_bundles_match_the_golden_export() -> None:
    """The bundles are byte-identical to the ones exported before the builders were split."""
    import dataclasses
    from pathlib import Path

    catalog = load_catalog()
    unblinded = patient(("active", "placebo"))
    other = dataclasses.replace(unblinded, id=2, study_code="P-2", sex="x")
    bundles = {
        "blinded": build_bundle([patient((None, None))], catalog=catalog),
        "unblinded": build_bundle([unblinded, other], catalog=catalog),
        "no_catalog": build_bundle([unblinded], catalog=None),
    }
    golden = Path(__file__).with_name("fhir_golden.json").read_text(encoding="utf-8")
    assert json.dumps(bundles, indent=1) + "\n" == golden
