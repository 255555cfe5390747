"""The FHIR bundle builder and the checks fhir.resources does not make."""

from __future__ import annotations

import copy
import datetime as dt
import json

from microtrial.domain.catalog import load_catalog
from microtrial.interop.fhir import build_bundle, bundle_problems, searchset_bundle
from microtrial.interop.records import (
    AdverseEventData,
    ConditionData,
    DiaryData,
    DoseData,
    MedicationData,
    PatientExport,
    PeriodData,
    ScreeningData,
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
    # R4 4.0.1's adverse-event-seriousness codes are capitalised ("Serious", "Non-serious")
    assert event["seriousness"]["coding"][0]["code"] == "Serious"  # type: ignore[index]
    assert event["seriousness"]["coding"][0]["version"] == "4.0.1"  # type: ignore[index]
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
    """The bundles are byte-identical to the reviewed golden export (regenerated on purpose)."""
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


# R4 (4.0.1) search parameters of the resource types we export, from each resource's "Search
# Parameters" table in the specification (the common ``_id`` etc. left out). A conditional
# create must name only these; AdverseEvent has no ``identifier``.
R4_SEARCH_PARAMETERS: dict[str, set[str]] = {
    "AdverseEvent": {
        "actuality",
        "category",
        "date",
        "event",
        "location",
        "recorder",
        "resultingcondition",
        "seriousness",
        "severity",
        "study",
        "subject",
        "substance",
    },
    **{
        kind: {"identifier", "patient", "subject"}
        for kind in (
            "Condition",
            "MedicationStatement",
            "MedicationAdministration",
            "Observation",
            "QuestionnaireResponse",
        )
    },
    "Patient": {"identifier", "birthdate", "gender"},
    "ResearchStudy": {"identifier", "status", "title"},
    "ResearchSubject": {"identifier", "individual", "patient", "status", "study"},
}

PHQ9_ANSWERS = {f"q{n}": n % 4 for n in range(1, 10)}


def full_patient() -> PatientExport:
    """The fixture patient plus a PHQ-9, a GAD-7, a non-serious event and an exclusion."""
    import dataclasses

    base = patient((None, None))
    extra = tuple(
        DiaryData(
            f"d0000000-0000-4000-8000-00000000001{n}",
            instrument,
            START,
            answers,
            {"instrument_version": "1", "scores": {"total": {"value": sum(answers.values())}}},
            dt.datetime(2026, 3, 2, 20, tzinfo=dt.UTC),
            4,
        )
        for n, (instrument, answers) in enumerate(
            [("phq9", PHQ9_ANSWERS), ("gad7", {f"q{n}": 3 for n in range(1, 8)})]
        )
    )
    mild = AdverseEventData(
        "a0000000-0000-4000-8000-000000000002", "headache", 1, False, START, START, 4
    )
    excluded = ScreeningData(
        "f0000000-0000-4000-8000-000000000001",
        "psilocybin",
        "do-not-start",
        (("ci-psychotic-disorder", "contraindicated"), ("ci-bipolar-1", "contraindicated")),
        dt.datetime(2026, 2, 20, 9, tzinfo=dt.UTC),
        None,
    )
    return dataclasses.replace(
        base,
        diary=base.diary + extra,
        adverse_events=(*base.adverse_events, mild),
        screenings=(excluded,),
    )


def test_every_write_is_idempotent_on_defined_search_parameters() -> None:
    """Posting the bundle twice creates nothing: conditional creates use R4 parameters, or PUT."""
    bundle = build_bundle([full_patient()], catalog=load_catalog())
    assert bundle_problems(bundle) == []
    methods: dict[str, set[str]] = {}
    for entry in bundle["entry"]:
        resource, request = entry["resource"], entry["request"]
        kind = resource["resourceType"]
        methods.setdefault(kind, set()).add(request["method"])
        if request["method"] == "POST":
            names = {part.split("=", 1)[0] for part in request["ifNoneExist"].split("&")}
            assert names <= R4_SEARCH_PARAMETERS[kind], (kind, names)
        else:
            assert request == {"method": "PUT", "url": f"{kind}/{resource['id']}"}
    assert methods["AdverseEvent"] == {"PUT"}
    assert methods["Observation"] == {"POST"}
    # the logical ids are the same on every export, and say nothing about the patient
    again = build_bundle([full_patient()], catalog=load_catalog())
    ids = [e["resource"].get("id") for e in bundle["entry"]]
    assert ids == [e["resource"].get("id") for e in again["entry"]]
    assert not any("P-1" in str(i) or "S1" in str(i) for i in ids)


def test_a_conditional_create_on_an_undefined_parameter_is_a_problem() -> None:
    bundle = build_bundle([full_patient()], catalog=load_catalog())
    index, entry = next(
        (i, e)
        for i, e in enumerate(bundle["entry"])
        if e["resource"]["resourceType"] == "AdverseEvent"
    )
    entry["request"] = {
        "method": "POST",
        "url": "AdverseEvent",
        "ifNoneExist": "identifier=urn:ietf:rfc:3986|urn:uuid:x",
    }
    problems = bundle_problems(bundle)
    assert any(
        p.startswith(f"entry[{index}]: conditional create on 'identifier'") for p in problems
    )
    entry["request"] = {"method": "PUT", "url": "AdverseEvent/other"}
    assert any(p.startswith(f"entry[{index}]: PUT to") for p in bundle_problems(bundle))


def test_seriousness_and_answers_carry_codes_of_their_code_systems() -> None:
    bundle = build_bundle([full_patient()], catalog=load_catalog())
    resources = [e["resource"] for e in bundle["entry"]]
    seriousness = [
        r["seriousness"]["coding"][0]["code"]
        for r in resources
        if r["resourceType"] == "AdverseEvent"
    ]
    assert seriousness == ["Serious", "Non-serious"]
    responses = {
        r["questionnaire"].split(":")[-1].split("|")[0]: r
        for r in resources
        if r["resourceType"] == "QuestionnaireResponse"
    }
    la = {0: "LA6568-5", 1: "LA6569-3", 2: "LA6570-1", 3: "LA6571-9"}
    phq9 = {i["linkId"]: i["answer"][0]["valueCoding"] for i in responses["phq9"]["item"]}
    for link, grade in PHQ9_ANSWERS.items():
        coding = phq9[link]
        assert (coding["system"], coding["code"]) == ("http://loinc.org", la[grade])
        assert coding["extension"][0]["valueDecimal"] == grade
    assert phq9["q2"]["display"] == "More than half the days"
    gad7 = [i["answer"][0]["valueCoding"]["code"] for i in responses["gad7"]["item"]]
    assert gad7 == ["LA6571-9"] * 7


def test_an_excluded_patient_carries_the_screening_decision() -> None:
    bundle = build_bundle([full_patient()], catalog=load_catalog())
    (decision,) = [
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Observation"
        and e["resource"]["code"]["coding"][0]["system"] == "urn:microtrial:screening"
    ]
    assert decision["valueCodeableConcept"]["coding"][0]["code"] == "do-not-start"
    assert [c["code"]["coding"][0]["code"] for c in decision["component"]] == [
        "ci-psychotic-disorder",
        "ci-bipolar-1",
    ]
    assert decision["subject"] == {"reference": bundle["entry"][0]["fullUrl"]}


def test_everything_is_a_searchset_of_the_same_resources() -> None:
    catalog = load_catalog()
    transaction = build_bundle([full_patient()], catalog=catalog)
    searchset = searchset_bundle([full_patient()], catalog=catalog)
    assert bundle_problems(searchset) == []
    assert searchset["type"] == "searchset"
    assert searchset["total"] == len(searchset["entry"]) == len(transaction["entry"])
    for ours, theirs in zip(searchset["entry"], transaction["entry"], strict=True):
        assert ours == {
            "fullUrl": theirs["fullUrl"],
            "resource": theirs["resource"],
            "search": {"mode": "match"},
        }
    broken = copy.deepcopy(searchset)
    broken["entry"][0]["request"] = {"method": "POST", "url": "Patient"}
    del broken["entry"][1]["search"]
    problems = bundle_problems(broken)
    assert any(p.startswith("bdl-3: entry[0] (Patient) has a request") for p in problems)
    assert any(p.startswith("entry[1]: search.mode None") for p in problems)
