"""FHIR R4 Questionnaire in: an authored Questionnaire as a catalog instrument (linkIds = item ids).

Import maps item types: boolean -> boolean; integer -> integer (bounds from the
``minValue``/``maxValue`` extensions); choice with consecutive integer codes -> integer with
labels, other choice -> choice (options = codes); string/text/date/dateTime/time/decimal/url ->
text; group -> its children; display -> nothing. A choice's options come from ``answerOption`` or
from an ``answerValueSet`` that points at a ValueSet in ``contained`` (``#id``: its expansion, else
its ``compose`` concepts); any other ``answerValueSet`` refuses the import with one line naming
the item. Other types (attachment, reference, quantity, open-choice) are skipped with a warning
naming the linkId. ``enableWhen`` (on items and on groups, whose condition applies to every item
inside) becomes branching logic in the same tree as REDCap's.

The authored Questionnaire is kept with the import; ``interop.questionnaire_export`` writes
responses to it (and the Questionnaire itself) back out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

import pydantic
from fhir.resources.R4B.questionnaire import Questionnaire

from microtrial.domain.branching import And, Compare, Expr, FieldRef, Literal, Or, to_text
from microtrial.errors import ValidationError
from microtrial.interop.imported import ImportedInstrument, build_instrument

__all__ = [
    "MAX_VALUE",
    "MIN_VALUE",
    "ORDINAL_VALUE",
    "import_questionnaire",
    "ordinal",
    "resolved_items",
]

MIN_VALUE = "http://hl7.org/fhir/StructureDefinition/minValue"
# R4's extension giving a Coding (answer option or answer) its numeric grade.
ORDINAL_VALUE = "http://hl7.org/fhir/StructureDefinition/ordinalValue"
MAX_VALUE = "http://hl7.org/fhir/StructureDefinition/maxValue"
INT_LIMIT = 2_147_483_647
TEXT_TYPES = {"string", "text", "date", "dateTime", "time", "decimal", "url"}
_OPS = {"=": "=", "!=": "<>", ">": ">", "<": "<", ">=": ">=", "<=": "<="}
_ID_RE = re.compile(r"[^a-z0-9_\-]+")


def _extension(item: Mapping[str, Any], url: str) -> int | None:
    for ext in item.get("extension", []) or []:
        if ext.get("url") == url and isinstance(ext.get("valueInteger"), int):
            return int(ext["valueInteger"])
    return None


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


def ordinal(coding: Mapping[str, Any]) -> int | None:
    """The whole-number ordinalValue of a Coding, if it has one."""
    for ext in coding.get("extension", []) or []:
        value = ext.get("valueDecimal") if ext.get("url") == ORDINAL_VALUE else None
        if isinstance(value, int | float) and float(value).is_integer():
            return int(value)
    return None


def _coded_scale(entry: Mapping[str, Any], base: dict[str, Any]) -> dict[str, Any] | None:
    """An integer scale from codes of one system that carry consecutive ordinalValues."""
    codings = [o["valueCoding"] for o in entry.get("answerOption", []) or [] if "valueCoding" in o]
    grades = [ordinal(c) for c in codings]
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
    tree = resolved_items(data)
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


def resolved_items(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A Questionnaire's item tree with each contained ``answerValueSet`` read into options."""
    return _resolved(list(data.get("item", []) or []), _contained_value_sets(data))
