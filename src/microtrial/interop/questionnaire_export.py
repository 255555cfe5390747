"""Instruments and answers out as FHIR R4: the Questionnaire and QuestionnaireResponses.

For an imported Questionnaire (``interop.questionnaire``) a QuestionnaireResponse points at its
canonical URL (``url|version``), nests and orders items as the Questionnaire does, and types
each answer by its item (valueCoding, valueDate, valueDecimal, valueInteger, ...); exporting the
instrument as a Questionnaire gives that Questionnaire back. ``answers_from_response`` reads a
response back into an answers dict, and ``check_typed_answers`` refuses, on entry, an answer its
FHIR item type could not carry.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

import pydantic
from fhir.resources.R4B.questionnaire import Questionnaire
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

from microtrial.domain.catalog import Instrument, Item
from microtrial.errors import ValidationError
from microtrial.interop.imported import ImportedInstrument
from microtrial.interop.questionnaire import (
    MAX_VALUE,
    MIN_VALUE,
    ORDINAL_VALUE,
    ordinal,
    resolved_items,
)

__all__ = [
    "answers_from_response",
    "authored_response_items",
    "canonical_url",
    "check_typed_answers",
    "fhir_text",
    "questionnaire_canonical",
    "questionnaire_from_instrument",
    "questionnaire_response",
    "response_items",
    "typed_answer_problem",
]

# REDCap's date validation types: stored as YYYY-MM-DD, a FHIR date
DATE_FORMATS = frozenset({"date_ymd", "date_mdy", "date_dmy"})


def canonical_url(instrument_id: str, version: str) -> str:
    """The canonical URL (with version) our QuestionnaireResponses point at."""
    return f"urn:microtrial:questionnaire:{instrument_id}|{version}"


def _flatten(items: list[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    """Every response item, depth first, including those nested under answers."""
    for item in items:
        yield item
        yield from _flatten(list(item.get("item", []) or []))
        for answer in item.get("answer", []) or []:
            yield from _flatten(list(answer.get("item", []) or []))


# FHIR's string type allows no whitespace but space, tab, CR and LF: a no-break space typed on a
# phone keyboard ("5\xa0mg") would make the whole resource invalid.
_NON_FHIR_SPACE = re.compile(r"[^\S \r\n\t]")


def fhir_text(value: str) -> str:
    """``value`` with every other whitespace character written as a plain space."""
    return _NON_FHIR_SPACE.sub(" ", value)


def _grade_coding(item: Item | None, grade: object) -> dict[str, Any] | None:
    """The coded answer (system, code, display, ordinal) of a grade, where the catalog has one."""
    codes = item.answer_codes if item is not None else None
    if codes is None or not isinstance(grade, int) or grade not in codes.codes:
        return None
    coding: dict[str, Any] = {
        "extension": [{"url": ORDINAL_VALUE, "valueDecimal": grade}],
        "system": codes.system,
        "code": codes.codes[grade],
    }
    if item is not None and item.labels and grade in item.labels:
        coding["display"] = item.labels[grade]
    return coding


# Answer value keys of the item types imported as free text.
_TEXT_VALUE = {
    "date": "valueDate",
    "dateTime": "valueDateTime",
    "time": "valueTime",
    "url": "valueUri",
}


_DATE = (
    r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)"
    r"(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1]))?)?"
)
_TIME = r"([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?"
_ZONE = r"(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))"
# The value patterns of R4's primitive types, for answers kept as text in the catalog item.
_FORMATS = {
    "date": re.compile(_DATE),
    "dateTime": re.compile(f"{_DATE}(T{_TIME}{_ZONE})?"),
    "time": re.compile(_TIME),
    "decimal": re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?"),
    "url": re.compile(r"\S+"),
}
_EXAMPLES = {
    "date": "2026-03-02",
    "dateTime": "2026-03-02T07:30:00Z",
    "time": "07:30:00",
    "decimal": "7.5",
    "url": "https://example.org",
}


def typed_answer_problem(kind: str, value: object) -> str | None:
    """Why ``value`` cannot be a FHIR answer of item type ``kind`` (None when it can)."""
    pattern = _FORMATS.get(kind)
    if pattern is None or (isinstance(value, int | float) and kind == "decimal"):
        return None
    if pattern.fullmatch(str(value)):
        return None
    return f"not a FHIR {kind} (e.g. {_EXAMPLES[kind]})"


def check_typed_answers(
    fhir_types: Mapping[str, str], answers: Mapping[str, object], instrument_id: str
) -> None:
    """Refuse an answer that its FHIR item type (date, time, decimal, ...) cannot carry."""
    for key, value in answers.items():
        problem = None if value is None else typed_answer_problem(fhir_types.get(key, ""), value)
        if problem is not None:
            raise ValidationError(f"{instrument_id}.{key}", problem, value=value)


def _option_answer(options: list[Mapping[str, Any]], value: object) -> dict[str, Any] | None:
    """The authored answerOption (coding or string) that ``value`` picks, if any."""
    for option in options:
        coding = option.get("valueCoding")
        if coding is not None and str(coding.get("code")) == str(value):
            return {"valueCoding": dict(coding)}
        if "valueString" in option and option["valueString"] == value:
            return {"valueString": fhir_text(str(value))}
    return None


def _answer(
    kind: str,
    value: object,
    item: Item | None = None,
    options: list[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    if kind == "choice":
        coded = _grade_coding(item, value)
        if coded is not None:
            return {"valueCoding": coded}
        authored = _option_answer(options or [], value)
        if authored is not None:
            return authored
        coding: dict[str, Any] = {"code": str(value)}
        if item is not None and item.labels and isinstance(value, int) and value in item.labels:
            coding["display"] = item.labels[value]
        return {"valueCoding": coding}
    if isinstance(value, bool):
        return {"valueBoolean": value}
    if isinstance(value, int):
        return {"valueInteger": value}
    if kind == "decimal":
        return {"valueDecimal": float(str(value))}
    if kind in _TEXT_VALUE:
        return {_TEXT_VALUE[kind]: str(value)}
    return {"valueString": fhir_text(str(value))}


def _kind(instrument: Instrument | None, fhir_types: Mapping[str, str], key: str) -> str:
    if key in fhir_types:
        return fhir_types[key]
    if instrument is not None:
        try:
            item = instrument.item(key)
        except KeyError:
            return "string"
        if item.type == "integer" and item.labels:
            return "choice"  # as questionnaire_from_instrument declares it
        if item.format in DATE_FORMATS:
            return "date"
        return {"integer": "integer", "boolean": "boolean", "choice": "choice"}.get(
            item.type, "string"
        )
    return "string"


def response_items(
    instrument: Instrument | None,
    answers: Mapping[str, object],
    fhir_types: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """QuestionnaireResponse items (linkId = item id) for the answered items, in form order."""
    types = fhir_types or {}
    order = [i.id for i in instrument.items] if instrument else []
    keys = [k for k in order if k in answers] + sorted(k for k in answers if k not in order)
    items = {i.id: i for i in instrument.items} if instrument else {}
    return [
        {
            "linkId": key,
            "answer": [_answer(_kind(instrument, types, key), answers[key], items.get(key))],
        }
        for key in keys
        if answers[key] is not None
    ]


def _nested_items(
    imported: ImportedInstrument,
    entries: list[Mapping[str, Any]],
    answers: Mapping[str, object],
    used: set[str],
    *,
    strict: bool = True,
) -> list[dict[str, Any]]:
    """Response items for the answered items under ``entries``, nested and ordered as authored."""
    items = {i.id: i for i in imported.instrument.items}
    out: list[dict[str, Any]] = []
    for entry in entries:
        link, kind = str(entry.get("linkId")), str(entry.get("type"))
        inner = list(entry.get("item", []) or [])
        children = _nested_items(imported, inner, answers, used, strict=strict)
        text = {"text": fhir_text(str(entry["text"]))} if entry.get("text") else {}
        if kind == "group":
            if children:
                out.append({"linkId": link, **text, "item": children})
            continue
        value = answers.get(link)
        if kind == "display" or value is None or link not in imported.fhir_types:
            continue
        if not strict and typed_answer_problem(kind, value):
            kind = "string"  # recorded before the type was checked: keep it, as text
        answer = _answer(kind, value, items.get(link), list(entry.get("answerOption", []) or []))
        if children:
            answer["item"] = children  # items under a question sit under its answer
        out.append({"linkId": link, **text, "answer": [answer]})
        used.add(link)
    return out


def authored_response_items(
    imported: ImportedInstrument, answers: Mapping[str, object], *, strict: bool = True
) -> list[dict[str, Any]]:
    """Response items nested and ordered as the imported Questionnaire, answers typed by item.

    An answer to an item the Questionnaire lacks (e.g. kept from before a ``--replace``) is a
    ValidationError when ``strict``; otherwise it follows the authored items, flat, so that an
    export loses no recorded answer.
    """
    used: set[str] = set()
    tree: list[Mapping[str, Any]] = list(resolved_items(imported.questionnaire))
    items = _nested_items(imported, tree, answers, used, strict=strict)
    extra = {k: v for k, v in answers.items() if v is not None and k not in used}
    if extra and strict:
        raise ValidationError("answers", f"no such item in the Questionnaire: {', '.join(extra)}")
    return items + response_items(None, extra)


def questionnaire_canonical(imported: ImportedInstrument | Instrument) -> str:
    """The canonical (``url|version``) of the Questionnaire an instrument's responses answer."""
    instrument = imported.instrument if isinstance(imported, ImportedInstrument) else imported
    authored = imported.questionnaire if isinstance(imported, ImportedInstrument) else {}
    if authored.get("url"):
        version = authored.get("version")
        return f"{authored['url']}|{version}" if version else str(authored["url"])
    return canonical_url(instrument.id, instrument.version)


