"""The ``microtrial`` command line: a thin layer over ``services`` and ``analysis``."""

from __future__ import annotations

import typer

from microtrial.cli import (
    admin_cmds,
    alert_cmds,
    analysis_cmds,
    catalog_cmds,
    db_cmds,
    demo_cmd,
    diary_cmds,
    interop_cmds,
    patient_cmds,
    report_cmds,
    serve_cmd,
    trial_cmds,
)

app = typer.Typer(
    name="microtrial",
    help="MicroTrial: clinician-guided, placebo-controlled n-of-1 trials of microdosing for pain.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

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
):
    module.register(app)


def main() -> None:
    """Run the CLI."""
    app()


if __name__ == "__main__":  # `python -m microtrial.cli.main ...` runs the CLI too
    main()
