"""The FHIR bundle builder and the checks fhir.resources does not make."""

from __future__ import annotations

import copy
import datetime as dt
import json
from typing import Any

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
    # the old conditional create: a re-send would leave a corrected resource as the server has it
    kind, match = broken["entry"][3]["request"]["url"].split("?")
    broken["entry"][3]["request"] = {"method": "POST", "url": kind, "ifNoneExist": match}
    broken["entry"][4]["fullUrl"] = broken["entry"][5]["fullUrl"]
    problems = bundle_problems(broken)
    assert any(p.startswith("bdl-3: entry[1] (Condition)") for p in problems)
    assert any("MedicationStatement.status code 'current'" in p for p in problems)
    assert any("Patient.gender code 'woman'" in p for p in problems)
    assert any("does not resolve in the bundle" in p for p in problems)
    assert any(p.startswith("entry[3]: POST creates") for p in problems)
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


def test_every_write_is_an_update_on_defined_search_parameters() -> None:
    """Posting the bundle again updates and creates nothing: conditional updates on R4
    parameters (our identifier), or a PUT of a derived id where R4 has no identifier parameter."""
    bundle = build_bundle([full_patient()], catalog=load_catalog())
    assert bundle_problems(bundle) == []
    kinds: dict[str, set[str]] = {}
    for entry in bundle["entry"]:
        resource, request = entry["resource"], entry["request"]
        kind = resource["resourceType"]
        assert request["method"] == "PUT", request
        path, _, query = request["url"].partition("?")
        kinds.setdefault(kind, set()).add("conditional" if query else "id")
        if query:
            assert path == kind
            assert "id" not in resource
            names = {part.split("=", 1)[0] for part in query.split("&")}
            assert names <= R4_SEARCH_PARAMETERS[kind], (kind, names)
            ident = resource["identifier"]
            ident = ident[0] if isinstance(ident, list) else ident
            assert query == f"identifier={ident['system']}|{ident['value']}"
        else:
            assert request["url"] == f"{kind}/{resource['id']}"
            assert entry["fullUrl"] == f"urn:uuid:{resource['id']}"
    assert kinds["AdverseEvent"] == {"id"}
    assert all(how == {"conditional"} for kind, how in kinds.items() if kind != "AdverseEvent")
    # the logical ids are the same on every export, and say nothing about the patient
    ids = [e["resource"]["id"] for e in searchset_bundle([full_patient()])["entry"]]
    assert ids == [e["resource"]["id"] for e in searchset_bundle([full_patient()])["entry"]]
    assert not any("P-1" in i or "S1" in i for i in ids)


def test_a_create_or_a_conditional_update_on_an_undefined_parameter_is_a_problem() -> None:
    bundle = build_bundle([full_patient()], catalog=load_catalog())
    index, entry = next(
        (i, e)
        for i, e in enumerate(bundle["entry"])
        if e["resource"]["resourceType"] == "AdverseEvent"
    )
    entry["request"] = {"method": "PUT", "url": "AdverseEvent?identifier=urn:ietf:rfc:3986|x"}
    problems = bundle_problems(bundle)
    assert any(
        p.startswith(f"entry[{index}]: conditional update on 'identifier'") for p in problems
    )
    assert any(p.startswith(f"entry[{index}]: a conditional update's resource") for p in problems)
    entry["request"] = {"method": "PUT", "url": "AdverseEvent/other"}
    assert any(p.startswith(f"entry[{index}]: PUT to") for p in bundle_problems(bundle))
    qr = next(
        e for e in bundle["entry"] if e["resource"]["resourceType"] == "QuestionnaireResponse"
    )
    qr["request"]["url"] = "QuestionnaireResponse?identifier=urn:ietf:rfc:3986|urn:uuid:other"
    assert any("an identifier the resource lacks" in p for p in bundle_problems(bundle))


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
        logical_id = theirs["fullUrl"].removeprefix("urn:uuid:")
        assert ours == {
            "fullUrl": theirs["fullUrl"],
            "resource": {**theirs["resource"], "id": logical_id},
            "search": {"mode": "match"},
        }
        assert list(ours["resource"])[:2] == ["resourceType", "id"]
    broken = copy.deepcopy(searchset)
    broken["entry"][0]["request"] = {"method": "POST", "url": "Patient"}
    del broken["entry"][1]["search"]
    broken["entry"][2]["resource"]["id"] = "another"
    problems = bundle_problems(broken)
    assert any(p.startswith("entry[2]: resource id 'another'") for p in problems)
    assert any(p.startswith("bdl-3: entry[0] (Patient) has a request") for p in problems)
    assert any(p.startswith("entry[1]: search.mode None") for p in problems)


def _entries(data: PatientExport) -> dict[str, dict[str, Any]]:
    """The valid transaction's entries of one patient, by fullUrl."""
    bundle = build_bundle([data], catalog=load_catalog())
    assert bundle_problems(bundle) == []
    return {e["fullUrl"]: e for e in bundle["entry"]}


