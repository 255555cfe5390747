"""Diary records as a REDCap import CSV: one row per record and event, checkbox columns."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

from microtrial.interop.records import DiaryData, PatientExport
from microtrial.interop.redcap import import_dictionary, records_csv

DATASETS = Path(__file__).resolve().parents[3].parent / "shared" / "datasets" / "redcap"
DAY = dt.date(2026, 3, 2)


def entry(n: int, instrument: str, day: dt.date, answers: dict[str, object]) -> DiaryData:
    return DiaryData(
        f"r{n}", instrument, day, answers, {}, dt.datetime(2026, 3, 2, tzinfo=dt.UTC), None
    )


def test_records_have_checkbox_columns_and_one_row_per_event() -> None:
    (form,) = import_dictionary((DATASETS / "checkboxes-1.csv").read_bytes()).instruments
    patient = PatientExport(
        id=1,
        site_code="S1",
        study_code="P-1",
        birth_year=1970,
        sex="female",
        time_zone="UTC",
        enrolled_on=DAY,
        diary=(
            entry(
                1,
                "form_2",
                DAY,
                {
                    "check_one___1": True,
                    "check_one___3": False,
                    "check_two___b": True,
                    "desired_result": "x",
                },
            ),
            entry(2, "daily_diary", DAY, {"average_pain": 5}),
            entry(3, "daily_diary", DAY - dt.timedelta(days=1), {"average_pain": 4}),
        ),
    )
    text = records_csv([patient], catalog_instruments={"form_2": form.instrument})
    rows = list(csv.DictReader(io.StringIO(text)))
    header = text.splitlines()[0].split(",")
    assert header[:2] == ["record_id", "redcap_event_name"]
    assert [f"check_one___{c}" for c in "1234"] == header[2:6]
    assert [(r["redcap_event_name"], r["average_pain"]) for r in rows] == [
        ("day_1_arm_1", "4"),
        ("day_2_arm_1", "5"),
    ]
    second = rows[1]
    assert (second["check_one___1"], second["check_one___3"], second["check_two___b"]) == (
        "1",
        "0",
        "1",
    )
    assert second["form_2_complete"] == "2"
    assert rows[0]["form_2_complete"] == ""
    assert {r["record_id"] for r in rows} == {"S1-P-1"}
