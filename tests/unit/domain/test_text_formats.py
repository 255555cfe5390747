"""Text formats (REDCap validation types): what each accepts, its bounds, and the item rules."""

from __future__ import annotations

import pytest

from microtrial.domain.catalog import parse_instrument
from microtrial.domain.scoring import validate_answers
from microtrial.domain.text_formats import format_value, in_bounds
from microtrial.errors import ValidationError


@pytest.mark.parametrize(
    ("name", "good", "bad"),
    [
        ("date_dmy", ["2028-02-29", "2026-12-31"], ["2026-02-29", "2026-2-3", "27/02/2026", ""]),
        ("datetime_ymd", ["2026-02-27 23:59"], ["2026-02-27 24:00", "2026-02-27T08:30"]),
        ("datetime_seconds_mdy", ["2026-02-27 08:30:15"], ["2026-02-27 08:30"]),
        ("time", ["00:00", "23:59"], ["24:00", "8:30", "08:60"]),
        ("time_mm_ss", ["59:59"], ["60:00"]),
        ("number", ["-3", "172.5", "0"], ["banana", "1e3", "1,5", "", " 4"]),
        ("number_1dp", ["36.6"], ["36", "36.60"]),
        ("number_2dp_comma_decimal", ["1,25"], ["1.25", "1,2"]),
        ("email", ["a.b@example.org"], ["a@b", "a b@example.org"]),
        ("phone", ["(405) 555-1234", "405.555.1234"], ["555-1234", "(105) 555-1234"]),
        ("zipcode", ["73104", "73104-1234"], ["7310"]),
        ("alpha_only", ["Zoë"], ["abc1", "a b"]),
    ],
)
def test_each_format_accepts_and_refuses(name: str, good: list[str], bad: list[str]) -> None:
    assert [v for v in good if format_value(name, v) is None] == []
    assert [v for v in bad if format_value(name, v) is not None] == []


def test_bounds_are_inclusive_and_compare_in_the_format() -> None:
    assert in_bounds("number", "18", "18", "99")
    assert in_bounds("number", "99.0", "18", "99")
    assert not in_bounds("number", "150", "18", "99")
    assert not in_bounds("number", "9", "18", "99")  # as a number, not as text ("9" > "18")
    assert in_bounds("date_ymd", "2026-02-27", "2026-01-01", None)
    assert not in_bounds("date_ymd", "2025-12-31", "2026-01-01", None)
    assert in_bounds("number_comma_decimal", "2,5", "2", "3")


def _item(**fields: object) -> dict[str, object]:
    return {
        "id": "f",
        "version": "1",
        "title": "F",
        "kind": "questionnaire",
        "recall": "today",
        "licence": "test",
        "sources": ["user-import:test"],
        "items": [{"id": "x", "text": "X", **fields}],
        "missing": {"policy": "none"},
        "scores": [
            {
                "id": "s",
                "title": "S",
                "method": "regions",
                "regions": {"r": ["x"]},
                "min": 0,
                "max": 0,
            }
        ],
        "primary_score": "s",
    }


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"type": "integer", "min": 0, "max": 1, "format": "date_ymd"}, "only text items"),
        ({"type": "text", "format": "vmrn"}, "unknown format"),
        ({"type": "text", "format": "number", "format_min": "today"}, "is not a number"),
        ({"type": "text", "format": "email", "format_max": "z@z.zz"}, "takes no min/max"),
        ({"type": "text", "format_min": "1"}, "need a format"),
    ],
)
def test_item_format_rules(fields: dict[str, object], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        parse_instrument(_item(**fields))


def test_answers_are_checked_against_the_format_and_range() -> None:
    instrument = parse_instrument(
        _item(type="text", format="number", format_min="18", format_max="99")
    )
    assert validate_answers(instrument, {"x": "42"}) == {"x": "42"}
    with pytest.raises(ValidationError, match=r"f\.x: 'banana' is not a number.*18 to 99"):
        validate_answers(instrument, {"x": "banana"})
    with pytest.raises(ValidationError, match=r"f\.x: value 150 out of range.*18 to 99"):
        validate_answers(instrument, {"x": "150"})
