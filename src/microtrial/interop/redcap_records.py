"""Diary records as a longitudinal REDCap import (records, events, mapping), and read back.

Records are one row per record (patient) and event (study day); every item is a column under
its variable name (``interop.redcap_names``), as in the data dictionary export.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from microtrial.domain.catalog import Instrument, load_catalog
from microtrial.errors import ValidationError
from microtrial.files import spreadsheet_safe, spreadsheet_unescape
from microtrial.interop.imported import ImportedInstrument
from microtrial.interop.records import PatientExport
from microtrial.interop.redcap_names import catalog_item_ids, variable_names

__all__ = ["RecordsExport", "read_records", "records_csv", "records_export"]


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
