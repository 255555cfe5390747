"""The clinical catalog: typed, validated models of the data files under ``microtrial/catalog``.

The catalog is read once (``load_catalog()``, cached) from the package's own YAML files through
``importlib.resources`` -- the one read the domain layer does. Each file is checked against the
models (the instrument models below, the other files' in ``catalog_files``; unknown keys are
errors) and then across files by ``catalog_checks`` (every referenced id exists, every rule has a
resolvable source, codes are well formed, no medication name maps twice).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

import pydantic
import yaml

from microtrial.domain import catalog_checks as checks
from microtrial.domain.catalog_files import (
    AgeRule,
    AlertCatalog,
    BloodPressureAveraging,
    BloodPressureRule,
    CatalogModel,
    CombinationRule,
    Condition,
    ConditionGroup,
    ConditionRule,
    ConditionsFile,
    EvidenceNote,
    HistoryFlag,
    Ingredient,
    InteractionRule,
    MedicationClass,
    MedicationsFile,
    Product,
    ScreeningFile,
    SimpleRule,
    Source,
    SourcesFile,
    Substance,
    TimingRule,
)
from microtrial.domain.catalog_instruments import (
    Instrument,
    InstrumentsFile,
    Item,
    LicensedInstrument,
    PatientAnswers,
    ScoreDef,
)
from microtrial.errors import ValidationError

__all__ = [
    "CATALOG_FILES",
    "Catalog",
    "CatalogError",
    "Instrument",
    "Item",
    "PatientAnswers",
    "ScoreDef",
    "catalog_problems",
    "load_catalog",
    "load_catalog_files",
    "parse_catalog",
    "parse_instrument",
]

CATALOG_FILES = (
    "sources.yaml",
    "screening.yaml",
    "medications.yaml",
    "conditions.yaml",
    "instruments.yaml",
    "alerts.yaml",
)


# libyaml's loader when available: the catalog parses about 4x faster
_YAML_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_YAML_LOADER)  # a safe loader, C or pure Python


class CatalogError(ValidationError):
    """A catalog file that does not parse or breaks a catalog rule."""


class Catalog(CatalogModel):
    """Everything in the catalog, validated and cross-checked; frozen."""

    sources: dict[str, Source]
    substances: dict[str, Substance]
    history_flags: dict[str, HistoryFlag]
    condition_rules: tuple[ConditionRule, ...]
    pregnancy_rule: SimpleRule
    age_rule: AgeRule
    blood_pressure_averaging: BloodPressureAveraging
    blood_pressure_rules: tuple[BloodPressureRule, ...]
    interaction_rules: tuple[InteractionRule, ...]
    timing_rules: tuple[TimingRule, ...]
    combination_rules: tuple[CombinationRule, ...]
    medication_classes: dict[str, MedicationClass]
    ingredients: dict[str, Ingredient]
    products: tuple[Product, ...]
    medication_names: dict[str, tuple[str, ...]]
    groups: dict[str, ConditionGroup]
    evidence_notes: dict[str, EvidenceNote]
    conditions: dict[str, Condition]
    instruments: dict[str, Instrument]
    licensed_instruments: dict[str, LicensedInstrument]
    alerts: AlertCatalog
    versions: dict[str, str]

    def instrument(self, instrument_id: str) -> Instrument:
        """Return a shipped instrument, or raise CatalogError naming the shipped ones."""
        try:
            return self.instruments[instrument_id]
        except KeyError:
            hint = ""
            if instrument_id in self.licensed_instruments:
                hint = " (licensed, not shipped: load your own copy)"
            raise CatalogError(
                "instrument",
                f"unknown instrument {instrument_id!r}{hint}",
                value=instrument_id,
                allowed=sorted(self.instruments),
            ) from None

    def cite(self, source_ids: tuple[str, ...]) -> tuple[str, ...]:
        """Resolve source ids to citations, marking unverified ones."""
        return tuple(
            self.sources[s].citation
            + (
                ""
                if self.sources[s].verified or "unverified" in self.sources[s].citation
                else " (unverified)"
            )
            for s in source_ids
        )

    def condition_by_code(self, code: str) -> Condition | None:
        """Find the condition carrying an ICD-10-CM code (case-insensitive)."""
        wanted = code.strip().upper()
        for condition in self.conditions.values():
            if any(c.code == wanted for c in condition.codes):
                return condition
        return None


# ---------------------------------------------------------------- loading


def _format_pydantic(file: str, error: pydantic.ValidationError) -> list[str]:
    lines = []
    for detail in error.errors():
        where = ".".join(str(p) for p in detail["loc"])
        lines.append(f"{file}: {where}: {detail['msg']}")
    return lines


def parse_instrument(data: Mapping[str, Any] | str) -> Instrument:
    """Validate one instrument definition (a dict, or YAML/JSON text) in the catalog format.

    This is how a site loads its own licensed copy of e.g. the BPI.
    """
    if isinstance(data, str):
        try:
            data = _load_yaml(data)
        except yaml.YAMLError as err:
            raise CatalogError("instrument", f"not valid YAML/JSON: {err}") from err
    if not isinstance(data, Mapping):
        raise CatalogError("instrument", "definition must be a mapping", value=type(data).__name__)
    try:
        return Instrument.model_validate(dict(data))
    except pydantic.ValidationError as err:
        raise CatalogError("instrument", "; ".join(_format_pydantic("definition", err))) from err


def load_catalog_files() -> dict[str, str]:
    """Read the packaged catalog files' text (the domain's only I/O)."""
    root = resources.files("microtrial.catalog")
    return {name: root.joinpath(name).read_text(encoding="utf-8") for name in CATALOG_FILES}


def _parse_files(texts: Mapping[str, str]) -> tuple[dict[str, Any], list[str]]:
    models: dict[str, type[CatalogModel]] = {
        "sources.yaml": SourcesFile,
        "screening.yaml": ScreeningFile,
        "medications.yaml": MedicationsFile,
        "conditions.yaml": ConditionsFile,
        "instruments.yaml": InstrumentsFile,
        "alerts.yaml": AlertCatalog,
    }
    parsed: dict[str, Any] = {}
    problems: list[str] = []
    for name, model in models.items():
        if name not in texts:
            problems.append(f"{name}: missing")
            continue
        try:
            raw = _load_yaml(texts[name])
        except yaml.YAMLError as err:
            problems.append(f"{name}: not valid YAML: {err}")
            continue
        try:
            parsed[name] = model.model_validate(raw)
        except pydantic.ValidationError as err:
            problems += _format_pydantic(name, err)
    return parsed, problems


def _build(parsed: Mapping[str, Any]) -> tuple[Catalog | None, list[str]]:
    """Cross-check the parsed files, one checker per file, and build the Catalog."""
    src: SourcesFile = parsed["sources.yaml"]
    scr: ScreeningFile = parsed["screening.yaml"]
    med: MedicationsFile = parsed["medications.yaml"]
    con: ConditionsFile = parsed["conditions.yaml"]
    ins: InstrumentsFile = parsed["instruments.yaml"]
    alr: AlertCatalog = parsed["alerts.yaml"]
    sources = {s.id: s for s in src.sources}
    instruments = {i.id: i for i in ins.instruments}
    problems = checks.duplicate_id_problems(src, scr, med, con, ins)
    problems += checks.screening_problems(scr, sources, med, {g.id for g in con.groups})
    names, medication_problems = checks.medication_problems(med, sources)
    problems += medication_problems
    problems += checks.condition_problems(con, sources, instruments)
    problems += checks.instrument_source_problems(ins, sources)
    problems += checks.alert_problems(alr, sources, instruments)
    if problems:
        return None, problems
    catalog = Catalog(
        sources=sources,
        substances={s.id: s for s in scr.substances},
        history_flags={h.id: h for h in scr.history_flags},
        condition_rules=scr.condition_rules,
        pregnancy_rule=scr.pregnancy_rule,
        age_rule=scr.age_rule,
        blood_pressure_averaging=scr.blood_pressure_averaging,
        blood_pressure_rules=scr.blood_pressure_rules,
        interaction_rules=scr.interaction_rules,
        timing_rules=scr.timing_rules,
        combination_rules=scr.combination_rules,
        medication_classes={c.id: c for c in med.classes},
        ingredients={i.id: i for i in med.ingredients},
        products=med.products,
        medication_names=names,
        groups={g.id: g for g in con.groups},
        evidence_notes={n.id: n for n in con.evidence_notes},
        conditions={c.id: c for c in con.conditions},
        instruments=instruments,
        licensed_instruments={i.id: i for i in ins.licensed_instruments},
        alerts=alr,
        versions={
            "sources": src.version,
            "screening": scr.version,
            "medications": med.version,
            "conditions": con.version,
            "instruments": ins.version,
            "alerts": alr.version,
        },
    )
    return catalog, []


def catalog_problems(texts: Mapping[str, str]) -> list[str]:
    """Check catalog file texts and list every problem found (empty when valid)."""
    parsed, problems = _parse_files(texts)
    if problems:
        return problems
    _, problems = _build(parsed)
    return problems


def parse_catalog(texts: Mapping[str, str]) -> Catalog:
    """Build a Catalog from file texts keyed by file name; CatalogError lists every problem."""
    parsed, problems = _parse_files(texts)
    catalog: Catalog | None = None
    if not problems:
        catalog, problems = _build(parsed)
    if problems or catalog is None:
        raise CatalogError("catalog", "invalid catalog:\n  " + "\n  ".join(problems))
    return catalog


@cache
def load_catalog() -> Catalog:
    """Load, validate and cache the packaged catalog (frozen)."""
    return parse_catalog(load_catalog_files())
