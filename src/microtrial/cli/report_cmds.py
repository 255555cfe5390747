"""``microtrial report trial | cohort``: write trial and cohort reports as HTML and/or PDF."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from microtrial.cli.common import DatabaseUrlOpt, check_output, console, handle_errors, open_db
from microtrial.domain.actors import system_actor
from microtrial.files import write_private

report_app = typer.Typer(
    help="Reports after unblinding: per trial (clinician or patient) and per cohort.",
    no_args_is_help=True,
)

PdfOpt = Annotated[Path | None, typer.Option("--pdf", help="Write the report as PDF to FILE.")]
HtmlOpt = Annotated[
    Path | None,
    typer.Option("--html", help="Write self-contained HTML to FILE (stdout if no file given)."),
]


def write_output(path: Path, content: str | bytes) -> None:
    """Write a report whole (temporary file, then rename), readable by its owner only."""
    write_private(path, content)


def _formats(html: Path | None, pdf: Path | None) -> tuple[str, ...]:
    for path, option in ((html, "--html"), (pdf, "--pdf")):
        if path is not None:  # checked before the database is read (a read is audited)
            check_output(path, option)
    return (("html",) if html is not None or pdf is None else ()) + (("pdf",) if pdf else ())


def _emit(out: dict[str, str | bytes], html_path: Path | None, pdf_path: Path | None) -> None:
    if "pdf" in out and pdf_path is not None:
        write_output(pdf_path, out["pdf"])
        console.print(f"wrote {pdf_path}", highlight=False)
    if "html" in out:
        if html_path is None:
            typer.echo(out["html"], nl=False)
        else:
            write_output(html_path, out["html"])
            console.print(f"wrote {html_path}", highlight=False)


@report_app.command("trial")
def trial_cmd(
    trial_id: Annotated[int, typer.Argument(metavar="ID", help="Trial id (must be unblinded).")],
    patient: Annotated[
        bool, typer.Option("--patient", help="The plain-language patient version.")
    ] = False,
    pdf: PdfOpt = None,
    html: HtmlOpt = None,
    database_url: DatabaseUrlOpt = None,
) -> None:
    """Report of one unblinded trial (refused while the trial is still blinded)."""
    from microtrial.reports.trial_report import render_trial_reports
    from microtrial.services.report_data import trial_report_data

    formats = _formats(html, pdf)
    with open_db(database_url) as db, handle_errors():
        data = trial_report_data(db, system_actor(), trial_id)
        out = render_trial_reports(
            data, audience="patient" if patient else "clinician", formats=formats
        )
    _emit(out, html, pdf)


@report_app.command("cohort")
def cohort_cmd(
    condition: Annotated[
        str | None,
        typer.Option("--condition", help="Condition group (neuropathic, migraine, ...)."),
    ] = None,
    pdf: PdfOpt = None,
    html: HtmlOpt = None,
    database_url: DatabaseUrlOpt = None,
) -> None:
    """De-identified cohort report: pooled effects, heterogeneity, blinding."""
    from microtrial.reports.cohort_report import render_cohort_reports
    from microtrial.services.report_data import cohort_report_data

    formats = _formats(html, pdf)
    with open_db(database_url) as db, handle_errors():
        data = cohort_report_data(db, system_actor(), condition=condition)
        out = render_cohort_reports(data, formats)
    _emit(out, html, pdf)


def register(app: typer.Typer) -> None:
    """Add the report commands."""
    app.add_typer(report_app, name="report")
