"""Diary records as a REDCap import CSV: one row per record and event, checkbox columns."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from pathlib import Path

import pytest

from microtrial.errors import ValidationError
from microtrial.interop.records import DiaryData, PatientExport, TrialData
from microtrial.interop.redcap import import_dictionary
from microtrial.interop.redcap_names import variable_names
from microtrial.interop.redcap_records import records_csv, records_export

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


def test_variable_names_prefix_colliding_ids_and_stay_the_same_in_every_export() -> None:
    both = variable_names({"phq9": ["q1", "difficulty"], "gad7": ["q1"]})
    assert both == {
        "phq9": {"q1": "phq9_q1", "difficulty": "difficulty"},
        "gad7": {"q1": "gad7_q1"},
    }
    # a catalog id shared anywhere in the catalog is prefixed even when exported alone, so a
    # dictionary of PHQ-9 only and records of PHQ-9 + GAD-7 name the same column the same way
    assert variable_names({"phq9": ["q1"]}) == {"phq9": {"q1": "phq9_q1"}}
    assert variable_names({"daily_diary": ["average_pain"]}) == {
        "daily_diary": {"average_pain": "average_pain"}
    }
    # a user form yields to a catalog name and to another user form
    user = variable_names(
        {
            "daily_diary": ["average_pain"],
            "mine": ["average_pain", "x"],
            "other": ["x", "record_id"],
        }
    )
    assert user["mine"] == {"average_pain": "mine_average_pain", "x": "mine_x"}
    assert user["other"] == {"x": "other_x", "record_id": "other_record_id"}
    # REDCap rows kept as imported are never renamed: a clash there is refused, not lost
    with pytest.raises(ValidationError, match="separate REDCap projects"):
        variable_names({"mine": ["x"], "other": ["x"]}, verbatim={"other"})
    with pytest.raises(ValidationError, match="two REDCap columns"):
        variable_names({"m": ["a_b_q"], "a_b": ["q"], "x": ["q"]})


def test_two_questionnaires_with_q1_on_one_day_keep_both_answers() -> None:
    phq9 = {f"q{n}": n % 4 for n in range(1, 10)} | {"difficulty": 2}
    gad7 = {f"q{n}": (n + 1) % 4 for n in range(1, 8)}
    patient = PatientExport(
        id=1,
        site_code="S1",
        study_code="P-1",
        birth_year=1970,
        sex="female",
        time_zone="UTC",
        enrolled_on=DAY,
        diary=(entry(1, "phq9", DAY, phq9), entry(2, "gad7", DAY, gad7)),
    )
    (row,) = csv.DictReader(io.StringIO(records_csv([patient])))
    # q1..q7 are shared with GAD-7 (and PHQ-2); q8, q9 and difficulty are PHQ-9's alone
    shared = {f"q{n}" for n in range(1, 8)}
    assert {k: int(row[f"phq9_{k}" if k in shared else k]) for k in phq9} == phq9
    assert {k: int(row[f"gad7_{k}"]) for k in gad7} == gad7
    assert "q1" not in row


def redcap_unique_event_name(event_name: str, arm: int) -> str:
    """REDCap's derivation: lowercase, spaces to _, other characters dropped, 18 characters."""
    slug = re.sub(r"[^a-z0-9_]", "", event_name.lower().replace(" ", "_"))
    return f"{slug[:18]}_arm_{arm}"


def test_events_and_mapping_name_what_the_records_use_run_in_days_included() -> None:
    trial = TrialData(
        id=1,
        status="running",
        start_date=DAY,
        substance="psilocybin",
        regimen_template="fadiman",
        regimen_text="",
        run_in_days=0,
        period_days=7,
        wash_in_days=0,
        periods=(),
        unblinded=False,
        unblinded_early=False,
        created_at=dt.datetime(2026, 3, 1, tzinfo=dt.UTC),
    )
    patient = PatientExport(
        id=1,
        site_code="S1",
        study_code="P-1",
        birth_year=1970,
        sex="female",
        time_zone="UTC",
        enrolled_on=DAY,
        trials=(trial,),
        diary=(
            entry(1, "daily_diary", DAY - dt.timedelta(days=2), {"average_pain": 4}),
            entry(2, "daily_diary", DAY, {"average_pain": 5}),
            entry(3, "peg3", DAY + dt.timedelta(days=9), {"p": 1, "e": 2, "g": 3}),
        ),
    )
    export = records_export([patient])
    rows = list(csv.DictReader(io.StringIO(export.records)))
    events = list(csv.DictReader(io.StringIO(export.events)))
    assert [e["event_name"] for e in events] == ["Day m2", "Day 1", "Day 10"]
    for event in events:
        assert event["unique_event_name"] == redcap_unique_event_name(event["event_name"], 1)
    assert [r["redcap_event_name"] for r in rows] == [e["unique_event_name"] for e in events]
    mapping = list(csv.DictReader(io.StringIO(export.mapping)))
    assert len(mapping) == 3 * 2  # both forms on every event
    for row in rows:
        for form in ("daily_diary", "peg3"):
            if row[f"{form}_complete"]:
                event = row["redcap_event_name"]
                assert {"arm_num": "1", "unique_event_name": event, "form": form} in mapping