def test_a_corrected_entry_is_the_same_update_with_the_new_answers_amended() -> None:
    """A re-export after a correction updates the same resources: same request, new content."""
    import dataclasses

    first = patient((None, None))
    diary, peg = first.diary
    corrected = dataclasses.replace(
        diary,
        answers={**diary.answers, "average_pain": 2},
        scores={"instrument_version": "1", "scores": {"average_pain": {"value": 2}}},
        version=2,
    )
    before, after = _entries(first), _entries(dataclasses.replace(first, diary=(corrected, peg)))
    assert before.keys() == after.keys()
    changed = {after[u]["resource"]["resourceType"]: u for u in before if before[u] != after[u]}
    assert sorted(changed) == ["Observation", "QuestionnaireResponse"]
    for url in changed.values():
        assert after[url]["request"] == before[url]["request"]
        assert after[url]["request"]["method"] == "PUT"
        assert before[url]["resource"]["status"] in ("completed", "final")
        assert after[url]["resource"]["status"] == "amended"
    qr = after[changed["QuestionnaireResponse"]]["resource"]
    answers = {i["linkId"]: i["answer"][0] for i in qr["item"]}
    assert answers["average_pain"] == {"valueInteger": 2}
    observation = after[changed["Observation"]]["resource"]
    assert observation["valueInteger"] == 2
    assert observation["derivedFrom"] == [{"reference": changed["QuestionnaireResponse"]}]


def test_blood_pressure_is_a_vital_signs_panel_observation() -> None:
    """A home or clinic reading: LOINC 85354-9 with systolic and diastolic in mm[Hg]."""
    import dataclasses

    base = patient((None, None))
    readings = tuple(
        DiaryData(
            f"b0000000-0000-4000-8000-00000000000{n}",
            instrument,
            START + dt.timedelta(days=n),
            answers,
            {"instrument_version": "1", "scores": {}},
            dt.datetime(2026, 3, 3 + n, 7, tzinfo=dt.UTC),
            4,
        )
        for n, (instrument, answers) in enumerate(
            [
                ("home_bp", {"systolic": 182, "diastolic": 121, "pulse": 88}),  # a crisis
                ("clinic_bp", {"systolic": 128, "diastolic": 79}),
            ]
        )
    )
    entries = _entries(dataclasses.replace(base, diary=base.diary + readings))
    subject = next(u for u, e in entries.items() if e["resource"]["resourceType"] == "Patient")
    panels = [
        e["resource"]
        for e in entries.values()
        if e["resource"]["resourceType"] == "Observation"
        and e["resource"]["category"][0]["coding"][0]["code"] == "vital-signs"
    ]
    assert len(panels) == 2
    for panel, reading in zip(panels, readings, strict=True):
        assert panel["code"]["coding"] == [{"system": "http://loinc.org", "code": "85354-9"}]
        assert panel["category"][0]["coding"][0]["system"] == (
            "http://terminology.hl7.org/CodeSystem/observation-category"
        )
        assert panel["status"] == "final"
        assert panel["subject"] == {"reference": subject}
        assert panel["effectiveDateTime"] == reading.local_date.isoformat()
        values = {c["code"]["coding"][0]["code"]: c["valueQuantity"] for c in panel["component"]}
        assert values == {
            code: {
                "value": reading.answers[item],
                "unit": "mmHg",
                "system": "http://unitsofmeasure.org",
                "code": "mm[Hg]",
            }
            for code, item in (("8480-6", "systolic"), ("8462-4", "diastolic"))
        }
        (qr_url,) = [
            u
            for u, e in entries.items()
            if e["resource"].get("identifier")
            == {
                "system": "urn:ietf:rfc:3986",
                "value": f"urn:uuid:{reading.record_id}",
            }
        ]
        assert panel["derivedFrom"] == [{"reference": qr_url}]


def test_a_medication_is_coded_where_recognised_with_its_period() -> None:
    """Stopped: status stopped, the period from the day it was added to the day it was stopped."""
    import dataclasses

    base = patient((None, None))
    meds = (
        MedicationData(
            "m0000000-0000-4000-8000-000000000001",
            "Zoloft 50 mg",
            "stopped",
            added_on=START,
            end_date=START + dt.timedelta(days=9),
        ),
        MedicationData("m0000000-0000-4000-8000-000000000002", "Quixotril 20 mg", "active", START),
        MedicationData("m0000000-0000-4000-8000-000000000003", "sertralin", "active", START),
    )
    entries = _entries(dataclasses.replace(base, medications=meds))
    stopped, unknown, misspelt = (
        e["resource"]
        for e in entries.values()
        if e["resource"]["resourceType"] == "MedicationStatement"
    )
    assert stopped["status"] == "stopped"
    assert stopped["effectivePeriod"] == {"start": "2026-03-02", "end": "2026-03-11"}
    assert stopped["medicationCodeableConcept"] == {
        "coding": [{"system": "urn:microtrial:medication-ingredient", "code": "sertraline"}],
        "text": "Zoloft 50 mg",
    }
    assert unknown["status"] == "active"
    assert unknown["effectivePeriod"] == {"start": "2026-03-02"}
    assert unknown["medicationCodeableConcept"] == {"text": "Quixotril 20 mg"}
    # screening reads a close misspelling as the drug, but the export does not code a guess
    assert misspelt["medicationCodeableConcept"] == {"text": "sertralin"}
