"""CLI: ``screen``, ``score`` and ``catalog list|show|validate|check-instrument``.

These commands need no database: they read only the packaged catalog (and, for
``check-instrument`` / ``score --definition``, a user's own instrument file).

In ``screen``, a history flag is "yes" with ``--history``, "no" with ``--history-no`` (or with
``--other-history-no`` for every flag not passed), and otherwise unanswered, as in stored-patient
screening (services): an unanswered required question needs clinician review, so a screen with no
history cannot clear a patient. ``--pregnant`` not passed counts as "not pregnant", and a missing
``--age`` is a finding that needs clinician review.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.table import Table

from microtrial.cli.common import (
    DatabaseUrlOpt,
    JsonOpt,
    console,
    fail,
    handle_errors,
    load_settings,
    read_input_text,
)
from microtrial.domain.alerts import alerts_for_score
from microtrial.domain.catalog import (
    CATALOG_FILES,
    Catalog,
    catalog_problems,
    load_catalog,
    parse_catalog,
    parse_instrument,
)
from microtrial.domain.medications import match_medication
from microtrial.domain.regimen_catalog import parse_regimen_catalog
from microtrial.domain.scoring import score as score_answers
from microtrial.domain.screening import BloodPressure, PatientSnapshot, screen
from microtrial.domain.translation_catalog import parse_instrument_translations
from microtrial.errors import MicroTrialError, ValidationError
from microtrial.i18n import LANGUAGES
from microtrial.interop.imported import list_user_instruments

EXIT_BY_DECISION = {"no-known-issues": 0, "clinician-review": 3, "do-not-start": 4}

# The screening inputs ``screen`` and ``patient screen`` share.
MedOpt = Annotated[
    list[str] | None,
    typer.Option("--med", help="A medication as entered (repeatable)."),
]
HistoryOpt = Annotated[
    list[str] | None,
    typer.Option("--history", help="A history flag answered 'yes' (repeatable)."),
]
HistoryNoOpt = Annotated[
    list[str] | None,
    typer.Option("--history-no", help="A history flag answered 'no' (repeatable)."),
]
OtherHistoryNoOpt = Annotated[
    bool,
    typer.Option(
        "--other-history-no",
        help="Every history question not passed with --history was asked and answered 'no'.",
    ),
]

catalog_app = typer.Typer(help="Inspect and validate the clinical catalog.", no_args_is_help=True)


def _echo_json(data: object) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def screen_cmd(
    substance: Annotated[
        str | None,
        typer.Option("--substance", help="Planned substance: psilocybin or lsd."),
    ] = None,
    med: MedOpt = None,
    history: HistoryOpt = None,
    history_no: HistoryNoOpt = None,
    other_history_no: OtherHistoryNoOpt = False,
    condition: Annotated[
        list[str] | None,
        typer.Option("--condition", help="A condition id or ICD-10-CM code (repeatable)."),
    ] = None,
    age: Annotated[int | None, typer.Option("--age", min=0, max=130)] = None,
    pregnant: Annotated[bool, typer.Option("--pregnant", help="The patient is pregnant.")] = False,
    bp: Annotated[
        list[str] | None,
        typer.Option(
            "--bp",
            help="A recent resting blood pressure, SYS/DIA (repeatable: one per occasion, each "
            "on a different day; screening judges their mean).",
        ),
    ] = None,
    list_history_flags: Annotated[
        bool, typer.Option("--list-history-flags", help="List accepted history flags and exit.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Screen a patient for contraindications and interactions.

    Exit code: 0 no-known-issues, 3 clinician-review, 4 do-not-start (2 for bad input).
    History flags not passed are unanswered (a required one needs clinician review) unless
    --other-history-no says they were answered 'no'.
    """
    with handle_errors():
        catalog = load_catalog()
        if list_history_flags:
            _print_history_flags(catalog, as_json)
            return
        if substance is None:
            fail("--substance is required (psilocybin or lsd)")
        answers = _history_answers(catalog, history or [], history_no or [], other_history_no)
        snapshot = PatientSnapshot(
            history=answers,
            pregnant=pregnant,
            conditions=tuple(condition or ()),
            medications=tuple(med or ()),
            blood_pressures=tuple(BloodPressure.parse(reading) for reading in bp or ()),
            age=age,
        )
        result = screen(snapshot, substance.lower(), catalog)
    if as_json:
        _echo_json(result.as_dict())
    else:
        print_screening(result.substance, [f.as_dict() for f in result.findings], result.decision)
    raise typer.Exit(EXIT_BY_DECISION[result.decision])


