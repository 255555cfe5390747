"""Questionnaire fidelity: groups, order, typed answers, contained ValueSets and enableWhen."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

from microtrial.domain.branching import visible_items
from microtrial.errors import ValidationError
from microtrial.interop.imported import load_user_instrument, save_user_instrument
from microtrial.interop.questionnaire import import_questionnaire
from microtrial.interop.questionnaire_export import (
    answers_from_response,
    authored_response_items,
    check_typed_answers,
    questionnaire_from_instrument,
    questionnaire_response,
    typed_answer_problem,
)

MOOD = "http://example.org/fhir/CodeSystem/mood"
QUESTIONNAIRE: dict[str, Any] = {
    "resourceType": "Questionnaire",
    "url": "http://example.org/fhir/Questionnaire/night-check",
    "version": "3.1",
    "name": "NightCheck",
    "title": "Night check",
    "status": "active",
    "contained": [
        {
            "resourceType": "ValueSet",
            "id": "moods",
            "status": "active",
            "compose": {
                "include": [
                    {
                        "system": MOOD,
                        "concept": [
                            {"code": "calm", "display": "Calm"},
                            {"code": "tense", "display": "Tense"},
                            {"code": "low", "display": "Low"},
                        ],
                    }
                ]
            },
        },
        {
            "resourceType": "ValueSet",
            "id": "places",
            "status": "active",
            "expansion": {
                "timestamp": "2026-03-01T00:00:00Z",
                "contains": [
                    {"system": "http://example.org/place", "code": "bed", "display": "Bed"},
                    {"system": "http://example.org/place", "code": "sofa", "display": "Sofa"},
                ],
            },
        },
    ],
    "item": [
        {"linkId": "visit_date", "type": "date", "text": "Date", "required": True},
        {"linkId": "slept", "type": "boolean", "text": "Did you sleep?", "required": True},
        {
            "linkId": "night",
            "type": "group",
            "text": "The night",
            "enableWhen": [{"question": "slept", "operator": "=", "answerBoolean": True}],
            "item": [
                {"linkId": "hours", "type": "decimal", "text": "Hours slept", "required": True},
                {
                    "linkId": "quality",
                    "type": "choice",
                    "text": "Quality",
                    "answerOption": [
                        {"valueCoding": {"code": "0", "display": "Poor"}},
                        {"valueCoding": {"code": "1", "display": "Fair"}},
                        {"valueCoding": {"code": "2", "display": "Good"}},
                    ],
                },
                {
                    "linkId": "dreams",
                    "type": "group",
                    "text": "Dreams",
                    "item": [
                        {"linkId": "dreamt", "type": "boolean", "text": "Did you dream?"},
                        {
                            "linkId": "mood",
                            "type": "choice",
                            "text": "Mood of the dream",
                            "required": True,
                            "answerValueSet": "#moods",
                            "enableWhen": [
                                {"question": "dreamt", "operator": "=", "answerBoolean": True}
                            ],
                        },
                    ],
                },
                {"linkId": "where", "type": "choice", "text": "Where", "answerValueSet": "#places"},
            ],
        },
        {"linkId": "woke", "type": "time", "text": "Woke at"},
        {"linkId": "pain", "type": "integer", "text": "Pain 0-10"},
        {
            "linkId": "pain_note",
            "type": "string",
            "text": "Describe the pain",
            "enableWhen": [
                {"question": "pain", "operator": ">=", "answerInteger": 5},
                {
                    "question": "mood",
                    "operator": "=",
                    "answerCoding": {"system": MOOD, "code": "low"},
                },
            ],
            "enableBehavior": "any",
        },
    ],
}

ANSWERS: dict[str, object] = {
    "visit_date": "2026-03-02",
    "slept": True,
    "hours": "7.5",
    "quality": 2,
    "dreamt": True,
    "mood": "calm",
    "where": "sofa",
    "woke": "06:30:00",
    "pain": 6,
    "pain_note": "dull ache",
}


def _structure(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The structural parts of an item tree: ids, types, order, nesting, options and logic."""
    keys = ("linkId", "type", "required", "answerOption", "answerValueSet")
    return [
        {
            **{k: item.get(k) for k in keys},
            "enableWhen": item.get("enableWhen"),
            "enableBehavior": item.get("enableBehavior"),
            "item": _structure(item.get("item", [])),
        }
        for item in items
    ]