def questionnaire_response(
    imported: ImportedInstrument | Instrument,
    answers: Mapping[str, object],
    *,
    subject: str | None = None,
    authored: str | None = None,
) -> dict[str, Any]:
    """A completed QuestionnaireResponse (validated with fhir.resources).

    For an imported Questionnaire its items nest and order as authored, answers are typed by
    item type, and an answer to an item the Questionnaire lacks is a ValidationError.
    """
    instrument = imported.instrument if isinstance(imported, ImportedInstrument) else imported
    if isinstance(imported, ImportedInstrument) and imported.questionnaire:
        items = authored_response_items(imported, answers)
    else:
        types = imported.fhir_types if isinstance(imported, ImportedInstrument) else {}
        items = response_items(instrument, answers, types)
    resource: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": questionnaire_canonical(imported),
        "status": "completed",
        "item": items,
    }
    if subject:
        resource["subject"] = {"reference": subject}
    if authored:
        resource["authored"] = authored
    try:
        QuestionnaireResponse.model_validate(resource)
    except pydantic.ValidationError as err:
        problem = err.errors()[0]
        where = ".".join(str(p) for p in problem["loc"])
        raise ValidationError(
            "answers", f"not a valid response: {where}: {problem['msg']}"
        ) from err
    return resource


def _value(answer: Mapping[str, Any], item: Item | None) -> object:
    if "valueCoding" in answer:
        coding = answer["valueCoding"]
        code = str(coding.get("code"))
        if item is None or item.type != "integer":
            return code
        codes = item.answer_codes
        if codes is not None and coding.get("system") == codes.system:
            for grade, known in codes.codes.items():
                if known == code:
                    return grade
        if re.fullmatch(r"-?\d+", code):
            return int(code)
        graded = ordinal(coding)
        if graded is None:
            raise ValidationError("answer", f"code {code!r} is not a grade of item {item.id}")
        return graded
    for key in (
        "valueBoolean",
        "valueInteger",
        "valueString",
        "valueDecimal",
        "valueDate",
        "valueDateTime",
        "valueTime",
        "valueUri",
    ):
        if key in answer:
            value = answer[key]
            if key == "valueDecimal":
                return str(value)
            return value
    raise ValidationError("answer", f"unsupported answer {sorted(answer)}")