def print_screening(substance: str, findings: list[dict[str, Any]], decision: str) -> None:
    """Print a screening's findings (with rationale and sources) and its decision."""
    table = Table(title=f"Screening for {substance}")
    for column in ("severity", "code", "title", "matched"):
        table.add_column(column)
    for finding in findings:
        table.add_row(
            finding["severity"], finding["code"], finding["title"], finding.get("matched") or ""
        )
    console.print(table)
    for finding in findings:
        console.print(f"[bold]{finding['code']}[/]: {finding['rationale']}", highlight=False)
        for source in finding.get("sources") or ():
            console.print(f"    source: {source}", highlight=False)
    console.print(f"decision: [bold]{decision}[/]")


def _history_answers(
    catalog: Catalog, yes: list[str], no: list[str], rest_no: bool
) -> dict[str, bool | None]:
    """History answers from the options: yes, no, or unanswered (None)."""
    for option, flags in (("--history", yes), ("--history-no", no)):
        unknown = sorted(set(flags) - set(catalog.history_flags))
        if unknown:
            raise ValidationError(
                option,
                f"unknown history flag {unknown[0]!r}",
                value=unknown[0],
                allowed=sorted(catalog.history_flags),
            )
    both = sorted(set(yes) & set(no))
    if both:
        raise ValidationError(
            "--history-no", f"history flag {both[0]!r} answered both yes and no", value=both[0]
        )
    answers: dict[str, bool | None] = {}
    for flag in catalog.history_flags:
        if flag in yes:
            answers[flag] = True
        elif flag in no or rest_no:
            answers[flag] = False
        else:
            answers[flag] = None
    return answers


def _print_history_flags(catalog: Catalog, as_json: bool) -> None:
    flags = list(catalog.history_flags.values())
    if as_json:
        _echo_json([f.model_dump() for f in flags])
        return
    table = Table(
        title="History flags (--history FLAG for each 'yes', --history-no FLAG for each 'no')"
    )
    for column in ("flag", "required", "question"):
        table.add_column(column)
    for flag in flags:
        table.add_row(flag.id, "yes" if flag.required else "no", flag.question)
    console.print(table)


