"""REDCap data dictionaries in (import as catalog instruments) and out.

Import: the 18-column data dictionary CSV (human headers, or the API's snake_case keys; with or
without a byte-order mark), one catalog instrument per form. Field types:

========================  ===============================================================
REDCap                    catalog item
========================  ===============================================================
radio, dropdown           integer with labels when the codes are consecutive integers,
                          else choice (options = codes)
checkbox                  one boolean item per choice, ``field___code`` (REDCap's own
                          column names)
yesno, truefalse          boolean
slider                    integer (min/max from the validation columns, default 0-100)
text (integer)            integer (min/max from the validation columns)
text (date, number, ...)  text with ``format`` = the validation type and ``format_min`` /
                          ``format_max`` from the validation columns, checked on entry
                          (``domain.text_formats``); an unknown type is a warning
text (none), notes        text
calc, descriptive         no item (REDCap computes / displays them); kept for export
file, sql, other          skipped with a warning naming the field
========================  ===============================================================

The first field of a project is its record id and is not an item. Fields flagged as
identifiers (``Identifier?`` = y) are refused, or dropped before anything is built when the
caller asks (``drop_identifiers``). Bytes are read as UTF-8 (BOM or not), else Windows-1252 (a
warning). Branching logic is parsed (``domain.branching``); logic the parser does not understand
is a warning and the item is always shown. The source rows are kept, so export -> import gives
back the identical instrument.

Export: the dictionary rows of a project's instruments, under the variable names of
``interop.redcap_names`` (unique across the project); ``interop.redcap_records`` writes the
diary records under the same names and reads a records CSV back.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from microtrial.domain.branching import BranchingError, parse_branching, referenced_fields
from microtrial.domain.catalog import Instrument, load_catalog
from microtrial.domain.text_formats import FORMATS, format_value
from microtrial.errors import ValidationError
from microtrial.files import spreadsheet_safe, spreadsheet_unescape
from microtrial.interop.imported import ImportedInstrument, build_instrument
from microtrial.interop.redcap_names import catalog_item_ids, check_name, variable_names

__all__ = [
    "HEADERS",
    "KEYS",
    "DictionaryImport",
    "decode_dictionary",
    "dictionary_csv",
    "dictionary_rows",
    "import_dictionary",
    "parse_choices",
    "read_dictionary",
]

HEADERS = (
    "Variable / Field Name",
    "Form Name",
    "Section Header",
    "Field Type",
    "Field Label",
    "Choices, Calculations, OR Slider Labels",
    "Field Note",
    "Text Validation Type OR Show Slider Number",
    "Text Validation Min",
    "Text Validation Max",
    "Identifier?",
    "Branching Logic (Show field only if...)",
    "Required Field?",
    "Custom Alignment",
    "Question Number (surveys only)",
    "Matrix Group Name",
    "Matrix Ranking?",
    "Field Annotation",
)
KEYS = (
    "field_name",
    "form_name",
    "section_header",
    "field_type",
    "field_label",
    "select_choices_or_calculations",
    "field_note",
    "text_validation_type_or_show_slider_number",
    "text_validation_min",
    "text_validation_max",
    "identifier",
    "branching_logic",
    "required_field",
    "custom_alignment",
    "question_number",
    "matrix_group_name",
    "matrix_ranking",
    "field_annotation",
)
_BY_HEADER = dict(zip(HEADERS, KEYS, strict=True))
CHOICE_TYPES = {"radio", "dropdown", "checkbox"}
NO_ITEM_TYPES = {"calc", "descriptive"}
SUPPORTED_TYPES = {*CHOICE_TYPES, *NO_ITEM_TYPES, "yesno", "truefalse", "slider", "text", "notes"}
INT_LIMIT = 2_147_483_647
NOTES_LENGTH = 10_000
_INT_RE = re.compile(r"^-?\d+$")
_LOINC_TAG = re.compile(r"@LOINC=([0-9]{1,7}-[0-9])\b")


def read_dictionary(data: str | bytes | Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Normalise a data dictionary (CSV text/bytes or API records) to snake_case rows."""
    if isinstance(data, bytes):
        data = decode_dictionary(data)[0]
    if isinstance(data, str):
        text = data.removeprefix("\ufeff")
        # A cell this system escaped against spreadsheet formulas reads back as it was.
        records: list[Mapping[str, Any]] = [
            {k: spreadsheet_unescape(v) if isinstance(v, str) else v for k, v in record.items()}
            for record in csv.DictReader(io.StringIO(text, newline=""))
        ]
    else:
        records = list(data)
    rows: list[dict[str, str]] = []
    for number, record in enumerate(records, start=2):
        row = {
            _BY_HEADER.get(
                key.strip().removeprefix("\ufeff"), key.strip().removeprefix("\ufeff")
            ): ("" if value is None else str(value))
            for key, value in record.items()
            if key is not None
        }
        if "field_name" not in row or "form_name" not in row or "field_type" not in row:
            raise ValidationError(
                "dictionary",
                f"row {number}: not a REDCap data dictionary (no field name, form or type)",
                allowed="the 18 data-dictionary columns",
            )
        rows.append({key: row.get(key, "") for key in KEYS})
    if not rows:
        raise ValidationError("dictionary", "has no fields")
    return rows


