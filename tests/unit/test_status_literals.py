"""Trial statuses are named through ``domain.lifecycle`` only: a new status literal fails here."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from microtrial.domain.lifecycle import TrialStatus

SRC = Path(__file__).resolve().parents[2] / "src" / "microtrial"
CHECKED = ("services", "web", "api", "http")
STATUSES = {s.value for s in TrialStatus}
# Strings that equal a status but name something else: (file, string) -> what it is.
ALLOWED = {
    ("services/demo.py", "completed"): "the demo's stage names (what it simulates per patient)",
    ("services/demo.py", "running"): "the demo's stage names",
    ("services/demo.py", "paused"): "the demo's stage names",
    ("services/demo_bulk.py", "completed"): "the bulk demo's stage names (as services/demo.py)",
    ("services/demo_bulk.py", "running"): "the bulk demo's stage names",
    ("services/demo_bulk.py", "paused"): "the bulk demo's stage names",
    ("services/demo_bulk.py", "withdrawn"): "the bulk demo's stage names",
    ("services/demo_bulk_trial.py", "completed"): "the bulk demo's stage names (BULK_STAGES)",
    ("services/demo_bulk_trial.py", "running"): "the bulk demo's stage names (BULK_STAGES)",
    ("services/demo_bulk_trial.py", "paused"): "the bulk demo's stage names (BULK_STAGES)",
    ("services/demo_bulk_trial.py", "withdrawn"): "the bulk demo's stage names (BULK_STAGES)",
    ("services/reminder_settings.py", "paused"): "a patient's reminders on pause (issue 21)",
}


def status_literals(source: str) -> list[tuple[int, str]]:
    """(line, text) of every string constant in ``source`` equal to a trial status."""
    return [
        (node.lineno, node.value)
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        if node.value in STATUSES
    ]


def test_status_literals_finds_a_status_compared_as_text() -> None:
    source = 'def f(trial):\n    return trial.status == "running" or trial.x == "other"\n'
    assert status_literals(source) == [(2, "running")]


def test_no_trial_status_literal_outside_the_lifecycle_module() -> None:
    found = [
        f"{rel}:{line}: {text!r}"
        for package in CHECKED
        for path in sorted((SRC / package).rglob("*.py"))
        for rel in [path.relative_to(SRC).as_posix()]
        for line, text in status_literals(path.read_text("utf-8"))
        if (rel, text) not in ALLOWED
    ]
    assert not found, "use microtrial.domain.lifecycle instead of:\n" + "\n".join(found)


def test_no_trial_status_literal_in_templates() -> None:
    names = "|".join(sorted(STATUSES))
    pattern = re.compile(rf"""['"]({names})['"]""")
    found = [
        f"{path.name}: {m.group(0)}"
        for path in sorted((SRC / "web" / "templates").glob("*.html"))
        for m in pattern.finditer(path.read_text("utf-8"))
    ]
    assert not found, "pass a flag from the page (domain.lifecycle) instead of:\n" + "\n".join(
        found
    )