def test_questionnaires_exported_and_reimported_are_equal(tmp_path: Path) -> None:
    imported = import_questionnaire(copy.deepcopy(QUESTIONNAIRE))
    assert imported.warnings == ()
    exported = questionnaire_from_instrument(imported)
    for key in ("url", "version", "name", "contained"):
        assert exported[key] == QUESTIONNAIRE[key]
    assert _structure(exported["item"]) == _structure(QUESTIONNAIRE["item"])
    again = import_questionnaire(exported)
    assert again.same_as(imported)
    # and through the user instrument folder (YAML + sidecar) as the CLI saves it
    loaded = load_user_instrument(save_user_instrument(imported, tmp_path))
    assert loaded.same_as(imported)
    assert _structure(questionnaire_from_instrument(loaded)["item"]) == _structure(
        QUESTIONNAIRE["item"]
    )


def test_contained_value_sets_give_the_options() -> None:
    items = {i.id: i for i in import_questionnaire(QUESTIONNAIRE).instrument.items}
    assert items["mood"].type == "choice"
    assert items["mood"].options == ("calm", "tense", "low")
    assert items["mood"].required
    assert items["where"].options == ("bed", "sofa")
    assert list(items) == [
        "visit_date",
        "slept",
        "hours",
        "quality",
        "dreamt",
        "mood",
        "where",
        "woke",
        "pain",
        "pain_note",
    ]


def test_response_is_typed_and_nested_as_authored() -> None:
    imported = import_questionnaire(QUESTIONNAIRE)
    response = questionnaire_response(
        imported, ANSWERS, subject="urn:uuid:p", authored="2026-03-02"
    )
    QuestionnaireResponse.model_validate(response)
    assert response["questionnaire"] == "http://example.org/fhir/Questionnaire/night-check|3.1"

    def shape(items: list[dict[str, Any]]) -> list[object]:
        return [
            (i["linkId"], shape(i["item"]))
            if "item" in i
            else (i["linkId"], next(iter(i["answer"][0])))
            for i in items
        ]

    assert shape(response["item"]) == [
        ("visit_date", "valueDate"),
        ("slept", "valueBoolean"),
        (
            "night",
            [
                ("hours", "valueDecimal"),
                ("quality", "valueCoding"),
                ("dreams", [("dreamt", "valueBoolean"), ("mood", "valueCoding")]),
                ("where", "valueCoding"),
            ],
        ),
        ("woke", "valueTime"),
        ("pain", "valueInteger"),
        ("pain_note", "valueString"),
    ]
    night = response["item"][2]["item"]
    assert night[0]["answer"] == [{"valueDecimal": 7.5}]
    assert night[1]["answer"] == [{"valueCoding": {"code": "2", "display": "Good"}}]
    assert night[2]["item"][1]["answer"] == [
        {"valueCoding": {"system": MOOD, "code": "calm", "display": "Calm"}}
    ]
    assert answers_from_response(imported, response) == ANSWERS


def test_an_unanswered_group_is_left_out() -> None:
    imported = import_questionnaire(QUESTIONNAIRE)
    answers = {"visit_date": "2026-03-02", "slept": False, "pain": 1}
    response = questionnaire_response(imported, answers)
    assert [i["linkId"] for i in response["item"]] == ["visit_date", "slept", "pain"]
    with pytest.raises(ValidationError, match="no such item in the Questionnaire: nap"):
        questionnaire_response(imported, {**answers, "nap": True})
    with pytest.raises(ValidationError, match="not a valid response"):
        questionnaire_response(imported, {**answers, "visit_date": "yesterday"})
    # the Bundle's lenient form keeps what a form no longer fits: unknown items and bad dates
    kept = authored_response_items(
        imported, {**answers, "visit_date": "yesterday", "nap": True}, strict=False
    )
    assert [(i["linkId"], i["answer"]) for i in kept] == [
        ("visit_date", [{"valueString": "yesterday"}]),
        ("slept", [{"valueBoolean": False}]),
        ("pain", [{"valueInteger": 1}]),
        ("nap", [{"valueBoolean": True}]),
    ]