def decode_dictionary(data: bytes) -> tuple[str, str | None]:
    """A dictionary file's text: UTF-8 (with or without BOM), else Windows-1252 with a warning.

    REDCap writes UTF-8, but a dictionary edited in Excel on Windows is often saved as
    Windows-1252; any other encoding is refused rather than guessed.
    """
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError as err:
        raise ValidationError(
            "dictionary",
            f"is neither UTF-8 nor Windows-1252 text (byte {err.start}); save it as CSV UTF-8",
        ) from None
    return text, "dictionary read as Windows-1252 (not UTF-8); check accented characters"


def parse_choices(text: str) -> list[tuple[str, str]]:
    """``"1, One | 2, Two"`` -> ``[("1", "One"), ("2", "Two")]``."""
    choices: list[tuple[str, str]] = []
    for part in text.split("|"):
        if not part.strip():
            continue
        code, _, label = part.partition(",")
        choices.append((code.strip(), label.strip() if _ else code.strip()))
    return choices


def _int(text: str, default: int) -> int:
    text = text.strip()
    if _INT_RE.match(text):
        return int(text)
    try:
        value = float(text)
    except ValueError:
        return default
    return int(value) if value.is_integer() else default


def _item(
    row: Mapping[str, str], warnings: list[str], item_ids: Mapping[str, str]
) -> list[dict[str, Any]]:
    name, kind = row["field_name"], row["field_type"].strip().lower()
    label = row["field_label"].strip() or name
    required = row["required_field"].strip().lower() == "y"
    # a catalog form's prefixed variable (phq9_q1) is its catalog item (q1) again
    base: dict[str, Any] = {"id": item_ids.get(name, name), "text": label, "required": required}
    loinc = _LOINC_TAG.search(row["field_annotation"])
    if loinc:
        base["loinc"] = loinc[1]
    validation = row["text_validation_type_or_show_slider_number"].strip().lower()
    if kind in ("radio", "dropdown"):
        choices = parse_choices(row["select_choices_or_calculations"])
        if not choices:
            warnings.append(f"field {name}: {kind} without choices; skipped")
            return []
        codes = [c for c, _ in choices]
        if all(_INT_RE.match(c) for c in codes):
            numbers = [int(c) for c in codes]
            if numbers == list(range(min(numbers), max(numbers) + 1)):
                return [
                    {
                        **base,
                        "type": "integer",
                        "min": min(numbers),
                        "max": max(numbers),
                        "labels": {int(c): text for c, text in choices},
                    }
                ]
        return [{**base, "type": "choice", "options": codes}]
    if kind == "checkbox":
        choices = parse_choices(row["select_choices_or_calculations"])
        if not choices:
            warnings.append(f"field {name}: checkbox without choices; skipped")
            return []
        return [
            {
                "id": f"{name}___{code}",
                "text": f"{label}: {text}",
                "type": "boolean",
                "required": False,
            }
            for code, text in choices
        ]
    if kind in ("yesno", "truefalse"):
        return [{**base, "type": "boolean"}]
    if kind == "slider":
        low = _int(row["text_validation_min"], 0)
        high = _int(row["text_validation_max"], 100)
        return [{**base, "type": "integer", "min": min(low, high), "max": max(low, high)}]
    if kind == "text" and validation == "integer":
        low = _int(row["text_validation_min"], -INT_LIMIT)
        high = _int(row["text_validation_max"], INT_LIMIT)
        return [{**base, "type": "integer", "min": min(low, high), "max": max(low, high)}]
    if kind == "text" and validation in FORMATS:
        item = {**base, "type": "text", "max_length": 1000, "format": validation}
        for column, key in (
            ("text_validation_min", "format_min"),
            ("text_validation_max", "format_max"),
        ):
            bound = row[column].strip()
            if not bound:
                continue
            if FORMATS[validation].bounded and format_value(validation, bound) is not None:
                item[key] = bound
            else:
                warnings.append(
                    f"field {name}: {column.removeprefix('text_validation_')} {bound!r} is not "
                    f"{FORMATS[validation].describe}; not checked"
                )
        return [item]
    if kind == "text":
        if validation:
            warnings.append(
                f"field {name}: validation type {validation!r} is not checked on entry "
                "(kept for export)"
            )
        return [{**base, "type": "text", "max_length": 1000}]
    if kind == "notes":
        return [{**base, "type": "text", "max_length": NOTES_LENGTH}]
    return []


