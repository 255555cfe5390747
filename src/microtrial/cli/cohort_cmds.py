"""``microtrial cohort refresh | status``: compute the stored trial fits the cohort reads."""

from __future__ import annotations

import typer

from microtrial.cli.common import DatabaseUrlOpt, console, handle_errors, open_db
from microtrial.domain.actors import system_actor

cohort_app = typer.Typer(
    help="The cohort's stored per-trial fits: refresh them (for cron) or see how current.",
    no_args_is_help=True,
)


@cohort_app.command("refresh")
def refresh(database_url: DatabaseUrlOpt = None) -> None:
    """Fit every unblinded trial whose stored fit is missing or stale, in one batch."""
    from microtrial.services.trial_fits import refresh_fits

    with open_db(database_url) as db, handle_errors():
        report = refresh_fits(db, system_actor())
    console.print(
        f"{report.checked} unblinded trial(s), {report.stale} stale or new, "
        f"{report.stored} fitted and stored in {report.seconds:.1f} s"
    )
    if report.changed_meanwhile:
        console.print(
            f"{report.changed_meanwhile} trial(s) changed while fitting: still stale, "
            "refreshed next time"
        )


@cohort_app.command("status")
def status(database_url: DatabaseUrlOpt = None) -> None:
    """How many stored fits are current, stale or not yet computed, and when computed."""
    from microtrial.services.analysis import cohort_analysis

    with open_db(database_url) as db, handle_errors():
        fits = cohort_analysis(db, system_actor()).fits
    if fits is None:  # not read from stored fits (cannot happen through cohort_analysis)
        return
    console.print(
        f"{fits.unblinded} unblinded trial(s): {fits.current} current, {fits.stale} stale, "
        f"{fits.missing} not yet computed"
    )
    if fits.computed_from is not None and fits.computed_to is not None:
        console.print(
            f"computed {fits.computed_from:%Y-%m-%d %H:%M:%S} to "
            f"{fits.computed_to:%Y-%m-%d %H:%M:%S} UTC; data version {fits.data_version}"
        )


def register(app: typer.Typer) -> None:
    """Add the cohort command group."""
    app.add_typer(cohort_app, name="cohort")
