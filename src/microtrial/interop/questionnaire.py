"""FHIR R4 Questionnaire in, QuestionnaireResponse out and back (linkIds = item ids).

Import maps item types: boolean -> boolean; integer -> integer (bounds from the
``minValue``/``maxValue`` extensions); choice with consecutive integer codes -> integer with
labels, other choice -> choice (options = codes); string/text/date/dateTime/time/decimal/url ->
text; group -> its children; display -> nothing. A choice's options come from ``answerOption`` or
from an ``answerValueSet`` that points at a ValueSet in ``contained`` (``#id``: its expansion, else
its ``compose`` concepts); any other ``answerValueSet`` refuses the import with one line naming
the item. Other types (attachment, reference, quantity, open-choice) are skipped with a warning
naming the linkId. ``enableWhen`` (on items and on groups, whose condition applies to every item
inside) becomes branching logic in the same tree as REDCap's.

The authored Questionnaire is kept with the import, so a QuestionnaireResponse for it points at
its canonical URL (``url|version``), nests and orders items as the Questionnaire does, and types
each answer by its item (valueCoding, valueDate, valueDecimal, valueInteger, ...); exporting the
instrument as a Questionnaire gives that Questionnaire back.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

import pydantic
from fhir.resources.R4B.questionnaire import Questionnaire
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

from microtrial.domain.branching import And, Compare, Expr, FieldRef, Literal, Or, to_text
from microtrial.domain.catalog import Instrument, Item
from microtrial.errors import ValidationError
from microtrial.interop.imported import ImportedInstrument, build_instrument

__all__ = [
    "answers_from_response",
    "authored_response_items",
    "canonical_url",
    "check_typed_answers",
    "import_questionnaire",
    "questionnaire_canonical",
    "questionnaire_from_instrument",
    "questionnaire_response",
    "response_items",
    "typed_answer_problem",
]

MIN_VALUE = "http://hl7.org/fhir/StructureDefinition/minValue"
# R4's extension giving a Coding (answer option or answer) its numeric grade.
ORDINAL_VALUE = "http://hl7.org/fhir/StructureDefinition/ordinalValue"
MAX_VALUE = "http://hl7.org/fhir/StructureDefinition/maxValue"
INT_LIMIT = 2_147_483_647
# REDCap's date validation types: stored as YYYY-MM-DD, a FHIR date
DATE_FORMATS = frozenset({"date_ymd", "date_mdy", "date_dmy"})
TEXT_TYPES = {"string", "text", "date", "dateTime", "time", "decimal", "url"}
_OPS = {"=": "=", "!=": "<>", ">": ">", "<": "<", ">=": ">=", "<=": "<="}
_ID_RE = re.compile(r"[^a-z0-9_\-]+")


def canonical_url(instrument_id: str, version: str) -> str:
    """The canonical URL (with version) our QuestionnaireResponses point at."""
    return f"urn:microtrial:questionnaire:{instrument_id}|{version}"


def _extension(item: Mapping[str, Any], url: str) -> int | None:
    for ext in item.get("extension", []) or []:
        if ext.get("url") == url and isinstance(ext.get("valueInteger"), int):
            return int(ext["valueInteger"])
    return None


def _flatten(items: list[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    """Every response item, depth first, including those nested under answers."""
    for item in items:
        yield item
        yield from _flatten(list(item.get("item", []) or []))
        for answer in item.get("answer", []) or []:
            yield from _flatten(list(answer.get("item", []) or []))


def _answer_literal(
    condition: Mapping[str, Any], grades: Mapping[str, Mapping[str, int]]
) -> Literal | None:
    for key, value in condition.items():
        if not key.startswith("answer"):
            continue
        if key == "answerCoding":
            # a coded scale stores the grade, so the condition compares the grade too
            code = str(value.get("code", ""))
            grade = grades.get(str(condition.get("question", "")), {}).get(code)
            return Literal(code) if grade is None else Literal(str(grade), quoted=False)
        if key == "answerBoolean":
            return Literal("1" if value else "0")
        if key in ("answerInteger", "answerDecimal"):
            return Literal(str(value), quoted=False)
        return Literal(str(value))
    return None


def _enable_when(
    item: Mapping[str, Any], grades: Mapping[str, Mapping[str, int]] | None = None
) -> Expr | None:
    conditions = item.get("enableWhen") or []
    parts: list[Expr] = []
    for condition in conditions:
        question = str(condition.get("question", ""))
        op = str(condition.get("operator", ""))
        ref = FieldRef(question)
        if op == "exists":
            present = bool(condition.get("answerBoolean"))
            parts.append(Compare(ref, "<>" if present else "=", Literal("")))
            continue
        literal = _answer_literal(condition, grades or {})
        if op not in _OPS or literal is None:
            raise ValidationError("enableWhen", f"operator {op!r} not supported", value=question)
        parts.append(Compare(ref, _OPS[op], literal))
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    return Or(tuple(parts)) if item.get("enableBehavior") == "any" else And(tuple(parts))


def _parse_questionnaire(data: str | bytes | Mapping[str, Any]) -> Mapping[str, Any]:
    """The Questionnaire resource in ``data``, checked with fhir.resources."""
    if isinstance(data, str | bytes):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as err:
            raise ValidationError("questionnaire", f"not valid JSON: {err.msg}") from err
    if not isinstance(data, Mapping) or data.get("resourceType") != "Questionnaire":
        raise ValidationError("questionnaire", "not a FHIR Questionnaire resource")
    try:
        Questionnaire.model_validate(dict(data))
    except pydantic.ValidationError as err:
        raise ValidationError("questionnaire", f"invalid: {err.errors()[0]['msg']}") from err
    return data


def _item_base(entry: Mapping[str, Any], link: str) -> dict[str, Any]:
    """The fields every imported item has: id, text, required and a LOINC code if given."""
    base: dict[str, Any] = {
        "id": link,
        "text": str(entry.get("text") or link),
        "required": bool(entry.get("required", False)),
    }
    if entry.get("code"):
        loinc = [c["code"] for c in entry["code"] if c.get("system") == "http://loinc.org"]
        if loinc:
            base["loinc"] = loinc[0]
    return base


def _ordinal(coding: Mapping[str, Any]) -> int | None:
    """The whole-number ordinalValue of a Coding, if it has one."""
    for ext in coding.get("extension", []) or []:
        value = ext.get("valueDecimal") if ext.get("url") == ORDINAL_VALUE else None
        if isinstance(value, int | float) and float(value).is_integer():
            return int(value)
    return None


def _coded_scale(entry: Mapping[str, Any], base: dict[str, Any]) -> dict[str, Any] | None:
    """An integer scale from codes of one system that carry consecutive ordinalValues."""
    codings = [o["valueCoding"] for o in entry.get("answerOption", []) or [] if "valueCoding" in o]
    grades = [_ordinal(c) for c in codings]
    systems = {c.get("system") for c in codings}
    if not codings or None in grades or len(systems) != 1 or None in systems:
        return None
    numbers = [g for g in grades if g is not None]
    if sorted(numbers) != list(range(min(numbers), max(numbers) + 1)):
        return None
    pairs = list(zip(numbers, codings, strict=True))
    return {
        **base,
        "type": "integer",
        "min": min(numbers),
        "max": max(numbers),
        "labels": {
            g: str(c.get("display") or c.get("code")) for g, c in zip(numbers, codings, strict=True)
        },
        "answer_codes": {
            "system": systems.pop(),
            "codes": {g: str(c.get("code")) for g, c in pairs},
            "sources": ["user-import:fhir-questionnaire"],
        },
    }


def _choice_item(entry: Mapping[str, Any], base: dict[str, Any]) -> dict[str, Any] | None:
    """A choice item: an integer scale when its codes (or ordinals) are consecutive numbers."""
    scale = _coded_scale(entry, base)
    if scale is not None:
        return scale
    options = [
        (str(o["valueCoding"].get("code")), str(o["valueCoding"].get("display") or ""))
        for o in entry.get("answerOption", []) or []
        if "valueCoding" in o
    ] + [
        (str(o["valueString"]), str(o["valueString"]))
        for o in entry.get("answerOption", []) or []
        if "valueString" in o
    ]
    if not options:
        return None
    codes = [c for c, _ in options]
    numbers = [int(c) for c in codes if re.fullmatch(r"-?\d+", c)]
    if len(numbers) == len(codes) and numbers == list(range(min(numbers), max(numbers) + 1)):
        return {
            **base,
            "type": "integer",
            "min": min(numbers),
            "max": max(numbers),
            "labels": {int(c): d or c for c, d in options},
        }
    return {**base, "type": "choice", "options": codes}


def _value_set_codings(vs: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The codings a ValueSet lists: its expansion, else the concepts its compose includes."""

    def walk(contains: list[Mapping[str, Any]]) -> Iterator[dict[str, Any]]:
        for c in contains:
            if c.get("code") is not None and not c.get("abstract"):
                yield {k: c[k] for k in ("system", "code", "display") if c.get(k) is not None}
            yield from walk(list(c.get("contains", []) or []))

    expansion = list((vs.get("expansion") or {}).get("contains", []) or [])
    if expansion:
        return list(walk(expansion))
    codings: list[dict[str, Any]] = []
    for include in (vs.get("compose") or {}).get("include", []) or []:
        if include.get("filter") or include.get("valueSet"):
            return []  # not a list we can enumerate without a terminology server
        for concept in include.get("concept", []) or []:
            coding = {"system": include.get("system"), **concept}
            codings.append({k: coding[k] for k in ("system", "code", "display") if coding.get(k)})
    return codings