@dataclass(frozen=True)
class DictionaryImport:
    """The instruments a data dictionary gave, and every warning (forms skipped included)."""

    instruments: tuple[ImportedInstrument, ...]
    warnings: tuple[str, ...]


def import_dictionary(
    data: str | bytes | Iterable[Mapping[str, Any]],
    *,
    form: str | None = None,
    drop_identifiers: bool = False,
) -> DictionaryImport:
    """Import a data dictionary: one instrument per form (or just ``form``), with warnings.

    Fields flagged as identifiers (``Identifier?`` = y: names, addresses, dates of birth...) are
    refused, as patients here carry no names, unless ``drop_identifiers``: then they are left
    out before anything is built, so neither the instrument nor its stored source rows hold them.
    """
    encoding_warning = None
    if isinstance(data, bytes):
        data, encoding_warning = decode_dictionary(data)
    rows = read_dictionary(data)
    record_row = rows[0]
    forms: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        forms.setdefault(row["form_name"].strip(), []).append(row)
    if form is not None:
        if form not in forms:
            raise ValidationError("form", f"no form {form!r}", value=form, allowed=list(forms))
        forms = {form: forms[form]}
    identifiers = [
        row["field_name"]
        for form_rows in forms.values()
        for row in form_rows
        if row is not record_row and row["identifier"].strip().lower() == "y"
    ]
    all_warnings: list[str] = [encoding_warning] if encoding_warning else []
    if identifiers and not drop_identifiers:
        raise ValidationError(
            "dictionary",
            f"fields flagged as identifiers: {', '.join(identifiers)}; patients here carry no "
            "identifying data (pass --drop-identifiers to import without them)",
        )
    if identifiers:
        dropped = set(identifiers)
        forms = {
            name: [r for r in form_rows if r["field_name"] not in dropped]
            for name, form_rows in forms.items()
        }
        all_warnings.append(f"identifier fields dropped (not stored): {', '.join(identifiers)}")
        for form_rows in forms.values():
            for row in form_rows:
                if _refers_to(row["branching_logic"], dropped):
                    all_warnings.append(
                        f"field {row['field_name']}: branching logic names a dropped identifier "
                        "field; always shown"
                    )
                    row["branching_logic"] = ""
        forms = {name: form_rows for name, form_rows in forms.items() if form_rows}
    shipped = set(load_catalog().instruments)
    imported: list[ImportedInstrument] = []
    for form_name, form_rows in forms.items():
        warnings: list[str] = []
        items: list[dict[str, Any]] = []
        branching: dict[str, str] = {}
        for row in form_rows:
            name, kind = row["field_name"], row["field_type"].strip().lower()
            if row is record_row:
                continue
            if kind not in SUPPORTED_TYPES:
                warnings.append(f"field {name}: field type {kind!r} is not supported; skipped")
                continue
            new = _item(row, warnings, catalog_item_ids(form_name))
            seen = {i["id"] for i in items}
            if any(i["id"] in seen for i in new):
                warnings.append(f"field {name}: duplicate field name; skipped")
                continue
            logic = row["branching_logic"].strip()
            if logic and new:
                try:
                    parse_branching(logic)
                except BranchingError as err:
                    warnings.append(
                        f"field {name}: branching logic not understood ({err}); always shown"
                    )
                else:
                    for item in new:
                        branching[item["id"]] = logic
            items.extend(new)
        if not items:
            all_warnings.append(f"form {form_name}: no answerable items; not imported")
            all_warnings.extend(warnings)
            continue
        instrument = build_instrument(
            _instrument_id(form_name, shipped), _title(form_name), items, source="redcap"
        )
        # every form carries the project's record-id row, so that one form alone round-trips
        fields = form_rows if form_rows[0] is record_row else [record_row, *form_rows]
        all_warnings.extend(warnings)
        imported.append(
            ImportedInstrument(
                instrument=instrument,
                source="redcap",
                branching=branching,
                fields=tuple(dict(r) for r in fields),
                warnings=tuple(warnings),
            )
        )
    return DictionaryImport(tuple(imported), tuple(all_warnings))


