"""An instrument imported from a REDCap dictionary is usable in diaries, branching honoured."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from helpers import Clinic, FixedClock
from microtrial.errors import ValidationError
from microtrial.interop.imported import save_user_instrument
from microtrial.interop.questionnaire import import_questionnaire
from microtrial.interop.redcap import import_dictionary
from microtrial.services import exports, records
from microtrial.services.records import DiaryInput
from microtrial.settings import Settings
from microtrial.store.db import Database

DICTIONARY = (
    '"Variable / Field Name","Form Name","Section Header","Field Type","Field Label",'
    '"Choices, Calculations, OR Slider Labels","Field Note",'
    '"Text Validation Type OR Show Slider Number","Text Validation Min","Text Validation Max",'
    '"Identifier?","Branching Logic (Show field only if...)","Required Field?",'
    '"Custom Alignment","Question Number (surveys only)","Matrix Group Name","Matrix Ranking?",'
    '"Field Annotation"\n'
    'record_id,flare_check,,text,"Record ID",,,,,,,,,,,,,\n'
    'flare,flare_check,,yesno,"Did you have a flare today?",,,,,,,,y,,,,,\n'
    'flare_hours,flare_check,,text,"How many hours did it last?",,,integer,0,24,,'
    "\"[flare] = '1'\",y,,,,,\n"
)


def test_imported_instrument_records_with_branching(
    clinic: Clinic, clock: FixedClock, tmp_path: Path, database_url: str
) -> None:
    instrument = import_dictionary(DICTIONARY).instruments[0]
    save_user_instrument(instrument, tmp_path)
    instrument_id = instrument.instrument.id
    db = Database.from_settings(Settings(database_url=database_url, instrument_dir=str(tmp_path)))
    try:
        me = clinic.actors["p_A-001"]
        pid = clinic.patients["A-001"].id
        day = clock().date() - dt.timedelta(days=1)
        # no flare: the hours question is hidden, so it is not required
        entry = records.record_diary_entry(
            db, me, pid, DiaryInput(day, {"flare": False}, instrument_id=instrument_id), clock=clock
        )
        assert entry.instrument_id == instrument_id
        with pytest.raises(ValidationError, match="hidden"):
            records.record_diary_entry(
                db,
                me,
                pid,
                DiaryInput(
                    day - dt.timedelta(days=1),
                    {"flare": False, "flare_hours": 3},
                    instrument_id=instrument_id,
                ),
                clock=clock,
            )
        with pytest.raises(ValidationError, match="flare_hours"):
            records.record_diary_entry(
                db,
                me,
                pid,
                DiaryInput(
                    day - dt.timedelta(days=2), {"flare": True}, instrument_id=instrument_id
                ),
                clock=clock,
            )
        shown = records.record_diary_entry(
            db,
            me,
            pid,
            DiaryInput(
                day - dt.timedelta(days=3),
                {"flare": True, "flare_hours": 3},
                instrument_id=instrument_id,
            ),
            clock=clock,
        )
        assert shown.answers == {"flare": True, "flare_hours": 3}
        with pytest.raises(ValidationError, match="unknown instrument"):
            records.record_diary_entry(
                db, me, pid, DiaryInput(day, {}, instrument_id="../etc/passwd"), clock=clock
            )
    finally:
        db.dispose()


GROUPED_QUESTIONNAIRE = {
    "resourceType": "Questionnaire",
    "url": "http://example.org/fhir/Questionnaire/flare-group",
    "name": "flare_group",
    "status": "active",
    "item": [
        {"linkId": "flare", "type": "boolean", "text": "A flare today?", "required": True},
        {
            "linkId": "flare_details",
            "type": "group",
            "text": "The flare",
            "enableWhen": [{"question": "flare", "operator": "=", "answerBoolean": True}],
            "item": [
                {"linkId": "hours", "type": "integer", "text": "Hours", "required": True},
            ],
        },
        {"linkId": "started", "type": "time", "text": "Started at"},
    ],
}


def test_enable_when_on_a_group_is_honoured_when_recording(
    clinic: Clinic, clock: FixedClock, tmp_path: Path, database_url: str
) -> None:
    imported = import_questionnaire(GROUPED_QUESTIONNAIRE)
    save_user_instrument(imported, tmp_path)
    db = Database.from_settings(Settings(database_url=database_url, instrument_dir=str(tmp_path)))
    try:
        me = clinic.actors["p_A-001"]
        pid = clinic.patients["A-001"].id
        day = clock().date() - dt.timedelta(days=1)

        def record(when: dt.date, answers: dict[str, object]) -> object:
            entry = DiaryInput(when, answers, instrument_id="flare_group")
            return records.record_diary_entry(db, me, pid, entry, clock=clock)

        # the group is hidden without a flare: its required question is not demanded ...
        record(day, {"flare": False})
        # ... and an answer to it is refused
        with pytest.raises(ValidationError, match=r"flare_group\.hours: this item is hidden"):
            record(day - dt.timedelta(days=1), {"flare": False, "hours": 2})
        # shown with a flare: now it is required
        with pytest.raises(ValidationError, match="hours"):
            record(day - dt.timedelta(days=2), {"flare": True})
        record(day - dt.timedelta(days=3), {"flare": True, "hours": 2})
        # a time item is text in the catalog, but its answer must be a FHIR time
        with pytest.raises(ValidationError, match=r"flare_group\.started: not a FHIR time"):
            record(day - dt.timedelta(days=4), {"flare": False, "started": "after lunch"})
        # the FHIR export answers the Questionnaire as authored: its canonical, the group kept
        doc = clinic.actors["clinician_sitea"]
        bundle = exports.fhir_bundle_for_patient(db, doc, pid, clock=clock)
        responses = [
            e["resource"]
            for e in bundle["entry"]
            if e["resource"]["resourceType"] == "QuestionnaireResponse"
            and e["resource"]["questionnaire"].startswith(GROUPED_QUESTIONNAIRE["url"])
        ]
        assert sorted(json.dumps(r["item"]) for r in responses) == sorted(
            json.dumps(items)
            for items in (
                [
                    {
                        "linkId": "flare",
                        "text": "A flare today?",
                        "answer": [{"valueBoolean": False}],
                    }
                ],
                [
                    {
                        "linkId": "flare",
                        "text": "A flare today?",
                        "answer": [{"valueBoolean": True}],
                    },
                    {
                        "linkId": "flare_details",
                        "text": "The flare",
                        "item": [
                            {"linkId": "hours", "text": "Hours", "answer": [{"valueInteger": 2}]}
                        ],
                    },
                ],
            )
        )
        assert {r["questionnaire"] for r in responses} == {GROUPED_QUESTIONNAIRE["url"]}
    finally:
        db.dispose()


def test_services_take_instruments_from_the_port(
    clinic: Clinic, clock: FixedClock, database_url: str
) -> None:
    """Any InstrumentSource will do: services read no folder setting of their own."""
    from microtrial.store.db import make_engine
    from microtrial.store.instruments import UserInstrument

    instrument = import_dictionary(DICTIONARY).instruments[0]

    class InMemory:
        where = "memory"

        def find(self, instrument_id: str) -> UserInstrument | None:
            if instrument_id != instrument.instrument.id:
                return None
            return UserInstrument(instrument.instrument, dict(instrument.branching))

    db = Database(make_engine(Settings(database_url=database_url)), InMemory())
    try:
        me = clinic.actors["p_A-001"]
        pid = clinic.patients["A-001"].id
        day = clock().date() - dt.timedelta(days=1)
        entry = records.record_diary_entry(
            db,
            me,
            pid,
            DiaryInput(day, {"flare": False}, instrument_id=instrument.instrument.id),
            clock=clock,
        )
        assert entry.instrument_id == instrument.instrument.id
        with pytest.raises(ValidationError, match="imported into memory"):
            records.record_diary_entry(
                db, me, pid, DiaryInput(day, {"x": 1}, instrument_id="nope"), clock=clock
            )
    finally:
        db.dispose()
