"""``microtrial diary``: record a day's diary from the command line, on a patient's behalf."""

from __future__ import annotations

from typing import Annotated

import typer

from microtrial.cli.common import DatabaseUrlOpt, console, handle_errors, open_db
from microtrial.domain.actors import system_actor
from microtrial.domain.patients import parse_date

diary_app = typer.Typer(help="Record daily diary entries.", no_args_is_help=True)


@diary_app.command("add")
def diary_add(
    site: Annotated[str, typer.Option("--site", help="Site code.")],
    code: Annotated[str, typer.Option("--code", help="Patient study code.")],
    date: Annotated[str, typer.Option("--date", help="Diary day, YYYY-MM-DD (patient's local).")],
    pain: Annotated[int, typer.Option("--pain", help="Average pain in the last 24 h, 0-10.")],
    worst: Annotated[int | None, typer.Option("--worst", help="Worst pain, 0-10.")] = None,
    sleep: Annotated[int | None, typer.Option("--sleep", help="Sleep quality, 0-10.")] = None,
    database_url: DatabaseUrlOpt = None,
) -> None:
    """Record one day's diary for a patient."""
    from microtrial.services import patients, records

    with handle_errors():
        day = parse_date("date", date)
    answers: dict[str, object] = {"average_pain": pain}
    if worst is not None:
        answers["worst_pain"] = worst
    if sleep is not None:
        answers["sleep_quality"] = sleep
    actor = system_actor()
    with open_db(database_url) as db, handle_errors():
        patient = patients.find_patient(db, actor, site, code)
        entry = records.record_diary_entry(
            db, actor, patient.id, records.DiaryInput(local_date=day, answers=answers)
        )
    console.print(f"diary for {code} on {entry.local_date} recorded")


def register(app: typer.Typer) -> None:
    """Add the diary command group."""
    app.add_typer(diary_app, name="diary")
