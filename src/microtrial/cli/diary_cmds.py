"""``microtrial diary``: record a day's diary from the command line, on a patient's behalf."""

from __future__ import annotations

from typing import Annotated

import typer

from microtrial.cli.common import DatabaseUrlOpt, console, handle_errors, open_db
from microtrial.domain.actors import system_actor
from microtrial.domain.patients import parse_date
from microtrial.errors import ValidationError

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


def parse_answer(text: str) -> tuple[str, object]:
    """One ``ITEM=VALUE`` answer: a whole number, true/false, empty (remove) or text."""
    item, sep, raw = text.partition("=")
    if not sep or not item.strip():
        raise ValidationError("answer", f"{text!r} is not ITEM=VALUE", value=text)
    value: object = raw.strip()
    if raw.strip().lstrip("-").isdigit():
        value = int(raw)
    elif raw.strip().lower() in ("true", "false"):
        value = raw.strip().lower() == "true"
    elif not raw.strip():
        value = None
    return item.strip(), value


@diary_app.command("correct")
def diary_correct(
    site: Annotated[str, typer.Option("--site", help="Site code.")],
    code: Annotated[str, typer.Option("--code", help="Patient study code.")],
    date: Annotated[str, typer.Option("--date", help="Diary day, YYYY-MM-DD (patient's local).")],
    reason: Annotated[str, typer.Option("--reason", help="Why the day is corrected (kept).")],
    instrument: Annotated[
        str, typer.Option("--instrument", help="Which instrument's entry of the day.")
    ] = "daily_diary",
    pain: Annotated[int | None, typer.Option("--pain", help="Average pain, 0-10.")] = None,
    worst: Annotated[int | None, typer.Option("--worst", help="Worst pain, 0-10.")] = None,
    sleep: Annotated[int | None, typer.Option("--sleep", help="Sleep quality, 0-10.")] = None,
    answer: Annotated[
        list[str] | None,
        typer.Option("--answer", help="ITEM=VALUE, repeatable; ITEM= removes the answer."),
    ] = None,
    note: Annotated[
        str | None, typer.Option("--note", help="The day's note (an empty one clears it).")
    ] = None,
    database_url: DatabaseUrlOpt = None,
) -> None:
    """Correct a saved day: a new version with the reason; the earlier one is kept."""
    from microtrial.services import diary_corrections, patients

    with handle_errors():
        day = parse_date("date", date)
        answers = dict(parse_answer(a) for a in answer or ())
    for item, value in (("average_pain", pain), ("worst_pain", worst), ("sleep_quality", sleep)):
        if value is not None:
            answers[item] = value
    correction = diary_corrections.DiaryCorrection(
        local_date=day,
        reason=reason,
        answers=answers,
        instrument_id=instrument,
        note=note,
        note_given=note is not None,
    )
    actor = system_actor()
    with open_db(database_url) as db, handle_errors():
        patient = patients.find_patient(db, actor, site, code)
        entry = diary_corrections.correct_diary_entry(db, actor, patient.id, correction)
    console.print(
        f"{instrument} for {code} on {entry.local_date} corrected (version {entry.version})"
    )


def register(app: typer.Typer) -> None:
    """Add the diary command group."""
    app.add_typer(diary_app, name="diary")
