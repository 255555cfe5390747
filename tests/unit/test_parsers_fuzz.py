"""Hypothesis on everything that reads outside input: scoring, the REDCap dictionary importer,
the FHIR Questionnaire importer and the branching-logic parser.

The existing property tests (tests/unit/domain/test_scoring_instruments.py,
tests/unit/interop/test_redcap_dictionary.py, tests/unit/interop/test_questionnaire.py) feed
well-formed input; these feed arbitrary input. Every call either succeeds with a sane result or
raises our own error (``ValidationError``; ``BranchingError`` for branching logic) -- never a
KeyError, TypeError, AttributeError, RecursionError or any other crash.
"""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from microtrial.domain.branching import (
    MAX_NESTING,
    BranchingError,
    evaluate,
    parse_branching,
    referenced_fields,
    to_text,
)
from microtrial.domain.catalog import load_catalog
from microtrial.domain.scoring import score
from microtrial.errors import ValidationError
from microtrial.interop.questionnaire import import_questionnaire
from microtrial.interop.redcap import HEADERS, import_dictionary

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CATALOG = load_catalog()
INSTRUMENTS = sorted(CATALOG.instruments)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(["0", "1", "10", "-1", "yes", "true", "", " 3 ", "1e309", "nan"])
)
json_ish = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def answers_for(draw: st.DrawFn, instrument_id: str) -> dict[str, Any]:
    """Answers keyed by the instrument's item ids (some missing) plus stray keys, any values."""
    instrument = CATALOG.instrument(instrument_id)
    ids = [item.id for item in instrument.items]
    keys = draw(st.lists(st.sampled_from(ids), unique=True, max_size=len(ids)))
    answers: dict[str, Any] = {key: draw(json_ish) for key in keys}
    if draw(st.booleans()):  # well-typed values for most items: reach the scoring code itself
        for item in instrument.items:
            if draw(st.integers(0, 4)):
                answers[item.id] = draw(
                    st.integers(-3, 12) | st.booleans() | st.floats(-3, 12) | st.none()
                )
    answers.update(draw(st.dictionaries(st.text(max_size=8), json_ish, max_size=2)))
    return answers


@pytest.mark.parametrize("instrument_id", INSTRUMENTS)
@FUZZ
@given(data=st.data())
def test_scoring_arbitrary_answers_fails_only_with_a_validation_error(
    instrument_id: str, data: st.DataObject
) -> None:
    answers = data.draw(answers_for(instrument_id))
    try:
        result = score(instrument_id, answers)
    except ValidationError:
        return
    for definition in CATALOG.instrument(instrument_id).scores:
        value = result.scores[definition.id].value
        if value is not None:
            assert math.isfinite(value), (definition.id, value)
            assert definition.min <= value <= definition.max, (definition.id, value)


# -- REDCap data dictionaries ------------------------------------------------------------

cells = st.text(alphabet=st.characters(codec="utf-8"), max_size=15) | st.sampled_from(
    [
        "radio",
        "checkbox",
        "dropdown",
        "yesno",
        "slider",
        "text",
        "notes",
        "calc",
        "descriptive",
        "integer",
        "number",
        "0, No | 1, Yes",
        "1, a|1, b",
        "[q1] = '1'",
        "datediff([a],[b])",
        "y",
        "-2147483649",
        "99999999999",
        "@LOINC=1234-5",
    ]
)


@st.composite
def csv_text(draw: st.DrawFn) -> str:
    """Arbitrary text, or CSV under the real header (or a mangled one) with arbitrary cells."""
    if draw(st.integers(0, 3)) == 0:
        return draw(st.text(max_size=200))
    header = list(HEADERS)
    if draw(st.booleans()):
        header = draw(st.permutations(header))[: draw(st.integers(1, len(header)))]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for _ in range(draw(st.integers(0, 5))):
        writer.writerow([draw(cells) for _ in range(draw(st.integers(0, len(header) + 2)))])
    text = out.getvalue()
    if draw(st.booleans()):
        text = "\ufeff" + text
    return text


@FUZZ
@given(text=csv_text())
def test_redcap_dictionary_import_of_arbitrary_text(text: str) -> None:
    for data in (text, text.encode("utf-8")):
        try:
            result = import_dictionary(data)
        except ValidationError:
            continue
        for imported in result.instruments:
            assert imported.instrument.id
            for parsed in imported.branching.values():
                assert parsed is None or isinstance(parsed, str)


# -- FHIR Questionnaires -----------------------------------------------------------------

item_types = st.sampled_from(
    ["integer", "decimal", "boolean", "choice", "string", "text", "group", "display", "date", "x"]
)


