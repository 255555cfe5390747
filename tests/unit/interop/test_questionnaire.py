"""FHIR Questionnaire import and the QuestionnaireResponse round trip."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse
from hypothesis import example, given, settings
from hypothesis import strategies as st

from microtrial.domain.branching import visible_items
from microtrial.domain.catalog import load_catalog
from microtrial.domain.scoring import score
from microtrial.errors import ValidationError
from microtrial.interop.questionnaire import import_questionnaire
from microtrial.interop.questionnaire_export import (
    answers_from_response,
    fhir_text,
    questionnaire_from_instrument,
    questionnaire_response,
)

MIN = "http://hl7.org/fhir/StructureDefinition/minValue"
MAX = "http://hl7.org/fhir/StructureDefinition/maxValue"
QUESTIONNAIRE: dict[str, Any] = {
    "resourceType": "Questionnaire",
    "id": "sleep-check",
    "name": "SleepCheck",
    "title": "Sleep check",
    "version": "2",
    "status": "active",
    "item": [
        {"linkId": "intro", "type": "display", "text": "About last night"},
        {
            "linkId": "slept",
            "type": "boolean",
            "text": "Did you sleep?",
            "required": True,
            "code": [{"system": "http://loinc.org", "code": "65968-0"}],
        },
        {
            "linkId": "details",
            "type": "group",
            "text": "Details",
            "item": [
                {
                    "linkId": "hours",
                    "type": "integer",
                    "text": "Hours slept",
                    "extension": [
                        {"url": MIN, "valueInteger": 0},
                        {"url": MAX, "valueInteger": 24},
                    ],
                    "enableWhen": [{"question": "slept", "operator": "=", "answerBoolean": True}],
                },
                {
                    "linkId": "quality",
                    "type": "choice",
                    "text": "Quality",
                    "answerOption": [
                        {"valueCoding": {"code": "0", "display": "Poor"}},
                        {"valueCoding": {"code": "1", "display": "Fair"}},
                        {"valueCoding": {"code": "2", "display": "Good"}},
                    ],
                    "enableWhen": [
                        {"question": "slept", "operator": "=", "answerBoolean": True},
                        {"question": "hours", "operator": ">", "answerInteger": 2},
                    ],
                    "enableBehavior": "all",
                },
                {
                    "linkId": "where",
                    "type": "choice",
                    "text": "Where",
                    "answerOption": [
                        {"valueCoding": {"code": "bed"}},
                        {"valueCoding": {"code": "sofa"}},
                    ],
                },
            ],
        },
        {"linkId": "note", "type": "string", "text": "Anything else?"},
        {"linkId": "photo", "type": "attachment", "text": "Photo"},
    ],
}


def _answered(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every answered response item's linkId and first answer, groups walked depth first."""
    found: dict[str, dict[str, Any]] = {}
    for item in items:
        if "answer" in item:
            found[item["linkId"]] = item["answer"][0]
        found.update(_answered(item.get("item", [])))
    return found


def test_questionnaire_becomes_a_scorable_instrument_with_logic() -> None:
    imported = import_questionnaire(json.dumps(QUESTIONNAIRE))
    instrument = imported.instrument
    assert instrument.id == "sleepcheck"
    assert instrument.version == "2"
    items = {i.id: i for i in instrument.items}
    assert list(items) == ["slept", "hours", "quality", "where", "note"]
    assert items["slept"].loinc == "65968-0"
    assert (items["hours"].min, items["hours"].max) == (0, 24)
    assert items["quality"].labels == {0: "Poor", 1: "Fair", 2: "Good"}
    assert items["where"].options == ("bed", "sofa")
    assert imported.warnings == ("item photo: type 'attachment' is not supported; skipped",)
    assert imported.branching == {
        "hours": '[slept] = "1"',
        "quality": '[slept] = "1" and [hours] > 2',
    }
    assert visible_items(imported, {"slept": False}) == {"slept", "where", "note"}
    assert visible_items(imported, {"slept": True, "hours": 1}) == {
        "slept",
        "hours",
        "where",
        "note",
    }
    result = score(instrument, {"slept": True, "hours": 7, "quality": 2})
    assert result.primary_score == "total"
    assert result.primary.value == 2


answers_strategy = st.fixed_dictionaries(
    {"slept": st.booleans()},
    optional={
        "hours": st.integers(0, 24),
        "quality": st.integers(0, 2),
        "where": st.sampled_from(["bed", "sofa"]),
        "note": st.text(min_size=1, max_size=40),
    },
)


@settings(max_examples=60, deadline=None)
@given(answers=answers_strategy)
@example(answers={"slept": True, "note": "\xa0"})
@example(answers={"slept": False, "note": "5\u2009mg, then 10\xa0mg"})
def test_response_round_trip_keeps_every_answer(answers: dict[str, object]) -> None:
    imported = import_questionnaire(QUESTIONNAIRE)
    response = questionnaire_response(
        imported, answers, subject="urn:uuid:x", authored="2026-03-02"
    )
    QuestionnaireResponse.model_validate(response)
    assert set(_answered(response["item"])) == set(answers)
    assert response["questionnaire"] == "urn:microtrial:questionnaire:sleepcheck|2"
    # free text comes back with other whitespace (e.g. a no-break space) as plain spaces
    sent = {k: fhir_text(v) if isinstance(v, str) else v for k, v in answers.items()}
    assert answers_from_response(imported, json.loads(json.dumps(response))) == sent
    score(imported.instrument, answers)  # the answers are valid for the instrument


@pytest.mark.parametrize("instrument_id", ["phq9", "daily_diary", "peg3", "gad7"])
def test_catalog_instruments_export_and_round_trip(instrument_id: str) -> None:
    instrument = load_catalog().instrument(instrument_id)
    questionnaire = questionnaire_from_instrument(instrument)
    back = import_questionnaire(questionnaire)
    assert [i.id for i in back.instrument.items] == [i.id for i in instrument.items]
    for ours, theirs in zip(instrument.items, back.instrument.items, strict=True):
        assert (ours.type, ours.min, ours.max, ours.labels, ours.loinc) == (
            theirs.type,
            theirs.min,
            theirs.max,
            theirs.labels,
            theirs.loinc,
        )
        # the LOINC answer codes (PHQ-9, GAD-7) survive the Questionnaire round trip
        assert (ours.answer_codes is None) == (theirs.answer_codes is None)
        if ours.answer_codes and theirs.answer_codes:
            assert ours.answer_codes.codes == theirs.answer_codes.codes
    answers = {
        i.id: i.min if i.type == "integer" else (i.options or ("x",))[0]
        for i in instrument.items
        if i.type in ("integer", "choice")
    }
    response = questionnaire_response(instrument, answers)
    assert answers_from_response(instrument, response) == answers


def test_an_unknown_answer_code_is_a_validation_error() -> None:
    phq9 = load_catalog().instrument("phq9")
    response = questionnaire_response(phq9, {"q1": 2})
    assert response["item"][0]["answer"][0]["valueCoding"]["code"] == "LA6570-1"
    assert answers_from_response(phq9, response) == {"q1": 2}
    response["item"][0]["answer"][0]["valueCoding"] = {"system": "http://loinc.org", "code": "LA0"}
    with pytest.raises(ValidationError, match="not a grade of item q1"):
        answers_from_response(phq9, response)


def test_not_a_questionnaire_is_a_validation_error() -> None:
    with pytest.raises(ValidationError, match="not a FHIR Questionnaire"):
        import_questionnaire({"resourceType": "Patient"})
    with pytest.raises(ValidationError, match="not valid JSON"):
        import_questionnaire("{")
