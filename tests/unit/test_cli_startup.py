"""The command line starts without loading the database, web, PDF or FHIR stacks."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("sqlalchemy", "fastapi", "uvicorn", "weasyprint", "reportlab", "fhir", "matplotlib")


def test_importing_the_cli_loads_no_heavy_stack() -> None:
    code = (
        "import sys, microtrial.cli.main; "
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout.strip()
    assert loaded == ""
