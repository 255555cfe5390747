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

Export: a REDCap variable is one column per record, so names must be unique across the project.
:func:`variable_names` keeps an item id where it is unique and prefixes it with the instrument
id where it is not (PHQ-9 and GAD-7 both have ``q1``: ``phq9_q1``, ``gad7_q1``); for catalog
instruments the decision is taken over the whole catalog, so every dictionary and records export
names an item the same way. Importing a form named after a catalog instrument maps the prefixed
names back to the catalog item ids, and :func:`read_records` reads a records CSV back into
answers per record, event and form.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from microtrial.domain.branching import BranchingError, parse_branching, referenced_fields
from microtrial.domain.catalog import Instrument, load_catalog
from microtrial.domain.text_formats import FORMATS, format_value
from microtrial.errors import ValidationError
from microtrial.files import spreadsheet_safe, spreadsheet_unescape
from microtrial.interop.imported import ImportedInstrument, build_instrument
from microtrial.interop.records import PatientExport

__all__ = [
    "HEADERS",
    "KEYS",
    "DictionaryImport",
    "RecordsExport",
    "catalog_item_ids",
    "decode_dictionary",
    "dictionary_csv",
    "dictionary_rows",
    "import_dictionary",
    "parse_choices",
    "read_dictionary",
    "read_records",
    "records_csv",
    "records_export",
    "variable_names",
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


# ----------------------------------------------------------------------------- variable names

# REDCap's own columns in a records import; no item may take one of these names.
RESERVED_NAMES = frozenset(
    {
        "record_id",
        "redcap_event_name",
        "redcap_repeat_instrument",
        "redcap_repeat_instance",
        "redcap_data_access_group",
        "redcap_survey_identifier",
    }
)
NAME_LIMIT = 100  # REDCap refuses longer variable names (it recommends at most 26 characters)
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


def _catalog_names(catalog: Mapping[str, Instrument]) -> dict[str, dict[str, str]]:
    """Catalog items' variable names, decided over the whole catalog so every export agrees."""
    counts = Counter(item.id for instrument in catalog.values() for item in instrument.items)
    return {
        form: {
            item.id: f"{form}_{item.id}"
            if counts[item.id] > 1 or item.id in RESERVED_NAMES
            else item.id
            for item in instrument.items
        }
        for form, instrument in catalog.items()
    }


def variable_names(
    forms: Mapping[str, Sequence[str]],
    *,
    verbatim: Collection[str] = (),
    catalog: Mapping[str, Instrument] | None = None,
) -> dict[str, dict[str, str]]:
    """The REDCap variable name of every item of a project: form -> item id -> name.

    A catalog form's names are the same in every export (an item id that two catalog
    instruments share is always ``<instrument>_<item>``: PHQ-9's ``q1`` is ``phq9_q1``). Other
    forms keep their item ids unless another form of the project uses the same name, then
    they are prefixed too; a ``verbatim`` form (REDCap rows kept as imported) is never renamed,
    so a clash there is refused. Names must end up unique: a REDCap variable is one column.
    """
    shipped = dict(load_catalog().instruments if catalog is None else catalog)
    every = _catalog_names(shipped)
    fixed = {form: every[form] for form in forms if form in every}
    fixed = {form: names for form, names in fixed.items() if form not in verbatim}
    raw = Counter(item for form, items in forms.items() if form not in fixed for item in set(items))
    taken = {name for names in fixed.values() for name in names.values()}
    names: dict[str, dict[str, str]] = {}
    for form, items in forms.items():
        if form in fixed:
            names[form] = {item: fixed[form].get(item, f"{form}_{item}") for item in items}
            continue
        names[form] = {}
        for item in dict.fromkeys(items):
            if form in verbatim:
                # the source project's own names: unique there, refused if another form has one
                if raw[item] > 1 or item in taken:
                    raise ValidationError(
                        "instruments",
                        f"field {item!r} of form {form!r} is also a field of another form; "
                        "export them as separate REDCap projects",
                        value=item,
                    )
                names[form][item] = item
                continue
            clash = raw[item] > 1 or item in taken or item in RESERVED_NAMES
            names[form][item] = f"{form}_{item}" if clash else item
    completes = {f"{form}_complete" for form in forms}
    owners: dict[str, str] = {}
    for form, mapping in names.items():
        for name in mapping.values():
            if name in owners or (form not in verbatim and name in completes):
                raise ValidationError(
                    "instruments",
                    f"variable {name!r} would be two REDCap columns "
                    f"(forms {owners.get(name, form)!r} and {form!r})",
                    value=name,
                )
            owners[name] = form
    return names


def _check_name(name: str) -> None:
    if not _NAME_RE.match(name) or len(name) > NAME_LIMIT:
        raise ValidationError(
            "field_name",
            f"{name!r} is not a REDCap variable name",
            value=name,
            allowed=f"lowercase letters, digits and _, starting with a letter, <= {NAME_LIMIT}",
        )


def catalog_item_ids(form: str, catalog: Mapping[str, Instrument] | None = None) -> dict[str, str]:
    """For a form named after a catalog instrument: exported variable name -> catalog item id."""
    shipped = dict(load_catalog().instruments if catalog is None else catalog)
    if form not in shipped:
        return {}
    return {name: item for item, name in _catalog_names(shipped)[form].items()}


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
        _check_name(name)
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


def _value(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _event_label(day: int) -> str:
    """The event's name; REDCap derives ``day_1_arm_1`` from "Day 1" (``m``: before day 1)."""
    return f"Day {day}" if day >= 0 else f"Day m{-day}"


def _event_name(day: int) -> str:
    return f"day_{day}_arm_1" if day >= 0 else f"day_m{-day}_arm_1"


@dataclass(frozen=True)
class RecordsExport:
    """A longitudinal REDCap import: records, their events, and which form each event holds."""

    records: str
    events: str
    mapping: str


def records_export(
    patients: Sequence[PatientExport],
    *,
    instruments: Sequence[str] | None = None,
    catalog_instruments: Mapping[str, Instrument] | None = None,
) -> RecordsExport:
    """Diary entries as REDCap import CSVs: records, events and the instrument-event mapping.

    Records: one row per record (patient) and event (study day): ``record_id``,
    ``redcap_event_name``, then every item of the instruments seen under its variable name
    (:func:`variable_names`, as in the dictionary export; checkbox choices are
    ``field___code``, booleans 1/0) and ``<form>_complete`` (2). Events (arm 1): one per study
    day with data, ``event_name,arm_num,unique_event_name,custom_event_label``. Mapping
    (``arm_num,unique_event_name,form``): every exported form on every event, as any
    instrument may be filled on any day.
    """
    known = dict(load_catalog().instruments if catalog_instruments is None else catalog_instruments)
    entries = [
        (patient, entry)
        for patient in patients
        for entry in patient.diary
        if instruments is None or entry.instrument_id in instruments
    ]
    # every form's items: the instrument's, then any other answer stored (none is dropped)
    forms: dict[str, list[str]] = {}
    for _, entry in entries:
        form = known.get(entry.instrument_id)
        items = forms.setdefault(
            entry.instrument_id, [i.id for i in form.items] if form is not None else []
        )
        items.extend(sorted(k for k in entry.answers if k not in items))
    names = variable_names(forms, catalog=known)
    by_key: dict[tuple[str, int], dict[str, str]] = {}
    for patient, entry in entries:
        record = f"{patient.site_code}-{patient.study_code}"
        days = (entry.local_date - patient.reference_date).days
        day = days + 1 if days >= 0 else days
        row = by_key.setdefault(
            (record, day), {"record_id": record, "redcap_event_name": _event_name(day)}
        )
        for key, value in entry.answers.items():
            row[names[entry.instrument_id][key]] = _value(value)
        row[f"{entry.instrument_id}_complete"] = "2"
    columns = ["record_id", "redcap_event_name"]
    for form_id, items in forms.items():
        columns.extend(names[form_id][item] for item in items)
        columns.append(f"{form_id}_complete")
    out = io.StringIO()
    safe = {c: spreadsheet_safe(c) for c in columns}  # an imported field name may be a formula
    writer = csv.DictWriter(out, fieldnames=list(safe.values()), lineterminator="\n", restval="")
    writer.writeheader()
    for row_key in sorted(by_key):
        writer.writerow({safe[c]: spreadsheet_safe(v) for c, v in by_key[row_key].items()})
    study_days = sorted({day for _, day in by_key})
    events = io.StringIO()
    table = csv.writer(events, lineterminator="\n")
    table.writerow(["event_name", "arm_num", "unique_event_name", "custom_event_label"])
    table.writerows([_event_label(day), 1, _event_name(day), ""] for day in study_days)
    mapping = io.StringIO()
    table = csv.writer(mapping, lineterminator="\n")
    table.writerow(["arm_num", "unique_event_name", "form"])
    table.writerows([1, _event_name(day), form] for day in study_days for form in forms)
    return RecordsExport(out.getvalue(), events.getvalue(), mapping.getvalue())


def records_csv(
    patients: Sequence[PatientExport],
    *,
    instruments: Sequence[str] | None = None,
    catalog_instruments: Mapping[str, Instrument] | None = None,
) -> str:
    """Diary entries as a REDCap records import CSV (see :func:`records_export`)."""
    return records_export(
        patients, instruments=instruments, catalog_instruments=catalog_instruments
    ).records


# ----------------------------------------------------------------------------- records import


def _form_of(imported: ImportedInstrument) -> str:
    """The REDCap form an imported instrument came from (its id when it has no source rows)."""
    rows = imported.fields[1:] or imported.fields
    return rows[-1]["form_name"].strip() if rows else imported.instrument.id


def _typed(item_type: str, cell: str) -> Any:
    if item_type == "integer":
        return int(cell)
    if item_type == "boolean":
        return cell == "1"
    return cell


def read_records(
    data: str | bytes, instruments: Sequence[ImportedInstrument]
) -> dict[tuple[str, str, str], dict[str, Any]]:
    """A records CSV read back: (record, event, form) -> item id -> value, typed by the items.

    ``instruments`` come from importing the project's data dictionary; a form counts on a row
    when its ``<form>_complete`` cell is filled, and an empty cell is an unanswered item.
    """
    if isinstance(data, bytes):
        data = data.decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(data.removeprefix("\ufeff"), newline="")))
    columns = {spreadsheet_unescape(c) for c in (rows[0] if rows else {})}
    forms: dict[str, tuple[Instrument, dict[str, str]]] = {}
    for imported in instruments:
        form = _form_of(imported)
        back = catalog_item_ids(form)
        names = {item: name for name, item in back.items()}
        forms[form] = (
            imported.instrument,
            {i.id: names.get(i.id, i.id) for i in imported.instrument.items},
        )
    missing = [f"{form}_complete" for form in forms if f"{form}_complete" not in columns and rows]
    if missing:
        raise ValidationError("records", "columns missing", allowed=missing)
    result: dict[tuple[str, str, str], dict[str, Any]] = {}
    for number, raw in enumerate(rows, start=2):
        row = {spreadsheet_unescape(k): spreadsheet_unescape(v or "") for k, v in raw.items()}
        for form, (instrument, columns_of) in forms.items():
            if not row.get(f"{form}_complete"):
                continue
            answers: dict[str, Any] = {}
            for item in instrument.items:
                cell = row.get(columns_of[item.id], "")
                if cell == "":
                    continue
                try:
                    answers[item.id] = _typed(item.type, cell)
                except ValueError as err:
                    raise ValidationError(
                        "records", f"row {number}: {columns_of[item.id]}: not a {item.type}"
                    ) from err
            result[(row.get("record_id", ""), row.get("redcap_event_name", ""), form)] = answers
    return result
