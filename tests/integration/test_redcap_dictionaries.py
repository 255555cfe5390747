"""Shared REDCap dictionaries (REDCapR test data, MIT; see ../shared/datasets/redcap/SOURCE.md)
imported, answered through the diary service, exported (dictionary + records) and read back
with every value equal; validation types and bounds refuse bad answers; identifier fields are
refused or dropped, never stored (tracker issue 18)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from helpers import Clinic, FixedClock, formatted_answer, run_cli
from microtrial.domain.branching import visible_items
from microtrial.domain.catalog import Instrument
from microtrial.errors import ValidationError
from microtrial.interop.imported import ImportedInstrument, load_user_instrument
from microtrial.interop.redcap import dictionary_csv, import_dictionary
from microtrial.interop.redcap_records import read_records
from microtrial.services import exports, records
from microtrial.services.records import DiaryInput
from microtrial.settings import Settings
from microtrial.store.db import Database

DATASETS = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "redcap"
DICTIONARIES = sorted(p.name for p in DATASETS.glob("*.csv"))


def answers_for(imported: ImportedInstrument) -> dict[str, Any]:
    """A valid answer for every item the form shows, varied by position."""
    instrument: Instrument = imported.instrument
    answers: dict[str, Any] = {}
    for index, item in enumerate(instrument.items):
        if item.type == "integer":
            low, high = item.min or 0, item.max if item.max is not None else 10
            answers[item.id] = low + index % (min(high, low + 50) - low + 1)
        elif item.type == "boolean":
            answers[item.id] = index % 2 == 0
        elif item.type == "choice":
            options = item.options or ()
            answers[item.id] = options[index % len(options)]
        elif item.format is not None:
            answers[item.id] = formatted_answer(item)
        else:
            answers[item.id] = f"note, with a comma ({item.id})"
    shown = visible_items(imported, answers)
    return {k: v for k, v in answers.items() if k in shown}


def identifiers_of(name: str) -> set[str]:
    """The fields a shared dictionary flags as identifiers."""
    import csv

    with (DATASETS / name).open(encoding="utf-8-sig", newline="") as handle:
        return {r["Variable / Field Name"] for r in csv.DictReader(handle) if r["Identifier?"]}


@pytest.mark.parametrize("name", DICTIONARIES)
def test_shared_dictionary_imported_answered_exported_equal(
    name: str, clinic: Clinic, clock: FixedClock, tmp_path: Path, database_url: str
) -> None:
    folder = tmp_path / "instruments"
    identifiers = identifiers_of(name)
    flags = ["--drop-identifiers"] if identifiers else []
    code, out, err = run_cli("import", "redcap", str(DATASETS / name), "--dir", str(folder), *flags)
    assert code == 0, out + err
    saved = {p.stem: load_user_instrument(p) for p in sorted(folder.glob("*.yaml"))}
    assert saved
    for imported in saved.values():  # never stored: no item, no source row
        assert not identifiers & {i.id for i in imported.instrument.items}
        assert not identifiers & {r["field_name"] for r in imported.fields}

    db = Database.from_settings(Settings(database_url=database_url, instrument_dir=str(folder)))
    try:
        patient, doc = clinic.actors["p_A-001"], clinic.actors["clinician_sitea"]
        pid = clinic.patients["A-001"].id
        day = clock().date()
        stored: dict[str, dict[str, Any]] = {}
        for instrument_id, imported in saved.items():
            entry = DiaryInput(day, answers_for(imported), instrument_id=instrument_id)
            kept = records.record_diary_entry(db, patient, pid, entry, clock=clock)
            stored[instrument_id] = {k: v for k, v in kept.answers.items() if v is not None}
        project = exports.export_redcap_project(
            db, doc, exports.ExportScope(patient_code="A-001"), instruments=list(saved), clock=clock
        )
    finally:
        db.dispose()

    dictionary = dictionary_csv(list(saved.values()))
    assert not any(f"\r\n{field}," in dictionary for field in identifiers)
    back = import_dictionary(dictionary.encode("utf-8"))
    assert sorted(i.instrument.id for i in back.instruments) == sorted(saved)
    for again in back.instruments:  # validation types and bounds travel: the same instrument
        assert again.same_as(saved[again.instrument.id]), again.instrument.id
    values = read_records(project.records, back.instruments)
    record = f"{clinic.patients['A-001'].site_code}-A-001"
    for instrument_id, answers in stored.items():
        form = saved[instrument_id].fields[-1]["form_name"]
        ((_, got),) = [(k, v) for k, v in values.items() if k[0] == record and k[2] == form]
        assert got == answers, instrument_id


def test_validation_types_and_bounds_refuse_bad_answers(
    clinic: Clinic, clock: FixedClock, tmp_path: Path, database_url: str
) -> None:
    header = (DATASETS / "clinical-trial-1.csv").read_text(encoding="utf-8-sig").splitlines()[0]
    dictionary = "\n".join(
        [
            header,
            "record_id,visit,,text,Record ID,,,,,,,,,,,,,",
            "age,visit,,text,Age,,,number,18,99,,,y,,,,,",
            "seen_on,visit,,text,Date seen,,,date_dmy,2020-01-01,2030-12-31,,,y,,,,,",
            "count,visit,,text,Pills left,,,integer,0,60,,,y,,,,,",
        ]
    )
    imported = import_dictionary(dictionary).instruments[0]
    item = imported.instrument.item("age")
    assert (item.format, item.format_min, item.format_max) == ("number", "18", "99")
    # the types and bounds are written back on export, in the same columns
    assert "age,visit,,text,Age,,,number,18,99," in dictionary_csv([imported])
    # a REDCap date is a FHIR date, answered as valueDate
    from microtrial.interop.questionnaire_export import (
        questionnaire_from_instrument,
        response_items,
    )

    kinds = {i["linkId"]: i["type"] for i in questionnaire_from_instrument(imported)["item"]}
    assert kinds == {"age": "text", "seen_on": "date", "count": "integer"}
    answered = response_items(imported.instrument, {"seen_on": "2026-02-27"})
    assert answered[0]["answer"] == [{"valueDate": "2026-02-27"}]
    from microtrial.interop.imported import save_user_instrument

    save_user_instrument(imported, tmp_path)
    db = Database.from_settings(Settings(database_url=database_url, instrument_dir=str(tmp_path)))
    good = {"age": "42", "seen_on": "2026-02-27", "count": 3}
    try:
        me, pid = clinic.actors["p_A-001"], clinic.patients["A-001"].id
        day = clock().date()
        bad = [
            ({"age": "banana"}, r"visit\.age.*'banana' is not a number.*18 to 99"),
            ({"age": "150"}, r"visit\.age.*out of range.*18 to 99"),
            ({"seen_on": "2026-02-30"}, r"visit\.seen_on.*not a date YYYY-MM-DD"),
            ({"seen_on": "2019-12-31"}, r"visit\.seen_on.*out of range.*2020-01-01 to 2030-12-31"),
            ({"count": 150}, r"visit\.count.*out of range.*0.60"),
            ({"age": 42.5}, r"visit\.age.*expected text"),  # stored as sent: text only
            ({"age": " 42"}, r"visit\.age.*not a number"),
        ]
        for change, message in bad:
            with pytest.raises(ValidationError, match=message):
                records.record_diary_entry(
                    db,
                    me,
                    pid,
                    DiaryInput(day, {**good, **change}, instrument_id="visit"),
                    clock=clock,
                )
        kept = records.record_diary_entry(
            db, me, pid, DiaryInput(day, {**good, "age": "99"}, instrument_id="visit"), clock=clock
        )
        assert kept.answers == {**good, "age": "99"}  # the bounds are inclusive
    finally:
        db.dispose()


def test_identifier_fields_refused_in_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "instruments"
    code, _, err = run_cli(
        "import", "redcap", str(DATASETS / "clinical-trial-1.csv"), "--dir", str(folder)
    )
    assert code != 0
    assert err.strip().count("\n") == 0, err
    assert "name_last, name_first, address, phone, dob" in err
    assert "--drop-identifiers" in err
    assert not folder.exists() or not any(folder.iterdir())


def test_cp1252_dictionary_reads_with_a_warning(tmp_path: Path) -> None:
    header = (DATASETS / "clinical-trial-1.csv").read_text(encoding="utf-8-sig").splitlines()[0]
    text = "\r\n".join(
        [
            header,
            "record_id,douleur,,text,Numéro,,,,,,,,,,,,,",
            "intensite,douleur,,radio,Intensité de la douleur,"
            '"0, Aucune | 1, Légère | 2, Sévère",,,,,,,y,,,,,',
        ]
    )
    path = tmp_path / "cp1252.csv"
    path.write_bytes(text.encode("cp1252"))
    folder = tmp_path / "instruments"
    code, out, err = run_cli("import", "redcap", str(path), "--dir", str(folder))
    assert code == 0, out + err
    assert "Windows-1252" in out + err
    item = load_user_instrument(folder / "douleur.yaml").instrument.item("intensite")
    assert item.text == "Intensité de la douleur"
    assert item.labels == {0: "Aucune", 1: "Légère", 2: "Sévère"}
    # bytes neither UTF-8 nor Windows-1252 (0x81 is undefined there): one line, no traceback
    path.write_bytes(text.encode("cp1252") + b"\x81")
    code, out, err = run_cli("import", "redcap", str(path), "--dir", str(folder), "--replace")
    assert code != 0
    assert "Traceback" not in out + err
    assert "neither UTF-8 nor Windows-1252" in err
    assert err.strip().count("\n") == 0


def test_dropped_identifier_logic_is_shown_always() -> None:
    header = (DATASETS / "clinical-trial-1.csv").read_text(encoding="utf-8-sig").splitlines()[0]
    dictionary = "\n".join(
        [
            header,
            "record_id,f,,text,Record ID,,,,,,,,,,,,,",
            "dob,f,,text,Born,,,date_ymd,,,y,,,,,,,",
            "age_ok,f,,yesno,Adult?,,,,,,,\"[dob] <> ''\",,,,,,",
        ]
    )
    result = import_dictionary(dictionary, drop_identifiers=True)
    (imported,) = result.instruments
    assert [i.id for i in imported.instrument.items] == ["age_ok"]
    assert imported.branching == {}
    assert all(r["field_name"] != "dob" for r in imported.fields)
    assert any("branching logic names a dropped identifier" in w for w in result.warnings)
