"""Checklist symptoms, episodes and review checks (domain.adverse_events), and the alert text."""

from __future__ import annotations

import datetime as dt

import pytest

from microtrial.domain.adverse_events import (
    AWAITING_REVIEW,
    CLOSED,
    CONFIRMED,
    Episode,
    check_review,
    checklist_symptoms,
    episode_change,
    pauses,
)
from microtrial.domain.alerts import alerts_for_score
from microtrial.domain.catalog import load_catalog
from microtrial.domain.scoring import score
from microtrial.errors import ValidationError

DAY = dt.date(2026, 3, 10)


def test_checklist_symptoms_have_the_item_label_and_grade() -> None:
    checklist = load_catalog().instrument("ae_checklist")
    answers = {
        "nausea_gi": 3,
        "headache": 1,
        "other": 2,
        "other_description": "rash",
        "seizure": True,
    }
    found = checklist_symptoms(checklist, answers, 2)
    assert [(s.item, s.label, s.grade) for s in found] == [
        ("nausea_gi", "Nausea, GI discomfort or diarrhoea", 3),
        ("other", "Other (describe): rash", 2),
    ]


def test_the_alert_names_the_symptom_and_grade() -> None:
    (alert,) = alerts_for_score(score("ae_checklist", {"nausea_gi": 3, "headache": 2}))
    assert alert.detail == "Nausea, GI discomfort or diarrhoea, grade 3 (patient report)"
    (serious,) = alerts_for_score(score("ae_checklist", {"headache": 2, "serious": True}))
    assert serious.detail == "Headache (new or unusual), grade 2, serious (patient report)"


def test_episodes() -> None:
    open_ = Episode(2, False, AWAITING_REVIEW, DAY, None)
    assert episode_change(None, DAY, 2, False) == "new"
    assert episode_change(open_, DAY + dt.timedelta(1), 2, False) == "none"
    assert episode_change(open_, DAY + dt.timedelta(9), 1, False) == "none"
    assert episode_change(open_, DAY + dt.timedelta(1), 3, False) == "raise"
    assert episode_change(open_, DAY + dt.timedelta(1), 2, True) == "raise"
    closed = Episode(2, False, CLOSED, DAY, DAY + dt.timedelta(3))
    assert episode_change(closed, DAY + dt.timedelta(2), 3, False) == "none"
    assert episode_change(closed, DAY + dt.timedelta(4), 2, False) == "new"
    assert pauses(3, False)
    assert pauses(1, True)
    assert not pauses(2, False)


def test_review_checks_name_the_field() -> None:
    def field(action: str, status: str = CONFIRMED, **kw: object) -> str:
        values: dict[str, object] = {"grade": None, "outcome": None, "resolved": None}
        with pytest.raises(ValidationError) as err:
            check_review(action, status, onset=DAY, **(values | kw))  # type: ignore[arg-type]
        return err.value.field

    assert field("delete") == "action"
    assert field("confirm") == "status"
    assert field("regrade", status=CLOSED, grade=2) == "status"
    assert field("regrade") == "grade"
    assert field("regrade", grade=7) == "grade"
    assert field("close", resolved=DAY) == "outcome"
    assert field("close", outcome="recovered") == "resolved_date"
    assert field("close", outcome="recovered", resolved=DAY - dt.timedelta(1)) == "resolved_date"
    check_review("close", CONFIRMED, grade=None, outcome="recovered", resolved=DAY, onset=DAY)
