"""REDCap data dictionaries: every shared real-world file imports, scores and round-trips."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import formatted_answer
from microtrial.domain.branching import (
    And,
    BranchingError,
    Compare,
    FieldRef,
    Literal,
    Or,
    evaluate,
    parse_branching,
    to_text,
    visible_items,
)
from microtrial.domain.catalog import load_catalog
from microtrial.domain.scoring import score
from microtrial.errors import ValidationError
from microtrial.interop.imported import (
    list_user_instruments,
    load_user_instrument,
    save_user_instrument,
)
from microtrial.interop.redcap import HEADERS, KEYS, dictionary_csv, import_dictionary

REPO = Path(__file__).resolve().parents[3]
DATASETS = REPO.parent / "shared" / "datasets" / "redcap"
FILES = sorted(DATASETS.glob("*.csv"))


def test_the_shared_datasets_are_there() -> None:
    assert [f.name for f in FILES] == [
        "checkboxes-1.csv",
        "clinical-trial-1.csv",
        "longitudinal.csv",
        "potentially-problematic-dictionary.csv",
        "validation-types-1.csv",
    ]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_shared_dictionary_imports_scores_and_round_trips(path: Path) -> None:
    first = import_dictionary(path.read_bytes(), drop_identifiers=True)
    assert first.instruments
    for imported in first.instruments:
        instrument = imported.instrument
        assert score(instrument, {}).instrument_id == instrument.id or True
        answers = {
            item.id: (
                item.min
                if item.type == "integer"
                else True
                if item.type == "boolean"
                else formatted_answer(item)
                if item.format is not None
                else (item.options or ("x",))[0]
            )
            for item in instrument.items
        }
        result = score(instrument, answers)
        assert result.primary.value is not None
    for api_keys in (False, True):
        again = import_dictionary(dictionary_csv(first.instruments, api_keys=api_keys))
        assert [i.instrument.id for i in again.instruments] == [
            i.instrument.id for i in first.instruments
        ]
        for a, b in zip(first.instruments, again.instruments, strict=True):
            assert a.same_as(b)
            assert a.instrument == b.instrument


def test_field_types_map_to_catalog_items() -> None:
    result = import_dictionary((DATASETS / "validation-types-1.csv").read_bytes())
    (form,) = result.instruments
    items = {i.id: i for i in form.instrument.items}
    assert "record_id" not in items
    assert items["f_radio"].type == "integer"
    assert items["f_radio"].labels == {0: "Zero", 1: "One", 2: "Two"}
    assert items["f_dropdown"].type == "integer"
    assert [items[f"f_checkbox___{c}"].type for c in "012"] == ["boolean"] * 3
    assert items["f_yes_no"].type == items["f_true_false"].type == "boolean"
    assert (items["f_slider"].min, items["f_slider"].max) == (-1, 101)
    assert items["v_integer"].type == "integer"
    assert (items["v_email"].type, items["v_email"].format) == ("text", "email")
    assert items["v_date_dmy"].format == "date_dmy"
    assert items["v_number_2dp_comma_decimal"].format == "number_2dp_comma_decimal"
    assert items["f_notes"].max_length == 10_000
    assert "f_calculated" not in items
    assert "f_descriptive" not in items
    assert result.warnings == (
        "field f_file_upload: field type 'file' is not supported; skipped",
        "field f_signature: field type 'file' is not supported; skipped",
        "field f_sql: field type 'sql' is not supported; skipped",
        "field v_vmrn: validation type 'vmrn' is not checked on entry (kept for export)",
    )
    assert form.warnings == result.warnings


def test_byte_order_mark_and_odd_characters() -> None:
    raw = (DATASETS / "potentially-problematic-dictionary.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    (form,) = import_dictionary(raw).instruments
    items = {i.id: i for i in form.instrument.items}
    assert items["curly_quote_double_left"].text == 'Maybe I don\'t "look the part"'
    assert items["v1"].type == "choice"  # codes 0, 1, 3 are not consecutive
    assert items["v1"].options == ("0", "1", "3")


def test_api_snake_case_records_import_the_same() -> None:
    text = (DATASETS / "longitudinal.csv").read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    api = [{key: row[header] for header, key in zip(HEADERS, KEYS, strict=True)} for row in rows]
    from_csv = import_dictionary(text, drop_identifiers=True).instruments
    from_api = import_dictionary(api, drop_identifiers=True).instruments
    assert all(a.same_as(b) for a, b in zip(from_csv, from_api, strict=True))


def test_matrix_groups_checkboxes_and_branching_in_longitudinal() -> None:
    result = import_dictionary(
        (DATASETS / "longitudinal.csv").read_bytes(), form="demographics", drop_identifiers=True
    )
    (demo,) = result.instruments
    ids = [i.id for i in demo.instrument.items]
    assert [i for i in ids if i.startswith("gym___")] == [f"gym___{d}" for d in range(5)]
    matrix = [f["field_name"] for f in demo.fields if f["matrix_group_name"] == "weekly_schedule"]
    assert matrix == ["gym", "aerobics", "eat", "drink"]
    assert demo.branching["num_children"] == '[sex] = "0" and [given_birth] = "1"'
    shown = visible_items(demo, {"sex": 0, "given_birth": True})
    assert {"given_birth", "num_children"} <= shown
    assert not {"given_birth", "num_children"} & visible_items(demo, {"sex": 1})
    # a hidden item counts as unanswered for the logic after it
    assert "num_children" not in visible_items(demo, {"sex": 1, "given_birth": True})
    assert len(visible_items(demo, {})) == len(ids) - 2


def test_branching_parser_handles_both_quote_styles_and_checkboxes() -> None:
    double = parse_branching('[sex] = "0" and ([age] >= 18 or [meds(2)] = "1")')
    single = parse_branching("[sex] = '0' AND ([age] >= 18 OR [meds(2)] = '1')")
    assert double == single
    assert double == And(
        (
            Compare(FieldRef("sex"), "=", Literal("0")),
            Or(
                (
                    Compare(FieldRef("age"), ">=", Literal("18", quoted=False)),
                    Compare(FieldRef("meds", "2"), "=", Literal("1")),
                )
            ),
        )
    )
    assert parse_branching(to_text(double)) == double
    assert evaluate(double, {"sex": 0, "age": 17, "meds___2": True})
    assert not evaluate(double, {"sex": 0, "age": 17, "meds___2": False})
    assert evaluate(parse_branching("[event_1_arm_1][x] <> ''"), {"x": "a"})
    assert parse_branching("[a] != 2") == Compare(FieldRef("a"), "<>", Literal("2", False))
    assert parse_branching("") is None
    for bad in ('datediff([d], "today", "y") > 1', "[a] = ", "[a] + 1 = 2", "([a] = 1"):
        with pytest.raises(BranchingError):
            parse_branching(bad)


def test_unsupported_logic_is_a_warning_naming_the_field() -> None:
    text = ",".join(f'"{h}"' for h in HEADERS) + "\n"
    text += "record_id,f,,text,ID,,,,,,,,,,,,,\n"
    text += "q1,f,,yesno,Q1,,,,,,,\"datediff([d], 'today', 'y') > 1\",,,,,,\n"
    text += "q2,f,,sql,Q2,select 1,,,,,,,,,,,,\n"
    result = import_dictionary(text)
    (form,) = result.instruments
    assert [i.id for i in form.instrument.items] == ["q1"]
    assert form.branching == {}
    assert result.warnings[0].startswith("field q1: branching logic not understood")
    assert result.warnings[1] == "field q2: field type 'sql' is not supported; skipped"


def test_catalog_instrument_exports_as_a_dictionary() -> None:
    phq9 = load_catalog().instrument("phq9")
    (back,) = import_dictionary(dictionary_csv([phq9])).instruments
    assert [i.id for i in back.instrument.items] == [i.id for i in phq9.items]
    for ours, theirs in zip(phq9.items, back.instrument.items, strict=True):
        assert (ours.type, ours.min, ours.max, ours.labels, ours.text) == (
            theirs.type,
            theirs.min,
            theirs.max,
            theirs.labels,
            theirs.text,
        )
    assert back.instrument.id == "redcap_phq9"  # never shadows the shipped instrument
    assert score(back.instrument, {f"q{i}": 2 for i in range(1, 10)}).primary.value == 18


def test_user_instrument_directory(tmp_path: Path) -> None:
    result = import_dictionary((DATASETS / "longitudinal.csv").read_bytes(), drop_identifiers=True)
    for imported in result.instruments:
        save_user_instrument(imported, tmp_path)
    listing = list_user_instruments(tmp_path)
    assert listing["patient_morale_questionnaire"] == (
        "Patient morale questionnaire (user, redcap)"
    )
    assert len(listing) == len(result.instruments)
    loaded = load_user_instrument(tmp_path / "demographics.yaml")
    assert loaded.same_as(result.instruments[0])
    assert list_user_instruments(tmp_path / "missing") == {}


FIELD_TYPES = [
    "text",
    "notes",
    "radio",
    "dropdown",
    "checkbox",
    "yesno",
    "truefalse",
    "slider",
    "calc",
    "descriptive",
    "file",
    "sql",
    "weird",
]


@settings(max_examples=80, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c", "d"]),
            st.sampled_from(FIELD_TYPES),
            st.text(max_size=30),
            st.sampled_from(["", "integer", "number", "date_ymd"]),
            st.text(max_size=5),
            st.text(max_size=30),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_any_dictionary_imports_or_fails_with_a_validation_error(
    rows: list[tuple[str, str, str, str, str, str]],
) -> None:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADERS)
    writer.writerow(["record_id", "f", "", "text", "ID", *[""] * 13])
    for name, kind, choices, validation, low, logic in rows:
        writer.writerow(
            [
                name,
                "f",
                "",
                kind,
                "Label",
                choices,
                "",
                validation,
                low,
                "",
                "",
                logic,
                "",
                "",
                "",
                "",
                "",
                "",
            ]
        )
    try:
        result = import_dictionary(out.getvalue())
    except ValidationError:
        return
    for imported in result.instruments:
        assert imported.instrument.items
        again = import_dictionary(dictionary_csv([imported]))
        assert again.instruments[0].same_as(imported)
