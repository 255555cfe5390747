"""Imported instruments: a catalog ``Instrument`` plus what its source format needs to round-trip.

The user instrument folder (``Settings.instrument_path()``: ``MICROTRIAL_INSTRUMENT_DIR``, default
``instruments``, a relative one beside the SQLite database file) holds, per instrument,
``<id>.yaml`` -- a plain catalog definition that ``catalog check-instrument`` and
``score --definition`` accept -- and ``<id>.interop.json`` with the branching logic, the
source rows (REDCap fields) or FHIR item types, the authored FHIR Questionnaire (exports keep
its canonical URL, group nesting, item order and answer options) and the import warnings.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from microtrial.domain.branching import Expr, parse_branching
from microtrial.domain.catalog import Instrument, load_catalog, parse_instrument
from microtrial.errors import ConflictError, ValidationError

__all__ = [
    "ImportedInstrument",
    "build_instrument",
    "list_user_instruments",
    "load_user_instrument",
    "save_user_instrument",
]

SIDECAR = ".interop.json"


@dataclass(frozen=True)
class ImportedInstrument:
    """An imported instrument: the definition, its branching logic and source metadata."""

    instrument: Instrument
    source: str
    branching: Mapping[str, str] = field(default_factory=dict)
    fields: tuple[Mapping[str, str], ...] = ()
    fhir_types: Mapping[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    # The Questionnaire as authored (FHIR imports only): exports nest, order and code by it.
    questionnaire: Mapping[str, Any] = field(default_factory=dict)

    def trees(self) -> dict[str, Expr | None]:
        """Every item id in form order with its parsed branching logic (None: always shown)."""
        return {
            item.id: parse_branching(self.branching.get(item.id, ""))
            for item in self.instrument.items
        }

    def same_as(self, other: ImportedInstrument) -> bool:
        """Whether two imports define the same instrument, logic and source fields."""
        return (
            self.instrument == other.instrument
            and dict(self.branching) == dict(other.branching)
            and [dict(f) for f in self.fields] == [dict(f) for f in other.fields]
            and dict(self.fhir_types) == dict(other.fhir_types)
            and dict(self.questionnaire) == dict(other.questionnaire)
        )


def _definition(instrument: Instrument) -> dict[str, Any]:
    dumped: dict[str, Any] = instrument.model_dump(mode="json", exclude_defaults=True)
    return dumped


def save_user_instrument(
    imported: ImportedInstrument, directory: Path, *, replace: bool = False
) -> Path:
    """Write ``<id>.yaml`` and its sidecar into the user instrument directory; return the YAML."""
    instrument_id = imported.instrument.id
    if instrument_id in load_catalog().instruments:
        raise ConflictError(f"instrument: {instrument_id!r} is a shipped catalog instrument")
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{instrument_id}.yaml"
    if path.exists() and not replace:
        raise ConflictError(f"instrument: {path} exists (use --replace)")
    path.write_text(
        yaml.safe_dump(_definition(imported.instrument), sort_keys=False, allow_unicode=True),
        encoding="utf-8",
    )
    sidecar = {
        "source": imported.source,
        "branching": dict(imported.branching),
        "fields": [dict(f) for f in imported.fields],
        "fhir_types": dict(imported.fhir_types),
        "warnings": list(imported.warnings),
    }
    if imported.questionnaire:
        sidecar["questionnaire"] = dict(imported.questionnaire)
    (directory / f"{instrument_id}{SIDECAR}").write_text(
        json.dumps(sidecar, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return path


def load_user_instrument(path: Path) -> ImportedInstrument:
    """Read one user instrument (``<id>.yaml`` plus its sidecar when present)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ValidationError("path", f"cannot read: {err.strerror}", value=str(path)) from err
    instrument = parse_instrument(text)
    sidecar_path = path.with_name(path.name.removesuffix(path.suffix) + SIDECAR)
    meta: Mapping[str, Any] = {}
    if sidecar_path.exists():
        meta = json.loads(sidecar_path.read_text(encoding="utf-8"))
    return ImportedInstrument(
        instrument=instrument,
        source=str(meta.get("source", "user")),
        branching=dict(meta.get("branching", {})),
        fields=tuple(dict(f) for f in meta.get("fields", [])),
        fhir_types=dict(meta.get("fhir_types", {})),
        warnings=tuple(meta.get("warnings", [])),
        questionnaire=dict(meta.get("questionnaire", {})),
    )


def list_user_instruments(directory: Path) -> dict[str, str]:
    """User instruments in ``directory``: id -> title (with its source); empty if none."""
    if not directory.is_dir():
        return {}
    listing: dict[str, str] = {}
    for path in sorted(directory.glob("*.yaml")):
        try:
            imported = load_user_instrument(path)
        except (ValidationError, ValueError):
            continue  # not an instrument file; `catalog check-instrument` explains why
        listing[imported.instrument.id] = f"{imported.instrument.title} (user, {imported.source})"
    return listing


def _scores(items: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], str]:
    """A score imported forms can carry: rating-scale total, else yes-count, else a placeholder.

    Imported forms declare no scoring rules, but the catalog format needs at least one score.
    """
    scale = [i for i in items if i["type"] == "integer" and i.get("labels")]
    if any(i["required"] for i in scale):  # optional extras (e.g. PHQ-9 difficulty) are not summed
        scale = [i for i in scale if i["required"]]
    numbers = [i for i in items if i["type"] == "integer"]
    flags = [i for i in items if i["type"] == "boolean"]
    if scale:
        return [
            {
                "id": "total",
                "title": "Sum of the rating-scale items (imported; no published scoring)",
                "method": "sum",
                "items": [i["id"] for i in scale],
                "min": sum(i["min"] for i in scale),
                "max": sum(i["max"] for i in scale),
            }
        ], "total"
    if flags:
        return [
            {
                "id": "yes_count",
                "title": "Number of items answered yes (imported; no published scoring)",
                "method": "count_true",
                "items": [i["id"] for i in flags],
                "min": 0,
                "max": len(flags),
            }
        ], "yes_count"
    if numbers:
        first = numbers[0]
        return [
            {
                "id": "first_number",
                "title": f"{first['text'][:60]} (imported; no published scoring)",
                "method": "item",
                "items": [first["id"]],
                "min": first["min"],
                "max": first["max"],
            }
        ], "first_number"
    return [
        {
            "id": "unscored",
            "title": "No scored items (imported data-capture form)",
            "method": "regions",
            "regions": {"none": [items[0]["id"]]},
            "min": 0,
            "max": 0,
        }
    ], "unscored"


def build_instrument(
    instrument_id: str,
    title: str,
    items: list[dict[str, Any]],
    *,
    source: str,
    version: str = "1",
) -> Instrument:
    """A catalog ``Instrument`` from imported item dicts (catalog item format)."""
    if not items:
        raise ValidationError("items", f"instrument {instrument_id!r} has no answerable items")
    scores, primary = _scores(items)
    return parse_instrument(
        {
            "id": instrument_id,
            "version": version,
            "title": title,
            "kind": "questionnaire",
            "recall": "as worded in the imported items",
            "licence": f"Imported from {source}; check the original instrument's licence",
            "sources": [f"user-import:{source}"],
            "items": items,
            "missing": {"policy": "none"},
            "scores": scores,
            "primary_score": primary,
        }
    )