def score_cmd(
    instrument: Annotated[str, typer.Argument(help="Instrument id, e.g. phq9.")],
    answers: Annotated[str, typer.Option("--answers", help='JSON object {"item": value, ...}.')],
    definition: Annotated[
        Path | None,
        typer.Option("--definition", help="A user-loaded instrument file (YAML or JSON)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Score one set of answers: totals, bands, flags and alerts."""
    with handle_errors():
        try:
            parsed = json.loads(answers)
        except json.JSONDecodeError as err:
            raise ValidationError("--answers", f"not valid JSON: {err.msg}") from err
        if not isinstance(parsed, dict):
            raise ValidationError("--answers", "must be a JSON object", value=answers)
        target: Any = instrument
        if definition is not None:
            target = parse_instrument(read_input_text(definition))
            if target.id != instrument:
                raise ValidationError(
                    "instrument",
                    "does not match the definition's id",
                    value=instrument,
                    allowed=target.id,
                )
        result = score_answers(target, parsed)
        alerts = alerts_for_score(result)
    if as_json:
        _echo_json(
            {
                "instrument": result.instrument_id,
                "version": result.instrument_version,
                "primary_score": result.primary_score,
                "scores": {
                    s.id: {
                        "value": s.value,
                        "band": s.band,
                        "min": s.min,
                        "max": s.max,
                        "prorated": s.prorated,
                        "note": s.note,
                    }
                    for s in result.scores.values()
                },
                "flags": [{"id": f.id, "title": f.title} for f in result.flags],
                "alerts": [a.as_dict() for a in alerts],
            }
        )
        return
    table = Table(title=f"{result.instrument_id} v{result.instrument_version}")
    for column in ("score", "value", "range", "band"):
        table.add_column(column)
    for s in result.scores.values():
        value = "—" if s.value is None else f"{s.value:g}" + (" (prorated)" if s.prorated else "")
        table.add_row(s.title, value, f"{s.min:g}–{s.max:g}", s.band or s.note or "")
    console.print(table)
    for flag in result.flags:
        console.print(f"flag: {flag.title}", highlight=False)
    for alert in alerts:
        console.print(
            f"[bold red]ALERT {alert.severity}[/] {alert.code} -> {alert.action}: {alert.message}",
            highlight=False,
        )


@catalog_app.command("list")
def list_cmd(
    kind: Annotated[
        str,
        typer.Option(
            "--kind",
            help="instruments, licensed, conditions, groups, rules, classes, substances, alerts,"
            " user (imported instruments).",
        ),
    ] = "all",
    as_json: JsonOpt = False,
    database_url: DatabaseUrlOpt = None,
) -> None:
    """List catalog entries."""
    with handle_errors():
        catalog = load_catalog()
        listing = _listing(catalog)
        listing["user"] = list_user_instruments(load_settings(database_url).instrument_path())
        if kind != "all":
            if kind not in listing:
                raise ValidationError("--kind", "unknown kind", value=kind, allowed=list(listing))
            listing = {kind: listing[kind]}
    if as_json:
        _echo_json(listing)
        return
    for name, entries in listing.items():
        table = Table(title=name)
        table.add_column("id")
        table.add_column("title")
        for entry_id, title in entries.items():
            table.add_row(entry_id, title)
        console.print(table)


def _listing(catalog: Catalog) -> dict[str, dict[str, str]]:
    alerts = catalog.alerts
    alert_rules: list[Any] = [
        *alerts.instrument_rules,
        alerts.adverse_event,
        alerts.persistent_grade2,
        *alerts.symptom_rules,
        *alerts.blood_pressure_rules,
        alerts.blood_pressure_strict,
        alerts.pain_flare,
        alerts.pain_worsening,
        alerts.headache_worsening,
        alerts.missed_diary,
        alerts.dose_off_calendar,
        alerts.dose_during_hold,
        alerts.multiple_doses_per_day,
        alerts.wrong_kit,
        alerts.kit_not_dispensed,
        alerts.new_medication,
    ]
    screening_rules: list[Any] = [
        *catalog.condition_rules,
        catalog.pregnancy_rule,
        catalog.age_rule,
        *catalog.blood_pressure_rules,
        *catalog.interaction_rules,
        *catalog.timing_rules,
    ]
    return {
        "instruments": {i.id: i.title for i in catalog.instruments.values()},
        "licensed": {
            i.id: f"{i.title} (not shipped)" for i in catalog.licensed_instruments.values()
        },
        "conditions": {
            c.id: f"{c.title} [{', '.join(x.code for x in c.codes)}]"
            for c in catalog.conditions.values()
        },
        "groups": {g.id: g.title for g in catalog.groups.values()},
        "rules": {r.id: r.title for r in screening_rules},
        "classes": {c.id: c.title for c in catalog.medication_classes.values()},
        "substances": {s.id: s.title for s in catalog.substances.values()},
        "alerts": {a.code: f"{a.severity}/{a.action}" for a in alert_rules},
    }


@catalog_app.command("show")
def show_cmd(
    name: Annotated[
        str, typer.Argument(help="An instrument, condition, group, rule, ICD-10 code or drug.")
    ],
    as_json: JsonOpt = False,
) -> None:
    """Show one catalog entry in full (a medication name shows its match)."""
    with handle_errors():
        catalog = load_catalog()
        data = _find(catalog, name)
        if data is None:
            raise ValidationError(
                "name",
                f"nothing in the catalog is called {name!r}",
                value=name,
                allowed="instrument, condition, group, rule or history-flag ids, "
                "ICD-10-CM codes, medication names",
            )
    if as_json:
        _echo_json(data)
    else:
        typer.echo(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100))


def _find(catalog: Catalog, name: str) -> dict[str, Any] | None:
    tables: list[dict[str, Any]] = [
        catalog.instruments,
        catalog.licensed_instruments,
        catalog.conditions,
        catalog.groups,
        catalog.evidence_notes,
        catalog.history_flags,
        catalog.substances,
        {r.id: r for r in catalog.condition_rules},
        {r.id: r for r in catalog.interaction_rules},
        {r.id: r for r in catalog.timing_rules},
        {r.id: r for r in catalog.combination_rules},
        {r.id: r for r in catalog.blood_pressure_rules},
        {catalog.pregnancy_rule.id: catalog.pregnancy_rule, catalog.age_rule.id: catalog.age_rule},
    ]
    for table in tables:
        if name in table:
            dumped: dict[str, Any] = table[name].model_dump(mode="json", exclude_defaults=True)
            return dumped
    condition = catalog.condition_by_code(name)
    if condition is not None:
        return condition.model_dump(mode="json", exclude_defaults=True)
    match = match_medication(name, catalog)
    if match.recognised:
        return {
            "entered": match.entered,
            "ingredients": list(match.ingredients),
            "classes": list(match.classes),
            "matched_names": list(match.matched_names),
            "did_you_mean": {s.word: list(s.names) for s in match.suggestions},
            "unrecognised": list(match.unrecognised),
        }
    return None


# Files in the catalog folder that other modules validate: name -> parser of the text, given the
# folder's own catalog (its substance and source ids) when that is valid.
OTHER_VALIDATORS: dict[str, Callable[[str, Catalog | None], object]] = {
    "regimens.yaml": lambda text, catalog: parse_regimen_catalog(
        text,
        origin="regimens.yaml",
        substances=None if catalog is None else catalog.substances,
        source_ids=None if catalog is None else catalog.sources,
    ),
    "instrument_translations.yaml": lambda text, catalog: parse_instrument_translations(
        text, catalog, LANGUAGES
    ),
}


def _catalog_folder_texts(directory: Path | None) -> dict[str, str]:
    """Every data file in the catalog folder (the package's, or ``directory``)."""
    if directory is None:
        root: Traversable = resources.files("microtrial.catalog")
    else:
        root = directory
    if directory is not None and not directory.is_dir():
        fail(f"--dir {directory}: not a folder")
    return {
        # a user's folder is input: its files are refused one line each if binary or not UTF-8
        entry.name: read_input_text(entry) if isinstance(entry, Path) else entry.read_text("utf-8")
        for entry in root.iterdir()
        if entry.is_file() and entry.name.endswith((".yaml", ".yml", ".json"))
    }


@catalog_app.command("validate")
def validate_cmd(
    directory: Annotated[
        Path | None,
        typer.Option("--dir", help="Validate catalog files in this folder instead of the package."),
    ] = None,
) -> None:
    """Check every catalog file: schema, sources, codes, duplicate names, references."""
    with handle_errors():
        texts = _catalog_folder_texts(directory)
    main_texts = {k: v for k, v in texts.items() if k in CATALOG_FILES}
    problems = catalog_problems(main_texts)
    folder_catalog = None if problems else parse_catalog(main_texts)
    for name, text in sorted(texts.items()):
        if name in CATALOG_FILES:
            continue
        validator = OTHER_VALIDATORS.get(name)
        if validator is None:
            problems.append(f"{name}: no validator knows this file")
            continue
        try:
            validator(text, folder_catalog)
        except MicroTrialError as err:
            problems.append(f"{name}: {err}")
    if problems:
        for problem in problems:
            console.print(f"[red]problem:[/] {problem}", highlight=False, soft_wrap=True)
        fail(f"catalog invalid: {len(problems)} problem(s)", 1)
    summary = f"catalog valid: {len(texts)} files ({', '.join(sorted(texts))})"
    if directory is None:
        catalog = load_catalog()
        summary += (
            f"; {len(catalog.instruments)} instruments, {len(catalog.conditions)} conditions, "
            f"{len(catalog.medication_names)} medication names, "
            f"{len(catalog.interaction_rules)} interaction rules, "
            f"{len(catalog.combination_rules)} combination rules, {len(catalog.sources)} sources"
        )
    console.print(summary, highlight=False)


@catalog_app.command("check-instrument")
def check_instrument_cmd(
    path: Annotated[Path, typer.Argument(help="A user instrument definition (YAML or JSON).")],
) -> None:
    """Validate a user-loaded (e.g. licensed) instrument definition file."""
    with handle_errors():
        instrument = parse_instrument(read_input_text(path))
    console.print(
        f"instrument {instrument.id} v{instrument.version} valid: {len(instrument.items)} items, "
        f"{len(instrument.scores)} scores",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    """Add ``screen``, ``score`` and ``catalog`` to the main CLI."""
    app.command("screen")(screen_cmd)
    app.command("score")(score_cmd)
    app.add_typer(catalog_app, name="catalog")
