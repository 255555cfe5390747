"""``microtrial patient``: enrol, list and show patients."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from microtrial.cli.common import DatabaseUrlOpt, JsonOpt, console, handle_errors, open_db
from microtrial.domain.actors import system_actor
from microtrial.domain.patients import SEXES

patient_app = typer.Typer(help="Enrol and look up patients.", no_args_is_help=True)


@patient_app.command("add")
def patient_add(
    site: Annotated[str, typer.Option("--site", help="Site code.")],
    code: Annotated[str, typer.Option("--code", help="Pseudonymous study code.")],
    birth_year: Annotated[int, typer.Option("--birth-year", help="Year of birth (adults).")],
    sex: Annotated[str, typer.Option("--sex", help=f"One of: {', '.join(SEXES)}.")],
    tz: Annotated[str, typer.Option("--tz", help="IANA time zone, e.g. Europe/London.")],
    condition: Annotated[
        list[str] | None, typer.Option("--condition", help="ICD-10-CM code; repeatable.")
    ] = None,
    database_url: DatabaseUrlOpt = None,
) -> None:
    """Enrol a patient under a study code (no names are stored)."""
    from microtrial.services import patients

    with open_db(database_url) as db, handle_errors():
        patient = patients.enrol_patient(
            db,
            system_actor(),
            site_code=site,
            study_code=code,
            birth_year=birth_year,
            sex=sex,
            time_zone=tz,
            conditions=condition or [],
        )
    console.print(f"patient {patient.study_code} enrolled at {patient.site_code} (id {patient.id})")


@patient_app.command("list")
def patient_list(
    site: Annotated[str | None, typer.Option("--site", help="Only this site.")] = None,
    as_json: JsonOpt = False,
    database_url: DatabaseUrlOpt = None,
) -> None:
    """List patients."""
    from microtrial.services import patients

    with open_db(database_url) as db, handle_errors():
        rows = patients.list_patients(db, system_actor(), site)
    if as_json:
        typer.echo(json.dumps([r.model_dump() for r in rows], indent=2))
        return
    table = Table("id", "site", "code", "birth year", "sex", "time zone")
    for r in rows:
        table.add_row(
            str(r.id), str(r.site_id), r.study_code, str(r.birth_year), r.sex, r.time_zone
        )
    console.print(table)


@patient_app.command("show")
def patient_show(
    site: Annotated[str, typer.Option("--site", help="Site code.")],
    code: Annotated[str, typer.Option("--code", help="Study code.")],
    database_url: DatabaseUrlOpt = None,
) -> None:
    """Show one patient's record as JSON."""
    from microtrial.services import patients

    with open_db(database_url) as db, handle_errors():
        patient = patients.find_patient(db, system_actor(), site, code)
    typer.echo(patient.model_dump_json(indent=2))


def register(app: typer.Typer) -> None:
    """Add the patient command group."""
    app.add_typer(patient_app, name="patient")
