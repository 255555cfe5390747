"""The words of refused forms: labels instead of internal ids, plain answers for patients."""

from __future__ import annotations

import pytest

from microtrial.domain.catalog import load_catalog
from microtrial.errors import ConflictError, StaleVersion, ValidationError
from microtrial.web.forms import FormSpec, FormState, answers_from_form, form_items, plain_message

ENROL = FormSpec({"time_zone": "Time zone", "study_code": "Study code"}, {"tz": "time_zone"})


def test_a_service_field_name_is_shown_as_the_forms_label() -> None:
    err = ValidationError("tz", "unknown time zone 'Mars'", value="Mars")
    state = FormState.refused("enrol", {"time_zone": "Mars", "csrf_token": "t"}, err, ENROL)
    assert state.errors == {"time_zone": "Time zone: unknown time zone 'Mars'"}
    assert state.message == "Time zone: unknown time zone 'Mars'"
    assert state.value("time_zone") == "Mars"
    assert "csrf_token" not in state.values
    assert state.status == 422


def test_a_conflict_naming_a_field_sits_beside_it() -> None:
    err = ConflictError("code: patient 'A-1' already exists at 'S'")
    state = FormState.refused(
        "enrol", {}, err, FormSpec({"study_code": "Study code"}, {"code": "study_code"})
    )
    assert state.error("study_code") == "Study code: patient 'A-1' already exists at 'S'"
    assert state.status == 409


def test_a_stale_form_is_told_in_words_at_the_top() -> None:
    state = FormState.refused("move", {}, StaleVersion(1, 2))
    assert state.errors == {}
    assert "someone changed this" in state.message
    assert "version" not in state.message


def test_passwords_are_never_kept() -> None:
    err = ValidationError("password", "too short")
    state = FormState.refused(
        "user", {"password": "x", "username": "u"}, err, FormSpec({"password": "Initial password"})
    )
    assert "password" not in state.values
    assert state.error("password") == "Initial password: too short"


def test_an_instrument_item_is_named_by_its_question() -> None:
    err = ValidationError("daily_diary.average_pain", "required item not answered: Average pain")
    state = FormState.refused("diary", {}, err)
    assert state.message.startswith("Average pain in the last 24 hours")
    assert state.message.endswith(": please answer this question")
    assert state.error("daily_diary.average_pain") == "Please answer this question"  # long label
    assert "daily_diary" not in plain_message(str(err))


def test_error_page_messages_lose_their_ids() -> None:
    assert plain_message("tz: unknown time zone 'X'") == "Time zone: unknown time zone 'X'"
    assert plain_message("Not Found") == "Not Found"
    assert plain_message("a; b: c") == "a; B: c"


def test_patients_are_offered_plain_side_effect_grades() -> None:
    items = {i.name: i for i in form_items("ae_checklist")}
    anxiety = items["ae_checklist.anxiety"]
    assert anxiety.choices == ((0, "None"), (1, "Mild"), (2, "Moderate"), (3, "Severe"))
    assert anxiety.text == "Anxiety or restlessness"
    assert answers_from_form("ae_checklist", {"ae_checklist.anxiety": "3"}) == {"anxiety": 3}
    with pytest.raises(ValidationError, match="choose one of the answers"):
        answers_from_form("ae_checklist", {"ae_checklist.anxiety": "5"})
    # the catalog keeps the CTCAE grading for staff, with the source of the mapping
    item = load_catalog().instrument("ae_checklist").item("anxiety")
    assert item.labels is not None
    assert item.labels[5] == "Grade 5 death"
    assert item.patient_answers is not None
    assert item.patient_answers.sources == ("ctcae5",)


def test_staff_notes_stay_off_patient_forms() -> None:
    sleep = {i.name: i for i in form_items("daily_diary")}["daily_diary.sleep_quality"]
    assert "SQS" not in sleep.text
    assert load_catalog().instrument("daily_diary").item("sleep_quality").note
    difficulty = {i.name: i for i in form_items("phq9")}["phq9.difficulty"]
    assert "summed" not in difficulty.text
