"""``microtrial demo``: build the demo clinic and print what it holds."""

from __future__ import annotations

import math
import time
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from microtrial.cli.common import check_output, console, handle_errors


def demo(
    patients: Annotated[
        int,
        typer.Option(
            "--patients",
            help="How many patients (1..10000; from 50 on built by the bulk path).",
        ),
    ] = 24,
    seed: Annotated[int, typer.Option("--seed", help="Random seed of the simulation.")] = 2026,
    out: Annotated[Path, typer.Option("--out", help="Output folder.")] = Path("demo-output"),
) -> None:
    """Create a fresh demo clinic (OUT/demo.db) with simulated patients, diaries and reports."""
    from microtrial.services.demo import build_demo
    from microtrial.services.demo_bulk import BULK_FROM, build_bulk_demo, check_patients

    with handle_errors():
        check_patients(patients)  # names --patients and the range 1..10000
    check_output(out, "--out", folder=True)
    started = time.perf_counter()
    build = build_bulk_demo if patients >= BULK_FROM else build_demo
    with handle_errors():
        summary = build(out, n_patients=patients, seed=seed)
    built = time.perf_counter() - started
    reports = _write_reports(summary.database, out)
    table = Table(
        title=f"MicroTrial demo clinic ({summary.site})", box=box.SIMPLE_HEAD, pad_edge=False
    )
    # Short headers: the table must fit an 80-column terminal.
    columns = ["condition", "n", "excl", "plan", "run", "pause", "wd", "done", "diary"]
    columns += ["miss"]
    columns += ["pain", "AEs"]
    for column in columns:
        first = column == "condition"
        table.add_column(
            column, justify="left" if first else "right", min_width=12 if first else None
        )
    for group, members in summary.by_group().items():
        days = sum(p.diary_days for p in members)
        missing = sum(p.missing_days for p in members)
        pains = [p.mean_pain for p in members if not math.isnan(p.mean_pain)]
        stages = Counter(p.stage for p in members)
        table.add_row(
            group,
            str(len(members)),
            *(
                str(stages[s])
                for s in ("screen-failed", "planned", "running", "paused", "withdrawn", "completed")
            ),
            str(days),
            f"{missing / max(days + missing, 1):.0%}",
            f"{sum(pains) / len(pains):.1f}" if pains else "-",
            str(sum(p.adverse_events for p in members)),
        )
    console.print(table)
    console.print(
        "n patients; excl = excluded by screening (do-not-start); plan/run/pause/wd/done = trials "
        "planned, running blinded, paused by a stop rule, withdrawn, completed and unblinded; "
        "diary = days "
        "recorded; miss = share of diary days missed; pain = mean daily pain (0-10); AEs = "
        "adverse events."
    )
    console.print(f"database: {summary.database}")
    console.print("users (password [bold]" + summary.password + "[/]):")
    for username, role in summary.staff:
        console.print(f"  {username:<18} {role}")
    if patients >= BULK_FROM:
        bulk = len(summary.patients) - len(summary.adaptive)
        console.print(f"  patient00001 .. patient{bulk:05d}, then the adaptive patients' (below)")
    else:
        console.print(f"  patient01 .. patient{len(summary.patients):02d} patient")
    console.print(f"reports: {', '.join(str(out / name) for name in reports)}")
    for line in summary.safety:
        console.print(f"safety: {line}")
    for line in summary.adaptive:
        console.print(f"adaptive: {line}")
    console.print(
        f"next: microtrial serve --database-url sqlite:///{summary.database} "
        "then open http://127.0.0.1:8000 (or: make serve)"
    )
    how = " by the bulk path" if patients >= BULK_FROM else ""
    console.print(
        f"done in {time.perf_counter() - started:.1f} s ({len(summary.patients)} patients built "
        f"in {built:.1f} s{how}; the rest: reports)"
    )


def _write_reports(database: Path, out: Path) -> list[str]:
    """Write the sample clinician, patient and cohort reports (HTML + PDF) into ``out``."""
    from microtrial.cli.common import open_db
    from microtrial.cli.report_cmds import write_output
    from microtrial.reports.demo import demo_reports
    from microtrial.services.report_data import demo_report_data

    with open_db(f"sqlite:///{database}") as db, handle_errors():
        reports = demo_reports(demo_report_data(db))
    for name, content in reports.items():
        write_output(out / name, content)
    return list(reports)


def register(app: typer.Typer) -> None:
    """Add the demo command."""
    app.command("demo")(demo)
