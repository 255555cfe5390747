"""``microtrial patient``: enrol, list, show and screen patients, and sign screenings off.

``patient screen`` first stores what it is given (changed history answers, new medications and
conditions, clinic blood pressures: each through the same service the clinic pages use, so each
is audited and versioned), then screens the stored record. Every input is checked before the
first write, so a refused input leaves the record as it was.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo

import typer
from rich.table import Table

from microtrial.cli.catalog_cmds import (
    EXIT_BY_DECISION,
    HistoryNoOpt,
    HistoryOpt,
    MedOpt,
    OtherHistoryNoOpt,
    print_screening,
)
from microtrial.cli.common import (
    AsUserOpt,
    DatabaseUrlOpt,
    JsonOpt,
    acting_user,
    console,
    handle_errors,
    open_db,
)
from microtrial.domain.actors import system_actor
from microtrial.domain.patients import SEXES, check_icd10, parse_date
from microtrial.domain.screening import BloodPressure
from microtrial.errors import ValidationError

if TYPE_CHECKING:
    from microtrial.services.schemas import PatientRead

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
    as_user: AsUserOpt = None,
    database_url: DatabaseUrlOpt = None,
) -> None:
    """Enrol a patient under a study code (no names are stored)."""
    from microtrial.services import patients

    with open_db(database_url) as db, handle_errors():
        patient = patients.enrol_patient(
            db,
            acting_user(db, as_user),
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


SubstanceOpt = Annotated[str, typer.Option("--substance", help="psilocybin or lsd.")]
SiteOpt = Annotated[
    str | None, typer.Option("--site", help="Site code, if the study code repeats across sites.")
]


def _history_changes(
    flags: list[str], yes: list[str], no: list[str], rest_no: bool
) -> dict[str, bool]:
    """The history answers the options give (flag -> yes/no); unknown or doubled flags refused."""
    for option, given in (("--history", yes), ("--history-no", no)):
        unknown = sorted(set(given) - set(flags))
        if unknown:
            raise ValidationError(
                option, f"unknown history flag {unknown[0]!r}", value=unknown[0], allowed=flags
            )
    both = sorted(set(yes) & set(no))
    if both:
        raise ValidationError(
            "--history-no", f"history flag {both[0]!r} answered both yes and no", value=both[0]
        )
    answers = dict.fromkeys(yes, True) | dict.fromkeys(no, False)
    if rest_no:
        answers |= {flag: False for flag in flags if flag not in answers}
    return answers


def _changed_answers(patient: PatientRead, answers: dict[str, bool]) -> dict[str, bool]:
    """The given history answers that differ from the patient's current ones (or are new)."""
    current = {h.flag: h.value for h in patient.history}
    return {f: v for f, v in answers.items() if f not in current or current[f] is not v}


def _parse_bp(text: str, today: dt.date) -> tuple[dt.date, BloodPressure]:
    """One ``SYS/DIA[@YYYY-MM-DD]`` clinic reading; the day defaults to the patient's today."""
    reading, _, day = text.partition("@")
    return (parse_date("--bp", day) if day else today), BloodPressure.parse(reading)