def _refers_to(logic: str, names: Collection[str]) -> bool:
    """Whether branching logic names one of ``names`` (unparsed logic: by its ``[name]`` text)."""
    try:
        tree = parse_branching(logic)
    except BranchingError:
        return any(f"[{name}]" in logic for name in names)
    return bool(referenced_fields(tree) & set(names))


def _instrument_id(form_name: str, shipped: set[str]) -> str:
    slug = re.sub(r"[^a-z0-9_]+", "_", form_name.lower()).strip("_") or "form"
    return f"redcap_{slug}" if slug in shipped else slug


def _title(form_name: str) -> str:
    return form_name.replace("_", " ").strip().capitalize() or form_name


# ----------------------------------------------------------------------------- export


def _generated_rows(
    instrument: Instrument, names: Mapping[str, str], *, first: bool
) -> list[dict[str, str]]:
    """Data-dictionary rows for an instrument that was not imported from REDCap."""
    rows: list[dict[str, str]] = []
    if first:
        rows.append(
            {
                **dict.fromkeys(KEYS, ""),
                "field_name": "record_id",
                "form_name": instrument.id,
                "field_type": "text",
                "field_label": "Record ID",
            }
        )
    for item in instrument.items:
        row = dict.fromkeys(KEYS, "")
        name = names.get(item.id, item.id)
        check_name(name)
        row.update(
            field_name=name,
            form_name=instrument.id,
            field_label=item.text,
            required_field="y" if item.required else "",
            field_annotation=f"@LOINC={item.loinc}" if item.loinc else "",
        )
        if (
            item.type == "integer"
            and item.labels
            and sorted(item.labels) == list(range(item.min or 0, (item.max or 0) + 1))
        ):
            row.update(
                field_type="radio",
                select_choices_or_calculations=" | ".join(
                    f"{code}, {text}" for code, text in sorted(item.labels.items())
                ),
            )
        elif item.type == "integer":
            row.update(
                field_type="text",
                text_validation_type_or_show_slider_number="integer",
                text_validation_min=str(item.min),
                text_validation_max=str(item.max),
            )
        elif item.type == "boolean":
            row.update(field_type="yesno")
        elif item.type == "choice":
            row.update(
                field_type="radio",
                select_choices_or_calculations=" | ".join(
                    f"{option}, {option}" for option in item.options or ()
                ),
            )
        elif item.format is not None:
            row.update(
                field_type="text",
                text_validation_type_or_show_slider_number=item.format,
                text_validation_min=item.format_min or "",
                text_validation_max=item.format_max or "",
            )
        else:
            row.update(field_type="notes" if (item.max_length or 0) > 1000 else "text")
        rows.append(row)
    return rows


def dictionary_rows(
    instruments: Sequence[ImportedInstrument | Instrument],
) -> list[dict[str, str]]:
    """Data-dictionary rows for a project made of these instruments (record id first).

    Variable names follow :func:`variable_names`, as the records export does.
    """
    forms: dict[str, list[str]] = {}
    verbatim: set[str] = set()
    for entry in instruments:
        if isinstance(entry, ImportedInstrument) and entry.fields:
            # REDCap's own rows: their names are the variables (the first is the record id)
            form = entry.fields[-1]["form_name"]
            forms[form] = [r["field_name"] for r in entry.fields[1:]]
            verbatim.add(form)
        else:
            instrument = entry.instrument if isinstance(entry, ImportedInstrument) else entry
            forms[instrument.id] = [item.id for item in instrument.items]
    names = variable_names(forms, verbatim=verbatim)
    rows: list[dict[str, str]] = []
    for index, entry in enumerate(instruments):
        if isinstance(entry, ImportedInstrument) and entry.fields:
            seen = {r["field_name"] for r in rows}
            rows.extend(dict(r) for r in entry.fields if r["field_name"] not in seen)
        else:
            instrument = entry.instrument if isinstance(entry, ImportedInstrument) else entry
            rows.extend(
                _generated_rows(instrument, names[instrument.id], first=index == 0 and not rows)
            )
    return rows


def dictionary_csv(
    instruments: Sequence[ImportedInstrument | Instrument], *, api_keys: bool = False
) -> str:
    """The data dictionary CSV (18 standard headers, or the API's snake_case keys)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180: a lone CR or LF is quoted
    writer.writerow(KEYS if api_keys else HEADERS)
    for row in dictionary_rows(instruments):
        writer.writerow([spreadsheet_safe(row[key]) for key in KEYS])
    return out.getvalue()
