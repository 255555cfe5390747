"""`microtrial demo` also writes one clinician, one patient and one cohort report (HTML + PDF)."""

from __future__ import annotations

import io
from pathlib import Path

import pypdf
import pytest
from typer.testing import CliRunner

from microtrial.cli.main import app


@pytest.mark.slow
def test_demo_writes_the_three_reports(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["demo", "--patients", "4", "--seed", "7", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.stderr
    written = sorted(p.name for p in tmp_path.glob("report-*"))
    assert len(written) == 6, written
    kinds = {name.rsplit(".", 1)[0].split("-")[-1] for name in written}
    assert kinds == {"clinician", "patient", "cohort"}
    for path in tmp_path.glob("report-*.pdf"):
        assert path.read_bytes().startswith(b"%PDF")
        pages = pypdf.PdfReader(io.BytesIO(path.read_bytes())).pages
        for page in pages:  # every page of every demo report says it is simulated
            assert "SIMULATED DEMO DATA" in page.extract_text(), path.name
    for path in tmp_path.glob("report-*.html"):
        text = path.read_text(encoding="utf-8")
        assert text.startswith("<!DOCTYPE html>")
        assert "<svg" in text
        assert "Simulated demo data" in text, path.name
        assert "Microdosing for pain is unproven" in text, path.name
    assert "reports:" in result.stdout