@patient_app.command("screen")
def patient_screen(
    code: Annotated[str, typer.Argument(help="The stored patient's study code.")],
    substance: SubstanceOpt,
    site: SiteOpt = None,
    med: MedOpt = None,
    history: HistoryOpt = None,
    history_no: HistoryNoOpt = None,
    other_history_no: OtherHistoryNoOpt = False,
    condition: Annotated[
        list[str] | None,
        typer.Option("--condition", help="An active diagnosis, ICD-10-CM code (repeatable)."),
    ] = None,
    bp: Annotated[
        list[str] | None,
        typer.Option(
            "--bp",
            help="A clinic blood pressure, SYS/DIA[@YYYY-MM-DD] (default day: the patient's"
            " today; one per day, repeatable; screening judges the mean of the recent ones).",
        ),
    ] = None,
    as_json: JsonOpt = False,
    as_user: AsUserOpt = None,
    database_url: DatabaseUrlOpt = None,
) -> None:
    """Store screening answers for a stored patient, screen them and store the result.

    Exit code: 0 no-known-issues, 3 clinician-review (see `patient sign-off`), 4 do-not-start.
    """
    from microtrial.domain.access import Action, authorize
    from microtrial.domain.catalog import load_catalog
    from microtrial.services import patient_chart, patients, screening

    with handle_errors():
        substance = substance.strip().lower()
        substances = sorted(load_catalog().substances)
        if substance not in substances:
            raise ValidationError(
                "--substance", f"unknown substance {substance!r}", allowed=substances
            )
        answers = _history_changes(
            screening.history_flag_ids(), history or [], history_no or [], other_history_no
        )
        codes = [check_icd10(c) for c in condition or []]
        meds = list(med or [])
        for name in meds:
            if not name.strip() or len(name.strip()) > 200:
                raise ValidationError(
                    "--med", "empty or too long", value=name, allowed="1-200 chars"
                )
    with open_db(database_url) as db, handle_errors():
        actor = acting_user(db, as_user)
        # refused before anything is stored, rather than halfway through the writes
        for action in (Action.SCREEN, Action.RECORD_HISTORY, Action.ADD_RECORDS):
            authorize(actor, action)
        patient = patients.find_patient_by_code(db, actor, code, site)
        today = dt.datetime.now(ZoneInfo(patient.time_zone)).date()
        readings = [_parse_bp(text, today) for text in bp or []]
        days = [day for day, _ in readings]
        if any(day > today for day in days):
            raise ValidationError(
                "--bp", "a reading cannot be dated after today", allowed="<= today"
            )
        if len(set(days)) != len(days):
            raise ValidationError("--bp", "one clinic reading per day", allowed="distinct days")
        # readings first: their day is the one input only the service can refuse (backfill)
        for day, reading in readings:
            patient_chart.record_clinic_bp(
                db, actor, patient.id, day, reading.systolic, reading.diastolic
            )
        for flag, value in _changed_answers(patient, answers).items():
            patients.set_history_flag(db, actor, patient.id, flag, value)
        taking = {m.name_as_entered.strip().casefold() for m in patient.medications}
        for name in meds:
            if name.strip().casefold() not in taking:  # screening again adds no duplicate
                patients.add_medication(db, actor, patient.id, name)
                taking.add(name.strip().casefold())
        known = {c.icd10_code for c in patient.conditions}
        for icd in dict.fromkeys(codes):
            if icd not in known:
                patients.add_condition(db, actor, patient.id, icd)
        result = screening.screen_patient(db, actor, patient.id, substance)
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
    else:
        print_screening(result.substance, result.findings, result.decision)
        console.print(f"stored as screening {result.record_id} v{result.version}", highlight=False)
    raise typer.Exit(EXIT_BY_DECISION[result.decision])


@patient_app.command("sign-off")
def patient_sign_off(
    code: Annotated[str, typer.Argument(help="The stored patient's study code.")],
    substance: SubstanceOpt,
    reason: Annotated[str, typer.Option("--reason", help="The clinician's reason.")],
    as_user: Annotated[
        str, typer.Option("--as", help="The signing clinician's username (required).")
    ],
    site: SiteOpt = None,
    database_url: DatabaseUrlOpt = None,
) -> None:
    """Sign off the patient's current clinician-review screening (a clinician user only)."""
    from microtrial.services import patients, screening

    with open_db(database_url) as db, handle_errors():
        actor = acting_user(db, as_user)
        patient = patients.find_patient_by_code(db, actor, code, site)
        current = screening.latest_screening(db, actor, patient.id, substance.strip().lower())
        signed = screening.sign_off_screening(db, actor, current.record_id, reason)
    console.print(
        f"{substance} screening of {code} signed off by {signed.signed_off_by}", highlight=False
    )


def register(app: typer.Typer) -> None:
    """Add the patient command group."""
    app.add_typer(patient_app, name="patient")
