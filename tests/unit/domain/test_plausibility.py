"""Issue 14, deliverable 8: cross-item plausibility rules from the catalog, diary date windows."""

from __future__ import annotations

import datetime as dt

import pytest

from microtrial.domain.catalog import load_catalog, parse_instrument
from microtrial.domain.scoring import validate_answers
from microtrial.errors import ValidationError
from microtrial.services.records import check_diary_date


def test_diastolic_above_systolic_is_refused_naming_the_field() -> None:
    home_bp = load_catalog().instrument("home_bp")
    with pytest.raises(ValidationError) as err:
        validate_answers(home_bp, {"systolic": 90, "diastolic": 150})
    assert err.value.field == "home_bp.diastolic"
    assert "diastolic must be below systolic" in str(err.value)
    assert err.value.allowed == "below systolic (90)"
    with pytest.raises(ValidationError):
        validate_answers(home_bp, {"systolic": 120, "diastolic": 120})
    assert validate_answers(home_bp, {"systolic": 120, "diastolic": 80}) == {
        "systolic": 120,
        "diastolic": 80,
    }


def test_worst_pain_below_average_pain_is_refused() -> None:
    diary = load_catalog().instrument("daily_diary")
    with pytest.raises(ValidationError) as err:
        validate_answers(diary, {"average_pain": 6, "worst_pain": 3})
    assert err.value.field == "daily_diary.worst_pain"
    assert "worst pain must not be below average pain" in str(err.value)
    assert validate_answers(diary, {"average_pain": 6, "worst_pain": 6})["worst_pain"] == 6
    assert "worst_pain" not in validate_answers(diary, {"average_pain": 6})  # optional: no rule


def test_an_unanswered_required_item_is_refused_with_its_label() -> None:
    phq9 = load_catalog().instrument("phq9")
    answers = {f"q{n}": 0 for n in range(1, 9)}
    with pytest.raises(ValidationError) as err:
        validate_answers(phq9, answers)
    assert err.value.field == "phq9.q9"
    assert "better off dead" in str(err.value)


def test_every_constraint_is_sourced_and_names_integer_items() -> None:
    catalog = load_catalog()
    rules = [r for i in catalog.instruments.values() for r in i.constraints]
    assert len(rules) >= 2
    assert all(r.sources and set(r.sources) <= set(catalog.sources) for r in rules)
    bad = load_catalog().instrument("home_bp").model_dump(mode="json")
    bad["constraints"][0]["other"] = "nowhere"
    with pytest.raises(ValidationError, match="constraint on diastolic names nowhere"):
        parse_instrument(bad)


TODAY = dt.date(2026, 3, 20)
ENROLLED = dt.date(2026, 3, 1)


@pytest.mark.parametrize(
    ("day", "window", "message"),
    [
        (dt.date(2026, 3, 21), 7, "is in the future"),
        (dt.date(2001, 1, 1), 7, "before enrolment on 2026-03-01"),
        (dt.date(2026, 2, 28), 90, "before enrolment"),
        (dt.date(2026, 3, 12), 7, "more than 7 days ago"),
        (dt.date(2026, 3, 19), 0, "more than 0 days ago"),
    ],
)
def test_diary_dates_outside_the_window_are_refused(
    day: dt.date, window: int, message: str
) -> None:
    with pytest.raises(ValidationError, match=message) as err:
        check_diary_date(day, TODAY, ENROLLED, window)
    assert err.value.field == "date"


@pytest.mark.parametrize(
    ("day", "window"),
    [(TODAY, 0), (dt.date(2026, 3, 13), 7), (ENROLLED, 30)],
)
def test_diary_dates_inside_the_window_pass(day: dt.date, window: int) -> None:
    check_diary_date(day, TODAY, ENROLLED, window)