def answers_from_response(
    imported: ImportedInstrument | Instrument, response: Mapping[str, Any]
) -> dict[str, object]:
    """Our answers dict from a QuestionnaireResponse (nested groups flattened)."""
    instrument = imported.instrument if isinstance(imported, ImportedInstrument) else imported
    items = {i.id: i for i in instrument.items}
    answers: dict[str, object] = {}
    for item in _flatten(list(response.get("item", []) or [])):
        for answer in item.get("answer", []) or []:
            link = str(item["linkId"])
            answers[link] = _value(answer, items.get(link))
    return answers


def questionnaire_from_instrument(
    imported: ImportedInstrument | Instrument,
) -> dict[str, Any]:
    """A FHIR Questionnaire for an instrument (catalog or imported), validated."""
    instrument = imported.instrument if isinstance(imported, ImportedInstrument) else imported
    if isinstance(imported, ImportedInstrument) and imported.questionnaire:
        # an imported Questionnaire goes back out as authored (groups, order, options, logic)
        authored = json.loads(json.dumps(imported.questionnaire))
        if not authored.get("url"):
            authored["url"] = canonical_url(instrument.id, instrument.version).split("|")[0]
            authored["version"] = instrument.version
        Questionnaire.model_validate(authored)
        return dict(authored)
    types = imported.fhir_types if isinstance(imported, ImportedInstrument) else {}
    items: list[dict[str, Any]] = []
    for item in instrument.items:
        kind = types.get(item.id) or {
            "integer": "choice" if item.labels else "integer",
            "boolean": "boolean",
            "choice": "choice",
        }.get(item.type, "text")
        if item.format in DATE_FORMATS and item.id not in types:
            kind = "date"  # a REDCap date (YYYY-MM-DD whatever its display order)
        entry: dict[str, Any] = {
            "linkId": item.id,
            "text": item.text,
            "type": kind,
            "required": item.required,
        }
        if item.loinc:
            entry["code"] = [{"system": "http://loinc.org", "code": item.loinc}]
        if item.type == "integer" and kind == "choice" and item.labels:
            entry["answerOption"] = [
                {"valueCoding": _grade_coding(item, code) or {"code": str(code), "display": text}}
                for code, text in sorted(item.labels.items())
            ]
        elif item.type == "integer":
            entry["extension"] = [
                {"url": MIN_VALUE, "valueInteger": item.min},
                {"url": MAX_VALUE, "valueInteger": item.max},
            ]
        elif item.type == "choice":
            entry["answerOption"] = [{"valueCoding": {"code": o}} for o in item.options or ()]
        items.append(entry)
    resource: dict[str, Any] = {
        "resourceType": "Questionnaire",
        "url": canonical_url(instrument.id, instrument.version).split("|")[0],
        "version": instrument.version,
        "name": instrument.id,
        "title": instrument.title,
        "status": "active",
        "item": items,
    }
    Questionnaire.model_validate(resource)
    return resource
