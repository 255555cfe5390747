"""REDCap data dictionaries in and out, and diary records as a REDCap import CSV.

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
text (other), notes       text (the validation type is kept for export)
calc, descriptive         no item (REDCap computes / displays them); kept for export
file, sql, other          skipped with a warning naming the field
========================  ===============================================================

The first field of a project is its record id and is not an item. Branching logic is parsed
(``domain.branching``); logic the parser does not understand is a warning and the item is
always shown. The source rows are kept, so export -> import gives back the identical instrument.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from microtrial.domain.branching import BranchingError, parse_branching
from microtrial.domain.catalog import Instrument, load_catalog
from microtrial.errors import ValidationError
from microtrial.files import spreadsheet_safe, spreadsheet_unescape
from microtrial.interop.imported import ImportedInstrument, build_instrument
from microtrial.interop.records import PatientExport

__all__ = [
    "HEADERS",
    "KEYS",
    "DictionaryImport",
    "dictionary_csv",
    "dictionary_rows",
    "import_dictionary",
    "parse_choices",
    "read_dictionary",
    "records_csv",
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
        data = data.decode("utf-8-sig")
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


def _item(row: Mapping[str, str], warnings: list[str]) -> list[dict[str, Any]]:
    name, kind = row["field_name"], row["field_type"].strip().lower()
    label = row["field_label"].strip() or name
    required = row["required_field"].strip().lower() == "y"
    base: dict[str, Any] = {"id": name, "text": label, "required": required}
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
    if kind == "text":
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
    data: str | bytes | Iterable[Mapping[str, Any]], *, form: str | None = None
) -> DictionaryImport:
    """Import a data dictionary: one instrument per form (or just ``form``), with warnings."""
    rows = read_dictionary(data)
    record_row = rows[0]
    forms: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        forms.setdefault(row["form_name"].strip(), []).append(row)
    if form is not None:
        if form not in forms:
            raise ValidationError("form", f"no form {form!r}", value=form, allowed=list(forms))
        forms = {form: forms[form]}
    shipped = set(load_catalog().instruments)
    imported: list[ImportedInstrument] = []
    all_warnings: list[str] = []
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
            new = _item(row, warnings)
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


def _instrument_id(form_name: str, shipped: set[str]) -> str:
    slug = re.sub(r"[^a-z0-9_]+", "_", form_name.lower()).strip("_") or "form"
    return f"redcap_{slug}" if slug in shipped else slug


def _title(form_name: str) -> str:
    return form_name.replace("_", " ").strip().capitalize() or form_name


# ----------------------------------------------------------------------------- export


def _generated_rows(instrument: Instrument, *, first: bool) -> list[dict[str, str]]:
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
        row.update(
            field_name=item.id,
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
        else:
            row.update(field_type="notes" if (item.max_length or 0) > 1000 else "text")
        rows.append(row)
    return rows


def dictionary_rows(
    instruments: Sequence[ImportedInstrument | Instrument],
) -> list[dict[str, str]]:
    """Data-dictionary rows for a project made of these instruments (record id first)."""
    rows: list[dict[str, str]] = []
    for index, entry in enumerate(instruments):
        if isinstance(entry, ImportedInstrument) and entry.fields:
            names = {r["field_name"] for r in rows}
            rows.extend(dict(r) for r in entry.fields if r["field_name"] not in names)
        else:
            instrument = entry.instrument if isinstance(entry, ImportedInstrument) else entry
            rows.extend(_generated_rows(instrument, first=index == 0 and not rows))
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


def _value(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _event_name(day: int) -> str:
    return f"day_{day}_arm_1" if day >= 0 else f"day_m{-day}_arm_1"


def records_csv(
    patients: Sequence[PatientExport],
    *,
    instruments: Sequence[str] | None = None,
    catalog_instruments: Mapping[str, Instrument] | None = None,
) -> str:
    """Diary entries as a REDCap import CSV: one row per record (patient) and event (day).

    Columns: ``record_id``, ``redcap_event_name``, then every item of the instruments seen
    (checkbox choices are ``field___code``, booleans 1/0) and ``<form>_complete`` (2).
    """
    known = dict(catalog_instruments or load_catalog().instruments)
    by_key: dict[tuple[str, str], dict[str, str]] = {}
    forms: list[str] = []
    for patient in patients:
        record = f"{patient.site_code}-{patient.study_code}"
        reference = patient.reference_date
        for entry in patient.diary:
            if instruments is not None and entry.instrument_id not in instruments:
                continue
            if entry.instrument_id not in forms:
                forms.append(entry.instrument_id)
            days = (entry.local_date - reference).days
            day = days + 1 if days >= 0 else days
            row = by_key.setdefault(
                (record, _event_name(day)),
                {"record_id": record, "redcap_event_name": _event_name(day)},
            )
            for key, value in entry.answers.items():
                row[key] = _value(value)
            row[f"{entry.instrument_id}_complete"] = "2"
    columns = ["record_id", "redcap_event_name"]
    for form in forms:
        instrument = known.get(form)
        names = [i.id for i in instrument.items] if instrument else []
        extra = sorted(
            {k for row in by_key.values() for k in row if k not in columns and k not in names}
            - {f"{f}_complete" for f in forms}
        )
        for name in [*names, *(extra if instrument is None else [])]:
            if name not in columns:
                columns.append(name)
        columns.append(f"{form}_complete")
    out = io.StringIO()
    safe = {c: spreadsheet_safe(c) for c in columns}  # an imported field name may be a formula
    writer = csv.DictWriter(out, fieldnames=list(safe.values()), lineterminator="\n", restval="")
    writer.writeheader()
    for row_key in sorted(by_key, key=lambda k: (k[0], _sort_day(k[1]))):
        writer.writerow(
            {safe[c]: spreadsheet_safe(v) for c, v in by_key[row_key].items() if c in safe}
        )
    return out.getvalue()


def _sort_day(event: str) -> int:
    number = event.removeprefix("day_").removesuffix("_arm_1")
    return -int(number[1:]) if number.startswith("m") else int(number)