@st.composite
def questionnaire_item(draw: st.DrawFn, depth: int = 0) -> dict[str, Any]:
    item: dict[str, Any] = {
        "linkId": draw(st.sampled_from(["q1", "q2", "q3", "g", "1.1"]) | st.text(max_size=5)),
        "type": draw(item_types),
    }
    if draw(st.booleans()):
        item["text"] = draw(st.text(max_size=10))
    if draw(st.booleans()):
        item["answerOption"] = draw(
            st.lists(
                st.fixed_dictionaries(
                    {"valueCoding": st.fixed_dictionaries({"code": st.text(max_size=3)})}
                )
                | st.fixed_dictionaries({"valueInteger": st.integers(-5, 10)})
                | st.dictionaries(st.text(max_size=6), json_ish, max_size=2),
                max_size=3,
            )
        )
    if draw(st.booleans()):
        item["enableWhen"] = draw(
            st.lists(
                st.fixed_dictionaries(
                    {
                        "question": st.sampled_from(["q1", "q2", "zz"]),
                        "operator": st.sampled_from(["=", "!=", ">", "<", ">=", "<=", "exists"]),
                    },
                    optional={
                        "answerInteger": st.integers(-5, 10),
                        "answerBoolean": st.booleans(),
                        "answerString": st.text(max_size=4),
                        "answerCoding": st.fixed_dictionaries({"code": st.text(max_size=3)}),
                    },
                ),
                max_size=2,
            )
        )
    if draw(st.booleans()):
        item["extension"] = draw(
            st.lists(
                st.dictionaries(st.sampled_from(["url", "valueInteger"]), json_ish), max_size=2
            )
        )
    if depth < 2 and draw(st.integers(0, 3)) == 0:
        item["item"] = draw(st.lists(questionnaire_item(depth + 1), max_size=2))
    if draw(st.integers(0, 4)) == 0:
        item.update(draw(st.dictionaries(st.text(max_size=6), json_ish, max_size=2)))
    return item


@st.composite
def questionnaire(draw: st.DrawFn) -> Any:
    kind = draw(st.integers(0, 4))
    if kind == 0:
        return draw(json_ish)
    if kind == 1:
        return draw(st.dictionaries(st.text(max_size=8), json_ish, max_size=4))
    body: dict[str, Any] = {"resourceType": "Questionnaire", "status": "active"}
    if draw(st.booleans()):
        body["name"] = draw(st.text(max_size=10))
    if draw(st.booleans()):
        body["url"] = draw(st.text(max_size=20))
    body["item"] = draw(st.lists(questionnaire_item(), max_size=4))
    if draw(st.integers(0, 3)) == 0:
        body.update(draw(st.dictionaries(st.text(max_size=6), json_ish, max_size=2)))
    return body


@FUZZ
@given(data=questionnaire())
def test_questionnaire_import_of_arbitrary_json(data: Any) -> None:
    try:
        text = json.dumps(data)
    except ValueError:  # not JSON-serialisable as such (NaN is; nothing else here is not)
        text = None
    for candidate in (data, text):
        if candidate is None:
            continue
        try:
            imported = import_questionnaire(candidate)
        except ValidationError:
            continue
        assert imported.instrument.id


# -- branching logic ---------------------------------------------------------------------

tokens = st.sampled_from(
    [
        "[a]",
        "[b(1)]",
        "[ev][c]",
        "'x'",
        '"y"',
        "\u201cz\u201d",
        "1",
        "-2.5",
        "=",
        "==",
        "<>",
        "!=",
        "<",
        ">=",
        "and",
        "or",
        "&&",
        "||",
        "(",
        ")",
        " ",
        "[",
        "]",
        "'",
        "datediff",
        ",",
    ]
)


@FUZZ
@given(text=st.text(max_size=60) | st.lists(tokens, max_size=14).map(" ".join))
def test_branching_logic_parses_or_raises_a_branching_error(text: str) -> None:
    try:
        tree = parse_branching(text)
    except BranchingError:
        return
    # Whatever parses prints back to text that parses to the same tree, and evaluates.
    assert parse_branching(to_text(tree)) == tree
    fields = referenced_fields(tree)
    assert isinstance(evaluate(tree, dict.fromkeys(fields, 1)), bool)
    assert isinstance(evaluate(tree, {}), bool)


@settings(max_examples=25, deadline=None)
@given(depth=st.integers(1, 3000))
def test_deeply_nested_branching_logic_is_refused_not_a_crash(depth: int) -> None:
    text = "(" * depth + "[a] = 1" + ")" * depth
    if depth <= MAX_NESTING:
        assert parse_branching(text) == parse_branching("[a] = 1")
    else:
        with pytest.raises(BranchingError, match="nested"):
            parse_branching(text)
