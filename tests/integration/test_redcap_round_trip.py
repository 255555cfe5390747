"""REDCap export survives a round trip: every catalog instrument recorded on one day, exported
as a data dictionary (CLI) and records (service), re-imported with every answer equal
(tracker issue 18: PHQ-9 and GAD-7 both have items q1..q7)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from helpers import Clinic, FixedClock, run_cli
from microtrial.domain.catalog import Instrument, load_catalog
from microtrial.interop.redcap import import_dictionary, read_dictionary
from microtrial.interop.redcap_records import read_records
from microtrial.services import exports, records
from microtrial.services.records import DiaryInput


def answers_for(instrument: Instrument, offset: int) -> dict[str, Any]:
    """Every item answered, values varied by item position so a swapped column shows."""
    answers: dict[str, Any] = {}
    for index, item in enumerate(instrument.items):
        if item.type == "integer":
            low, high = item.min or 0, item.max if item.max is not None else 10
            answers[item.id] = low + (index + offset) % (high - low + 1)
        elif item.type == "boolean":
            answers[item.id] = (index + offset) % 2 == 0
        elif item.type == "choice":
            options = item.options or ()
            answers[item.id] = options[(index + offset) % len(options)]
        else:
            answers[item.id] = f"note, with a comma ({instrument.id})"
    return answers


def test_every_catalog_instrument_round_trips_through_redcap(
    clinic: Clinic, clock: FixedClock, tmp_path: Path
) -> None:
    catalog = load_catalog().instruments
    patient, doc = clinic.actors["p_A-001"], clinic.actors["clinician_sitea"]
    pid = clinic.patients["A-001"].id
    day = clock().date()
    stored: dict[str, dict[str, Any]] = {}
    for offset, (instrument_id, instrument) in enumerate(sorted(catalog.items())):
        answers = answers_for(instrument, offset)
        entry = DiaryInput(day, answers, instrument_id=instrument_id)
        actor = doc if instrument_id == "clinic_bp" else patient  # measured at the clinic
        saved = records.record_diary_entry(clinic.db, actor, pid, entry, clock=clock)
        stored[instrument_id] = {k: v for k, v in saved.answers.items() if v is not None}
    assert {"phq9", "gad7"} <= stored.keys()
    # every item is answered (none hidden by branching), so every item travels
    assert {i: len(a) for i, a in stored.items()} == {i: len(c.items) for i, c in catalog.items()}

    dictionary = tmp_path / "dictionary.csv"
    chosen = [arg for name in sorted(catalog) for arg in ("--instrument", name)]
    code, out, err = run_cli("export", "redcap-dictionary", *chosen, "--out", str(dictionary))
    assert code == 0, out + err
    project = exports.export_redcap_project(
        clinic.db, doc, exports.ExportScope(patient_code="A-001"), clock=clock
    )
    text = project.records

    # one variable, one column: no name twice in the dictionary or the records header
    names = [row["field_name"] for row in read_dictionary(dictionary.read_bytes())]
    assert len(names) == len(set(names))
    header = next(csv.reader(io.StringIO(text)))
    assert len(header) == len(set(header))
    assert {"phq9_q1", "gad7_q1", "phq2_q1", "average_pain"} <= set(header)
    assert set(header) - {"redcap_event_name"} - {f"{i}_complete" for i in catalog} == set(names)

    imported = import_dictionary(dictionary.read_bytes())
    assert imported.warnings == ()
    back = read_records(text, imported.instruments)
    record = f"{clinic.patients['A-001'].site_code}-A-001"
    assert {form for (rec, _, form) in back if rec == record} == set(catalog)
    for instrument_id, answers in stored.items():
        (event,) = {e for (rec, e, form) in back if form == instrument_id}
        assert back[(record, event, instrument_id)] == answers, instrument_id
    # longitudinal: every row's event is defined (arm 1) and designated for the forms it holds
    events = list(csv.DictReader(io.StringIO(project.events)))
    mapping = {
        (m["unique_event_name"], m["form"]) for m in csv.DictReader(io.StringIO(project.mapping))
    }
    assert [(e["event_name"], e["arm_num"], e["unique_event_name"]) for e in events] == [
        ("Day 1", "1", "day_1_arm_1")
    ]
    assert {(event, form) for (_, event, form) in back} <= mapping
    # the re-imported forms carry the catalog's item ids again, not the prefixed names
    by_form = {i.instrument.id: i.instrument for i in imported.instruments}
    assert [i.id for i in by_form["redcap_gad7"].items] == [i.id for i in catalog["gad7"].items]
