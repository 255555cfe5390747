"""The ``microtrial`` command line: a thin layer over ``services`` and ``analysis``."""

from __future__ import annotations

import os
import sys
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated

import typer

from microtrial.cli import (
    admin_cmds,
    alert_cmds,
    analysis_cmds,
    catalog_cmds,
    cohort_cmds,
    db_cmds,
    demo_cmd,
    diary_cmds,
    interop_cmds,
    patient_cmds,
    report_cmds,
    serve_cmd,
    trial_cmds,
)
from microtrial.cli.common import ErrorBoundaryGroup

app = typer.Typer(
    name="microtrial",
    help="MicroTrial: clinician-guided, placebo-controlled n-of-1 trials of microdosing for pain.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=ErrorBoundaryGroup,
)


def _print_version(value: bool) -> None:
    if value:
        try:
            number = version("microtrial")
        except PackageNotFoundError:  # run from a source tree that was never installed
            number = "unknown (not installed)"
        typer.echo(f"microtrial {number}")
        raise typer.Exit()


@app.callback()
def root(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """MicroTrial: clinician-guided, placebo-controlled n-of-1 trials of microdosing for pain."""


for module in (
    db_cmds,
    admin_cmds,
    patient_cmds,
    diary_cmds,
    demo_cmd,
    catalog_cmds,
    serve_cmd,
    analysis_cmds,
    trial_cmds,
    interop_cmds,
    report_cmds,
    alert_cmds,
    cohort_cmds,
):
    module.register(app)


def main() -> None:
    """Run the CLI."""
    try:
        app()
    except BrokenPipeError:
        # The reader of stdout went away (`microtrial ... | head`): stop without a message, as
        # other command-line tools do; stdout goes to devnull so that the exit flush cannot fail.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)


if __name__ == "__main__":  # `python -m microtrial.cli.main ...` runs the CLI too
    main()
