"""Files that leave the system: spreadsheet-safe CSV cells, owner-only files written whole."""

from __future__ import annotations

import stat
from pathlib import Path

import pandas as pd
import pytest

from microtrial.files import spreadsheet_safe, spreadsheet_safe_frame, write_private


@pytest.mark.parametrize(
    "text",
    ['=HYPERLINK("http://x","click")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\tx", "\r=1"],
)
def test_formula_cells_are_escaped(text: str) -> None:
    assert spreadsheet_safe(text) == "'" + text


@pytest.mark.parametrize("value", ["-3", "+1.5", "-0.25e3", "pain", "", 7, -2.5, None, True])
def test_numbers_and_plain_text_are_left_alone(value: object) -> None:
    assert spreadsheet_safe(value) == value


def test_frames_escape_text_cells_and_column_names_only() -> None:
    frame = pd.DataFrame({"=evil": ["=1+1", "ok"], "score": [-1.0, 2.0]})
    safe = spreadsheet_safe_frame(frame)
    assert list(safe.columns) == ["'=evil", "score"]
    assert list(safe["'=evil"]) == ["'=1+1", "ok"]
    assert list(safe["score"]) == [-1.0, 2.0]
    assert list(frame.columns) == ["=evil", "score"]  # the input is not changed


def test_private_files_are_owner_only_and_replace_whole(tmp_path: Path) -> None:
    path = tmp_path / "out" / "export.csv"
    write_private(path, "a,b\n")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    write_private(path, b"c")
    assert path.read_bytes() == b"c"
    assert [p.name for p in path.parent.iterdir()] == ["export.csv"]  # no temporary left


@pytest.mark.parametrize("text", ["=SUM(A1)", "-x", "'quoted", "'=kept as typed", "plain", "-3"])
def test_escaping_reads_back_as_written(text: str) -> None:
    from microtrial.files import spreadsheet_unescape

    assert spreadsheet_unescape(spreadsheet_safe(text)) == text