def _value_set_options(
    entry: Mapping[str, Any], link: str, contained: Mapping[str, Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """``answerOption`` entries from the contained ValueSet ``answerValueSet`` points at."""
    ref = str(entry["answerValueSet"])
    where = f"item {link}"
    if not ref.startswith("#"):
        raise ValidationError(
            where,
            f"answerValueSet {ref!r} is not a contained ValueSet",
            allowed="'#id' of a ValueSet in the Questionnaire's contained",
        )
    vs = contained.get(ref[1:])
    if vs is None:
        raise ValidationError(where, f"answerValueSet {ref!r} names no contained ValueSet")
    codings = _value_set_codings(vs)
    if not codings:
        raise ValidationError(
            where,
            f"answerValueSet {ref!r} lists no codes (expansion.contains or compose concepts)",
        )
    return [{"valueCoding": c} for c in codings]


def _catalog_item(entry: Mapping[str, Any], link: str, kind: str) -> dict[str, Any] | str:
    """The catalog item for one Questionnaire item, or a warning saying why it was skipped."""
    base = _item_base(entry, link)
    if kind == "boolean":
        return {**base, "type": "boolean"}
    if kind == "integer":
        low = _extension(entry, MIN_VALUE)
        high = _extension(entry, MAX_VALUE)
        return {
            **base,
            "type": "integer",
            "min": -INT_LIMIT if low is None else low,
            "max": INT_LIMIT if high is None else high,
        }
    if kind == "choice":
        item = _choice_item(entry, base)
        return item or f"item {link}: choice without answerOption codes; skipped"
    if kind in TEXT_TYPES:
        return {**base, "type": "text", "max_length": int(entry.get("maxLength") or 1000)}
    return f"item {link}: type {kind!r} is not supported; skipped"


def _contained_value_sets(data: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {
        str(r.get("id")): r
        for r in data.get("contained", []) or []
        if r.get("resourceType") == "ValueSet" and r.get("id")
    }


def _resolved(
    entries: list[Mapping[str, Any]], contained: Mapping[str, Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """The item tree with ``answerValueSet`` read into ``answerOption`` (refused if foreign)."""
    out: list[dict[str, Any]] = []
    for entry in entries:
        new = dict(entry)
        if entry.get("answerValueSet"):
            options = _value_set_options(entry, str(entry.get("linkId")), contained)
            if not entry.get("answerOption"):
                new["answerOption"] = options
        if entry.get("item"):
            new["item"] = _resolved(list(entry["item"]), contained)
        out.append(new)
    return out


def _grades(items: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """For each coded scale, its answer codes to grades (enableWhen compares grades)."""
    grades: dict[str, dict[str, int]] = {}
    for item in items:
        codes = item.get("answer_codes")
        if codes:
            grades[item["id"]] = {str(code): int(g) for g, code in codes["codes"].items()}
    return grades


def import_questionnaire(data: str | bytes | Mapping[str, Any]) -> ImportedInstrument:
    """A FHIR Questionnaire (JSON) as a catalog instrument with branching and warnings."""
    data = _parse_questionnaire(data)
    tree = _resolved(list(data.get("item", []) or []), _contained_value_sets(data))
    warnings: list[str] = []
    items: list[dict[str, Any]] = []
    fhir_types: dict[str, str] = {}
    # (item entry, enableWhen conditions of the groups around it) in Questionnaire order
    answerable: list[tuple[Mapping[str, Any], list[Mapping[str, Any]]]] = []

    def walk(entries: list[dict[str, Any]], outer: list[Mapping[str, Any]]) -> None:
        for entry in entries:
            link, kind = str(entry.get("linkId")), str(entry.get("type"))
            inner = outer + ([entry] if entry.get("enableWhen") else [])
            if kind not in ("group", "display"):
                new = _catalog_item(entry, link, kind)
                if isinstance(new, str):
                    warnings.append(new)
                else:
                    fhir_types[link] = kind
                    items.append(new)
                    answerable.append((entry, outer))
            walk(list(entry.get("item", []) or []), inner)

    walk(tree, [])
    grades = _grades(items)
    branching: dict[str, str] = {}
    for entry, groups in answerable:
        parts: list[Expr] = []
        for holder in [*groups, entry]:
            try:
                logic = _enable_when(holder, grades)
            except ValidationError as err:
                warnings.append(
                    f"item {holder.get('linkId')}: enableWhen not understood ({err}); always shown"
                )
                logic = None
            if logic is not None:
                parts.append(logic)
        if parts:
            branching[str(entry["linkId"])] = to_text(
                parts[0] if len(parts) == 1 else And(tuple(parts))
            )
    name = str(data.get("name") or data.get("id") or data.get("title") or "questionnaire")
    instrument_id = _ID_RE.sub("_", name.lower()).strip("_") or "questionnaire"
    instrument = build_instrument(
        instrument_id,
        str(data.get("title") or name),
        items,
        source="fhir-questionnaire",
        version=str(data.get("version") or "1"),
    )
    return ImportedInstrument(
        instrument=instrument,
        source="fhir-questionnaire",
        branching=branching,
        fhir_types=fhir_types,
        warnings=tuple(dict.fromkeys(warnings)),
        questionnaire=json.loads(json.dumps(data)),
    )


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


def _resolved_questionnaire(imported: ImportedInstrument) -> list[Mapping[str, Any]]:
    data = imported.questionnaire
    return list(_resolved(list(data.get("item", []) or []), _contained_value_sets(data)))


def authored_response_items(
    imported: ImportedInstrument, answers: Mapping[str, object], *, strict: bool = True
) -> list[dict[str, Any]]:
    """Response items nested and ordered as the imported Questionnaire, answers typed by item.

    An answer to an item the Questionnaire lacks (e.g. kept from before a ``--replace``) is a
    ValidationError when ``strict``; otherwise it follows the authored items, flat, so that an
    export loses no recorded answer.
    """
    used: set[str] = set()
    tree = _resolved_questionnaire(imported)
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
        ordinal = _ordinal(coding)
        if ordinal is None:
            raise ValidationError("answer", f"code {code!r} is not a grade of item {item.id}")
        return ordinal
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
