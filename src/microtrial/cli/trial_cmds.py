"""``microtrial trial``: plan, inspect, advance, prepare kits for and unblind n-of-1 trials."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from microtrial.cli.common import (
    AsUserOpt,
    DatabaseUrlOpt,
    JsonOpt,
    acting_user,
    check_output,
    console,
    handle_errors,
    open_db,
)
from microtrial.domain.actors import system_actor
from microtrial.domain.patients import parse_date
from microtrial.files import write_private

if TYPE_CHECKING:
    from microtrial.domain.calendar import TrialCalendar
    from microtrial.services.trial_views import TrialRead

# Heavy modules (services, reports, interop) are imported inside each command so that the
# command line starts quickly.
ACTIONS = "confirm-screening, schedule, start, pause, resume, complete, withdraw"

trial_app = typer.Typer(help="Plan and run blinded n-of-1 trials.", no_args_is_help=True)


def _print_calendar(calendar: TrialCalendar) -> None:
    table = Table("date", "phase", "period", "wash-in", "dose", "kit")
    for day in calendar.days:
        table.add_row(
            day.date.isoformat(),
            day.phase.value,
            str(day.period or ""),
            "yes" if day.is_wash_in else "",
            "DOSE" if day.is_dose_day else "",
            day.kit_code or "",
        )
    console.print(table)


def _print_trial(trial: TrialRead) -> None:
    console.print(
        f"trial {trial.id} - patient {trial.patient_code} - [bold]{trial.status}[/]"
        + (f" ({trial.status_reason})" if trial.status_reason else "")
    )
    console.print(f"regimen: {trial.regimen}")
    if not trial.sub_perceptual:
        console.print("[yellow]note: this regimen is not sub-perceptual in published trials[/]")
    table = Table("period", "start", "end", "wash-in days", "kit", "arm")
    for p in trial.periods:
        table.add_row(
            str(p.number),
            p.start_date.isoformat(),
            p.end_date.isoformat(),
            str(p.wash_in_days),
            p.kit_code,
            p.arm or "(blinded)",
        )
    console.print(table)
    if trial.unblinded_early:
        console.print(f"[red]unblinded early for safety:[/] {trial.unblind_reason}")


@trial_app.command("plan")
def plan(
    patient: Annotated[str, typer.Option("--patient", help="Patient study code.")],
    regimen: Annotated[str, typer.Option("--regimen", help="Regimen template name.")],
    substance: Annotated[str, typer.Option("--substance", help="psilocybin or lsd.")],
    amount: Annotated[
        float, typer.Option("--amount", help="Amount per dose (clinician's choice).")
    ],
    unit: Annotated[
        str, typer.Option("--unit", help="µg (lsd) or 'mg dried material' (psilocybin).")
    ],
    site: Annotated[str | None, typer.Option("--site", help="Site code, if codes repeat.")] = None,
    weekday: Annotated[
        list[str] | None, typer.Option("--weekday", help="Dose weekday (twice_weekly).")
    ] = None,
    start: Annotated[
        str | None, typer.Option("--start", help="First run-in day, YYYY-MM-DD.")
    ] = None,
    run_in: Annotated[int, typer.Option("--run-in", help="Run-in days without capsules.")] = 7,
    pairs: Annotated[int, typer.Option("--pairs", help="Blocks of active/placebo (2-6).")] = 3,
    period_days: Annotated[int, typer.Option("--period-days", help="Days per period.")] = 14,
    wash_in: Annotated[int, typer.Option("--wash-in", help="Wash-in days per period.")] = 3,
    max_run: Annotated[
        int | None, typer.Option("--max-run", help="Longest run of one arm allowed.")
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Allocation seed (default: random).")
    ] = None,
    as_json: JsonOpt = False,
    as_user: AsUserOpt = None,
    database_url: DatabaseUrlOpt = None,
) -> None:
    """Plan a trial (a draft until `trial advance ID confirm-screening`); print its calendar."""
    from microtrial.domain.design import DesignSpec
    from microtrial.services import patients, trial_planning, trial_views
    from microtrial.services.trial_planning import RegimenChoice

    with handle_errors():
        start_date = parse_date("start", start) if start else dt.date.today()
        spec = DesignSpec(
            run_in_days=run_in,
            pairs=pairs,
            period_days=period_days,
            wash_in_days=wash_in,
            max_run_length=max_run,
        )
        choice = RegimenChoice(
            template=regimen,
            substance=substance,
            amount=amount,
            unit=unit,
            weekdays=tuple(weekday) if weekday else None,
        )
    with open_db(database_url) as db, handle_errors():
        actor = acting_user(db, as_user)
        who = patients.find_patient_by_code(db, actor, patient, site)
        trial = trial_planning.plan_trial(
            db, actor, who.id, choice, spec, start_date=start_date, seed=seed
        )
        calendar = trial_views.trial_calendar(db, actor, trial.id)
    if as_json:
        typer.echo(trial.model_dump_json(indent=2))
        return
    _print_trial(trial)
    _print_calendar(calendar)


@trial_app.command("list")
def list_(as_json: JsonOpt = False, database_url: DatabaseUrlOpt = None) -> None:
    """List trials."""
    from microtrial.services import trial_views

    with open_db(database_url) as db, handle_errors():
        rows = trial_views.list_trials(db, system_actor())
    if as_json:
        typer.echo(json.dumps([r.model_dump(mode="json") for r in rows], indent=2))
        return
    table = Table("id", "patient", "status", "regimen", "start")
    for r in rows:
        table.add_row(str(r.id), r.patient_code, r.status, r.regimen_name, r.start_date.isoformat())
    console.print(table)


@trial_app.command("show")
def show(
    trial_id: Annotated[int, typer.Argument(help="Trial id.")],
    as_json: JsonOpt = False,
    database_url: DatabaseUrlOpt = None,
) -> None:
    """Show a trial: status, regimen, periods and the day-by-day calendar."""
    from microtrial.services import trial_views

    actor = system_actor()
    with open_db(database_url) as db, handle_errors():
        trial = trial_views.get_trial(db, actor, trial_id)
        calendar = trial_views.trial_calendar(db, actor, trial_id)
    if as_json:
        payload = trial.model_dump(mode="json")
        payload["calendar"] = [
            {
                "date": d.date.isoformat(),
                "phase": d.phase.value,
                "period": d.period,
                "wash_in": d.is_wash_in,
                "dose": d.is_dose_day,
                "kit": d.kit_code,
            }
            for d in calendar.days
        ]
        typer.echo(json.dumps(payload, indent=2))
        return
    _print_trial(trial)
    _print_calendar(calendar)


@trial_app.command("advance")
def advance(
    trial_id: Annotated[int, typer.Argument(help="Trial id.")],
    action: Annotated[str, typer.Argument(help=ACTIONS)],
    reason: Annotated[
        str | None, typer.Option("--reason", help="Why (pause, resume, ...).")
    ] = None,
    as_user: AsUserOpt = None,
    database_url: DatabaseUrlOpt = None,
) -> None:
    """Move a trial through its lifecycle (guards apply: screening, safety holds).

    draft -confirm-screening-> screened -schedule-> scheduled -start-> running
    (-pause-> paused -resume-> running) -complete-> completed; `trial unblind` then. withdraw
    ends a trial before completion. A refused step changes nothing.
    """
    from microtrial.services import trial_lifecycle

    with open_db(database_url) as db, handle_errors():
        actor = acting_user(db, as_user)
        trial = trial_lifecycle.transition(db, actor, trial_id, action, reason=reason)
    console.print(f"trial {trial.id} is now {trial.status}")


@trial_app.command("kits")
def kits(
    trial_id: Annotated[int, typer.Argument(help="Trial id.")],
    pdf: Annotated[Path, typer.Option("--pdf", help="Where to write the kit pack PDF.")],
    database_url: DatabaseUrlOpt = None,
) -> None:
    """Write the UNBLINDED preparation sheet and the kit labels (QR codes) as one PDF."""
    from microtrial.reports.kits import kit_pack_pdf
    from microtrial.services import trial_allocation
    from microtrial.services.report_data import is_demo_database

    check_output(pdf, "--pdf")
    with open_db(database_url) as db, handle_errors():
        prep = trial_allocation.kit_preparation(db, system_actor(), trial_id)
        simulated = is_demo_database(db)
    write_private(pdf, kit_pack_pdf(prep, dt.date.today(), simulated=simulated))
    console.print(f"kit pack for trial {trial_id} written to {pdf} (UNBLINDED: pharmacy only)")


@trial_app.command("ics")
def ics(
    trial_id: Annotated[int, typer.Argument(help="Trial id.")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the .ics file.")],
    database_url: DatabaseUrlOpt = None,
) -> None:
    """Export the dose calendar as iCalendar reminders (no arm)."""
    from microtrial.interop.ical import calendar_to_ics
    from microtrial.services import trial_views

    check_output(out, "--out")
    with open_db(database_url) as db, handle_errors():
        calendar = trial_views.trial_calendar(db, system_actor(), trial_id)
        text = calendar_to_ics(
            calendar,
            uid_prefix=f"microtrial-{trial_id}",
            generated_at=dt.datetime.now(dt.UTC),
        )
    write_private(out, text.encode())
    console.print(f"{len(calendar.dose_dates)} dose reminders written to {out}")


@trial_app.command("unblind")
def unblind(
    trial_id: Annotated[int, typer.Argument(help="Trial id.")],
    reason: Annotated[
        str | None,
        typer.Option(
            "--reason",
            help="Why (optional for a completed trial; before the end the blind is broken only"
            " for safety, by a clinician of the site (--as) giving a reason).",
        ),
    ] = None,
    as_user: AsUserOpt = None,
    database_url: DatabaseUrlOpt = None,
) -> None:
    """Unblind a completed trial (early only by a clinician of the site, --as, with --reason)."""
    from microtrial.services import trial_lifecycle

    with open_db(database_url) as db, handle_errors():
        actor = acting_user(db, as_user)
        trial = trial_lifecycle.unblind_trial(db, actor, trial_id, reason)
    _print_trial(trial)


def register(app: typer.Typer) -> None:
    """Add the trial command group."""
    app.add_typer(trial_app, name="trial")
