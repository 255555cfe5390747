"""``microtrial export fhir|research|redcap-records|redcap-dictionary`` and ``import``."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from microtrial.cli.common import (
    DatabaseUrlOpt,
    check_output,
    console,
    fail,
    handle_errors,
    load_settings,
    open_db,
    read_input,
)
from microtrial.domain.actors import system_actor
from microtrial.errors import ValidationError
from microtrial.files import write_private
from microtrial.settings import export_secret

export_app = typer.Typer(help="Export data: FHIR R4, REDCap, de-identified research.")
if TYPE_CHECKING:
    from microtrial.interop.imported import ImportedInstrument

import_app = typer.Typer(help="Import instruments: REDCap data dictionaries, FHIR Questionnaires.")

PatientOpt = Annotated[str | None, typer.Option("--patient", help="A patient's study code.")]
TrialOpt = Annotated[int | None, typer.Option("--trial", help="A trial id.")]
SiteOpt = Annotated[str | None, typer.Option("--site", help="Every patient of a site.")]
DirOpt = Annotated[
    Path | None,
    typer.Option(
        "--dir",
        help="User instrument folder (default: $MICROTRIAL_INSTRUMENT_DIR; a relative one lies"
        " beside the SQLite database file).",
    ),
]


@export_app.command("fhir")
def export_fhir(
    out: Annotated[Path, typer.Option("--out", help="Bundle JSON file to write.")],
    patient: PatientOpt = None,
    trial: TrialOpt = None,
    site: SiteOpt = None,
    database_url: DatabaseUrlOpt = None,
) -> None:
    """Write a FHIR R4 transaction Bundle for a patient, a trial or a site."""
    from microtrial.services import exports

    check_output(out, "--out")
    with open_db(database_url) as db, handle_errors():
        scope = exports.ExportScope(patient, trial, site)
        bundle = exports.export_fhir_bundle(db, system_actor(), scope)
    write_private(out, json.dumps(bundle, indent=2, ensure_ascii=False) + "\n")
    console.print(f"wrote {len(bundle['entry'])} entries to {out}", highlight=False)


@export_app.command("research")
def export_research(
    out: Annotated[Path, typer.Option("--out", help="Folder for the tables and manifest.")],
    fmt: Annotated[str, typer.Option("--format", help="csv or parquet.")] = "csv",
    k: Annotated[int, typer.Option("--k", help="k-anonymity threshold.", min=2)] = 5,
    site: SiteOpt = None,
    refuse: Annotated[
        bool, typer.Option("--refuse", help="Refuse below k instead of generalising.")
    ] = False,
    database_url: DatabaseUrlOpt = None,
) -> None:
    """Write the de-identified research export (allow-listed, pseudonymised, k-anonymous)."""
    from microtrial.interop.research import write_research_export
    from microtrial.services import exports

    if fmt not in ("csv", "parquet"):
        fail(f"--format: unknown format {fmt!r} (allowed: csv, parquet)")
    chosen: Literal["csv", "parquet"] = "csv" if fmt == "csv" else "parquet"
    check_output(out, "--out", folder=True)
    with open_db(database_url) as db, handle_errors():
        secret = export_secret(load_settings(database_url))
        tables = exports.research_export(
            db,
            system_actor(),
            secret=secret,
            k=k,
            site_code=site,
            policy="refuse" if refuse else "generalise",
        )
        manifest = write_research_export(tables, out, chosen)
    rows = ", ".join(f"{name} {t['rows']}" for name, t in manifest["tables"].items())
    console.print(f"wrote {out} ({rows})", highlight=False)


@export_app.command("rotate-key")
def export_rotate_key(
    key_file: Annotated[
        Path | None,
        typer.Option(
            "--key-file", help="Key file to (re)write (default $MICROTRIAL_EXPORT_SECRET_FILE)."
        ),
    ] = None,
) -> None:
    """Write a new random research-export key into a 0600 key file (replacing the old key)."""
    settings = load_settings(None)
    path = key_file or (Path(settings.export_secret_file) if settings.export_secret_file else None)
    if path is None:
        fail("--key-file: no key file named (nor MICROTRIAL_EXPORT_SECRET_FILE set)")
    check_output(path, "--key-file")
    write_private(path, secrets.token_urlsafe(48) + "\n")
    console.print(
        f"wrote a new export key to {path} (mode 0600); point MICROTRIAL_EXPORT_SECRET_FILE at it "
        "for the server and the CLI and restart the server. Pseudonyms of earlier exports will "
        "not match those made with the new key.",
        highlight=False,
    )
    if settings.export_secret:
        console.print(
            "warning: MICROTRIAL_EXPORT_SECRET is set and wins over the key file; unset it",
            highlight=False,
        )


@export_app.command("redcap-records")
def export_redcap_records(
    out: Annotated[Path, typer.Option("--out", help="CSV file to write.")],
    patient: PatientOpt = None,
    trial: TrialOpt = None,
    site: SiteOpt = None,
    instrument: Annotated[
        list[str] | None, typer.Option("--instrument", help="Only this instrument (repeatable).")
    ] = None,
    database_url: DatabaseUrlOpt = None,
) -> None:
    """Write diary records as a REDCap import CSV, with its events and instrument-event mapping.

    The two longitudinal files land beside ``--out``: ``<name>_events.csv`` and
    ``<name>_instrument_event_mapping.csv``.
    """
    from microtrial.services import exports

    check_output(out, "--out")
    with open_db(database_url) as db, handle_errors():
        scope = exports.ExportScope(patient, trial, site)
        project = exports.export_redcap_project(db, system_actor(), scope, instruments=instrument)
    events = out.with_name(f"{out.stem}_events.csv")
    mapping = out.with_name(f"{out.stem}_instrument_event_mapping.csv")
    write_private(out, project.records)
    write_private(events, project.events)
    write_private(mapping, project.mapping)
    records = max(project.records.count(chr(10)) - 1, 0)
    console.print(
        f"wrote {records} records to {out}, events to {events.name} and the "
        f"instrument-event mapping to {mapping.name} beside it",
        highlight=False,
        soft_wrap=True,
    )


def _instrument_dir(directory: Path | None, database_url: str | None) -> Path:
    """``--dir`` when given, else the configured folder (``Settings.instrument_path``)."""
    return directory if directory is not None else load_settings(database_url).instrument_path()


@export_app.command("redcap-dictionary")
def export_redcap_dictionary(
    out: Annotated[Path, typer.Option("--out", help="CSV file to write.")],
    instrument: Annotated[
        list[str], typer.Option("--instrument", help="Catalog or user instrument id (repeatable).")
    ],
    api_keys: Annotated[
        bool, typer.Option("--api-keys", help="snake_case API column names.")
    ] = False,
    directory: DirOpt = None,
    database_url: DatabaseUrlOpt = None,
) -> None:
    """Write instruments as a REDCap data dictionary (re-imports to the same instruments)."""
    from microtrial.domain.catalog import Instrument, load_catalog
    from microtrial.interop.imported import load_user_instrument
    from microtrial.interop.redcap import dictionary_csv

    check_output(out, "--out")
    with handle_errors():
        catalog = load_catalog()
        folder = _instrument_dir(directory, database_url)
        chosen: list[ImportedInstrument | Instrument] = []
        for name in instrument:
            if name in catalog.instruments:
                chosen.append(catalog.instruments[name])
            elif (folder / f"{name}.yaml").exists():
                chosen.append(load_user_instrument(folder / f"{name}.yaml"))
            else:
                raise ValidationError(
                    "--instrument", f"no instrument {name!r}", allowed=sorted(catalog.instruments)
                )
        text = dictionary_csv(chosen, api_keys=api_keys)
    write_private(out, text)
    console.print(f"wrote {len(chosen)} instrument(s) to {out}", highlight=False)


def _read(path: Path) -> bytes:
    return read_input(path)


def _save(
    items: list[ImportedInstrument], warnings: list[str], folder: Path, replace: bool
) -> None:
    from microtrial.interop.imported import save_user_instrument

    for warning in warnings:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
    for imported in items:
        path = save_user_instrument(imported, folder, replace=replace)
        console.print(
            f"imported {imported.instrument.id} ({len(imported.instrument.items)} items) -> {path}",
            highlight=False,
        )


@import_app.command("redcap")
def import_redcap(
    file: Annotated[Path, typer.Argument(help="A REDCap data dictionary (CSV).")],
    form: Annotated[str | None, typer.Option("--form", help="Only this form.")] = None,
    directory: DirOpt = None,
    database_url: DatabaseUrlOpt = None,
    replace: Annotated[bool, typer.Option("--replace", help="Overwrite existing files.")] = False,
    drop_identifiers: Annotated[
        bool,
        typer.Option(
            "--drop-identifiers",
            help="Leave out fields flagged as identifiers (never stored); without it they refuse.",
        ),
    ] = False,
) -> None:
    """Import a REDCap data dictionary: one user instrument per form."""
    from microtrial.interop.redcap import import_dictionary

    with handle_errors():
        data = read_input(file, utf8=False)  # UTF-8 or Windows-1252: the importer decides
        try:
            result = import_dictionary(data, form=form, drop_identifiers=drop_identifiers)
        except ValidationError as err:
            if err.field != "dictionary":
                raise
            raise ValidationError(str(file), str(err).removeprefix("dictionary: ")) from None
        _save(
            list(result.instruments),
            list(result.warnings),
            _instrument_dir(directory, database_url),
            replace,
        )


@import_app.command("questionnaire")
def import_fhir_questionnaire(
    file: Annotated[Path, typer.Argument(help="A FHIR R4 Questionnaire (JSON).")],
    directory: DirOpt = None,
    database_url: DatabaseUrlOpt = None,
    replace: Annotated[bool, typer.Option("--replace", help="Overwrite existing files.")] = False,
) -> None:
    """Import a FHIR Questionnaire as a user instrument."""
    from microtrial.interop.questionnaire import import_questionnaire

    with handle_errors():
        imported = import_questionnaire(_read(file))
        _save(
            [imported], list(imported.warnings), _instrument_dir(directory, database_url), replace
        )


def register(app: typer.Typer) -> None:
    """Add the ``export`` and ``import`` command groups."""
    app.add_typer(export_app, name="export", no_args_is_help=True)
    app.add_typer(import_app, name="import", no_args_is_help=True)