@pytest.mark.parametrize(
    ("kind", "good", "bad"),
    [
        ("date", "2026-03-02", "02/03/2026"),
        ("dateTime", "2026-03-02T07:30:00+01:00", "2026-03-02 07:30"),
        ("time", "07:30:00", "7.30"),
        ("decimal", "7.5", "7,5"),
        ("url", "https://example.org/x", "not a url at all"),
    ],
)
def test_typed_text_answers_are_checked(kind: str, good: str, bad: str) -> None:
    assert typed_answer_problem(kind, good) is None
    problem = typed_answer_problem(kind, bad)
    assert problem is not None
    prefix = f"not a FHIR {kind} (e.g. "
    assert problem.startswith(prefix)
    # the example the message gives is itself a good answer
    assert typed_answer_problem(kind, problem.removeprefix(prefix)[:-1]) is None
    check_typed_answers({"x": kind}, {"x": good}, "form")
    with pytest.raises(ValidationError, match=f"^form.x: not a FHIR {kind}"):
        check_typed_answers({"x": kind}, {"x": bad}, "form")


def test_enable_when_on_groups_and_items() -> None:
    imported = import_questionnaire(QUESTIONNAIRE)
    # the group's condition applies to every item inside it, nested groups included
    assert imported.branching["hours"] == '[slept] = "1"'
    assert imported.branching["mood"] == '[slept] = "1" and [dreamt] = "1"'
    base = {"visit_date": "2026-03-02", "pain": 0}
    awake = visible_items(imported, {**base, "slept": False, "hours": "3", "dreamt": True})
    assert awake == {"visit_date", "slept", "woke", "pain"}
    asleep = visible_items(imported, {**base, "slept": True, "dreamt": False})
    assert {"hours", "quality", "dreamt", "where"} <= asleep
    assert "mood" not in asleep
    # enableBehavior any: pain >= 5 or a low dream mood
    assert "pain_note" not in asleep
    assert "pain_note" in visible_items(imported, {**base, "pain": 5})
    low = {**base, "slept": True, "dreamt": True, "mood": "low"}
    assert "pain_note" in visible_items(imported, low)


@pytest.mark.parametrize(
    ("reference", "why"),
    [
        ("http://loinc.org/vs/LL358-3", "is not a contained ValueSet"),
        ("#nowhere", "names no contained ValueSet"),
    ],
)
def test_other_answer_value_sets_are_refused_naming_the_item(reference: str, why: str) -> None:
    data = copy.deepcopy(QUESTIONNAIRE)
    data["item"][2]["item"][2]["item"][1]["answerValueSet"] = reference
    with pytest.raises(ValidationError, match=f"^item mood: answerValueSet '{reference}' {why}"):
        import_questionnaire(data)


def test_every_enable_when_operator() -> None:
    def when(op: str, **answer: object) -> dict[str, Any]:
        condition = {"question": "a", "operator": op, **answer}
        return {"linkId": op, "type": "boolean", "text": op, "enableWhen": [condition]}

    data = {
        "resourceType": "Questionnaire",
        "name": "ops",
        "status": "draft",
        "item": [
            {"linkId": "a", "type": "integer", "text": "A"},
            when("=", answerInteger=3),
            when("!=", answerInteger=3),
            when(">", answerInteger=3),
            when("<", answerInteger=3),
            when(">=", answerInteger=3),
            when("<=", answerInteger=3),
            {**when("exists", answerBoolean=True), "linkId": "set"},
            {**when("exists", answerBoolean=False), "linkId": "unset"},
        ],
    }
    imported = import_questionnaire(data)
    assert imported.warnings == ()
    assert visible_items(imported, {"a": 3}) == {"a", "=", ">=", "<=", "set"}
    assert visible_items(imported, {"a": 4}) == {"a", "!=", ">", ">=", "set"}
    assert visible_items(imported, {"a": 2}) == {"a", "!=", "<", "<=", "set"}
    assert visible_items(imported, {}) == {"a", "!=", "unset"}
