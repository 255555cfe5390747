"""The clinical catalog: typed, validated models of the data files under ``microtrial/catalog``.

The catalog is read once (``load_catalog()``, cached) from the package's own YAML files through
``importlib.resources`` -- the one read the domain layer does. Each file is checked against the
models (the instrument models below, the other files' in ``catalog_files``; unknown keys are
errors) and then across files by ``catalog_checks`` (every referenced id exists, every rule has a
resolvable source, codes are well formed, no medication name maps twice).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any, Literal

import pydantic
import yaml
from pydantic import Field

from microtrial.domain import catalog_checks as checks
from microtrial.domain.catalog_files import (
    AgeRule,
    AlertCatalog,
    BloodPressureRule,
    CatalogModel,
    Condition,
    ConditionGroup,
    ConditionRule,
    ConditionsFile,
    Constraint,
    EvidenceNote,
    HistoryFlag,
    Ingredient,
    InteractionRule,
    MedicationClass,
    MedicationsFile,
    Op,
    Product,
    ScreeningFile,
    SimpleRule,
    Source,
    SourcesFile,
    Substance,
    TimingRule,
    constraint_problems,
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

LOINC_RE = re.compile(r"^[0-9]{1,7}-[0-9]$")
ID_RE = re.compile(r"^[a-z0-9][a-z0-9_\-]*$")


# libyaml's loader when available: the catalog parses about 4x faster
_YAML_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_YAML_LOADER)  # a safe loader, C or pure Python


class CatalogError(ValidationError):
    """A catalog file that does not parse or breaks a catalog rule."""


# ---------------------------------------------------------------- instruments


class PatientAnswers(CatalogModel):
    """Plain-word answers offered to patients for a graded item, each mapped to a catalog grade.

    The stored answer is still the grade (the key); patients read only the words, and grades not
    listed (e.g. CTCAE 4 and 5) are never offered to them.
    """

    labels: dict[int, str] = Field(min_length=2)
    sources: tuple[str, ...] = Field(min_length=1)
    note: str | None = None


class Item(CatalogModel):
    """One question of an instrument, with its answer type and allowed range.

    ``text`` is the item as staff, exports and reports name it; ``patient_text`` (when given) is
    the question as patients read it; ``note`` is for staff and documentation and is never shown
    on a patient page.
    """

    id: str
    text: str
    type: Literal["integer", "boolean", "choice", "text"]
    required: bool = True
    min: int | None = None
    max: int | None = None
    options: tuple[str, ...] | None = None
    labels: dict[int, str] | None = None
    loinc: str | None = None
    unit: str | None = None
    max_length: int | None = None
    patient_text: str | None = None
    patient_answers: PatientAnswers | None = None
    note: str | None = None

    @pydantic.model_validator(mode="after")
    def _check_type_fields(self) -> Item:
        if self.type == "integer":
            if self.min is None or self.max is None or self.min > self.max:
                raise ValueError(f"item {self.id}: integer items need min <= max")
        elif self.min is not None or self.max is not None:
            raise ValueError(f"item {self.id}: only integer items take min/max")
        if self.type == "choice" and not self.options:
            raise ValueError(f"item {self.id}: choice items need options")
        if self.type != "choice" and self.options is not None:
            raise ValueError(f"item {self.id}: only choice items take options")
        if self.patient_answers is not None:
            low, high = self.min, self.max
            if (
                low is None
                or high is None
                or any(not low <= k <= high for k in self.patient_answers.labels)
            ):
                raise ValueError(f"item {self.id}: patient answers must be grades in min..max")
        return self

    def allowed(self) -> str:
        """Describe the allowed answers, for error messages."""
        if self.type == "integer":
            return f"integer {self.min}–{self.max}"
        if self.type == "boolean":
            return "true or false"
        if self.type == "choice":
            return ", ".join(self.options or ())
        return f"text up to {self.max_length or 1000} characters"


class Band(CatalogModel):
    min: float
    max: float
    label: str


class CriteriaArm(CatalogModel):
    wpi_min: int
    wpi_max: int | None = None
    ss_min: int


class AcrCriteria(CatalogModel):
    wpi_score: str
    ss_score: str
    arms: tuple[CriteriaArm, ...]
    require_true: tuple[str, ...] = ()
    regions_score: str | None = None
    regions_min: int | None = None


class MigraineDayRule(CatalogModel):
    headache_item: str
    duration_item: str
    min_duration_minutes: int
    severity_item: str
    severity_feature_min: int
    c_features: tuple[str, ...]
    c_min: int
    d_any: tuple[str, ...]
    d_all: tuple[str, ...]
    treated_item: str
    aura_item: str
    aura_duration_item: str
    aura_min_minutes: int
    aura_max_minutes: int


class ScoreDef(CatalogModel):
    """A computed score: its method, inputs, bounds and optional bands."""

    id: str
    title: str
    method: Literal[
        "sum",
        "mean",
        "max",
        "item",
        "count_true",
        "count_positive",
        "sum_scores",
        "regions",
        "acr_criteria",
        "migraine_day",
    ]
    min: float
    max: float
    items: tuple[str, ...] = ()
    scores: tuple[str, ...] = ()
    regions: dict[str, tuple[str, ...]] | None = None
    criteria: AcrCriteria | None = None
    migraine_day: MigraineDayRule | None = None
    loinc: str | None = None
    bands: tuple[Band, ...] = ()
    band_sources: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    unverified: bool = False

    @pydantic.model_validator(mode="after")
    def _check_method_fields(self) -> ScoreDef:
        needs_items = {"sum", "mean", "max", "item", "count_true", "count_positive"}
        if self.method in needs_items and not self.items:
            raise ValueError(f"score {self.id}: method {self.method} needs items")
        if self.method == "item" and len(self.items) != 1:
            raise ValueError(f"score {self.id}: method item takes exactly one item")
        if self.method == "sum_scores" and not self.scores:
            raise ValueError(f"score {self.id}: method sum_scores needs scores")
        if self.method == "regions" and not self.regions:
            raise ValueError(f"score {self.id}: method regions needs regions")
        if self.method == "acr_criteria" and self.criteria is None:
            raise ValueError(f"score {self.id}: method acr_criteria needs criteria")
        if self.method == "migraine_day" and self.migraine_day is None:
            raise ValueError(f"score {self.id}: method migraine_day needs migraine_day")
        if self.bands and not self.band_sources:
            raise ValueError(f"score {self.id}: bands need band_sources")
        return self


class MissingRule(CatalogModel):
    """How unanswered optional items are treated.

    ``none``: a score with any unanswered input is not computed; ``prorate``: computed from the
    answered inputs when at most ``max_missing`` are unanswered; ``absent_is_no``: unanswered
    yes/no and grade items count as no / 0.
    """

    policy: Literal["none", "prorate", "absent_is_no"]
    max_missing: int = 0
    note: str | None = None


class Flag(CatalogModel):
    """An interpretation flag raised when a score or item crosses a threshold."""

    id: str
    title: str
    op: Op
    value: float
    score: str | None = None
    item: str | None = None
    sources: tuple[str, ...] = Field(min_length=1)
    unverified: bool = False

    @pydantic.model_validator(mode="after")
    def _one_target(self) -> Flag:
        if (self.score is None) == (self.item is None):
            raise ValueError(f"flag {self.id}: give exactly one of score or item")
        return self


class Instrument(CatalogModel):
    """An instrument definition; shipped ones and user-loaded licensed ones share this format."""

    id: str
    version: str
    title: str
    kind: Literal["diary", "questionnaire", "criteria", "checklist", "measurement"]
    recall: str
    licence: str
    sources: tuple[str, ...] = Field(min_length=1)
    items: tuple[Item, ...] = Field(min_length=1)
    missing: MissingRule
    scores: tuple[ScoreDef, ...] = Field(min_length=1)
    primary_score: str
    flags: tuple[Flag, ...] = ()
    constraints: tuple[Constraint, ...] = ()
    loinc: str | None = None
    unverified: bool = False

    @pydantic.model_validator(mode="after")
    def _check_references(self) -> Instrument:
        problems = instrument_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def item(self, item_id: str) -> Item:
        """Return the item with this id."""
        for item in self.items:
            if item.id == item_id:
                return item
        raise KeyError(item_id)

    def score_def(self, score_id: str) -> ScoreDef:
        """Return the score definition with this id."""
        for definition in self.scores:
            if definition.id == score_id:
                return definition
        raise KeyError(score_id)


def _score_refs(
    instrument: Instrument, definition: ScoreDef, score_ids: list[str]
) -> tuple[list[str], list[str]]:
    """The items a score reads; problems for score references not defined before it."""
    refs: list[str] = list(definition.items)
    if definition.regions:
        refs += [i for members in definition.regions.values() for i in members]
    problems: list[str] = []
    if definition.criteria:
        refs += list(definition.criteria.require_true)
        for ref in (
            definition.criteria.wpi_score,
            definition.criteria.ss_score,
            definition.criteria.regions_score,
        ):
            if ref is not None and ref not in score_ids:
                problems.append(
                    f"{instrument.id}.{definition.id}: score {ref} must be defined before it"
                )
    if definition.migraine_day:
        rule = definition.migraine_day
        refs += [
            rule.headache_item,
            rule.duration_item,
            rule.severity_item,
            rule.treated_item,
            rule.aura_item,
            rule.aura_duration_item,
            *rule.c_features,
            *rule.d_any,
            *rule.d_all,
        ]
    return refs, problems


def _score_problems(
    instrument: Instrument, definition: ScoreDef, known_items: set[str], score_ids: list[str]
) -> list[str]:
    """One score's unknown items, forward score references, stray bands and bad LOINC."""
    refs, problems = _score_refs(instrument, definition, score_ids)
    problems += [
        f"{instrument.id}.{definition.id}: unknown item {ref}"
        for ref in refs
        if ref not in known_items
    ]
    problems += [
        f"{instrument.id}.{definition.id}: score {ref} must be defined before it"
        for ref in definition.scores
        if ref not in score_ids
    ]
    for band in definition.bands:
        if band.min < definition.min or band.max > definition.max or band.min > band.max:
            problems.append(
                f"{instrument.id}.{definition.id}: band {band.label} outside "
                f"{definition.min}–{definition.max}"
            )
    if definition.loinc and not LOINC_RE.match(definition.loinc):
        problems.append(f"{instrument.id}.{definition.id}: malformed LOINC {definition.loinc}")
    return problems


def instrument_problems(instrument: Instrument) -> list[str]:
    """List the internal inconsistencies of one instrument definition (empty when sound)."""
    problems: list[str] = []
    item_ids = [item.id for item in instrument.items]
    if len(set(item_ids)) != len(item_ids):
        problems.append(f"{instrument.id}: duplicate item ids")
    known_items = set(item_ids)
    score_ids: list[str] = []
    for definition in instrument.scores:
        problems += _score_problems(instrument, definition, known_items, score_ids)
        score_ids.append(definition.id)
    if len(set(score_ids)) != len(score_ids):
        problems.append(f"{instrument.id}: duplicate score ids")
    if instrument.primary_score not in score_ids:
        problems.append(f"{instrument.id}: primary_score {instrument.primary_score} not a score")
    for flag in instrument.flags:
        if flag.score is not None and flag.score not in score_ids:
            problems.append(f"{instrument.id}: flag {flag.id} names unknown score {flag.score}")
        if flag.item is not None and flag.item not in known_items:
            problems.append(f"{instrument.id}: flag {flag.id} names unknown item {flag.item}")
    integers = {item.id for item in instrument.items if item.type == "integer"}
    problems += constraint_problems(instrument.id, instrument.constraints, integers)
    codes = [instrument.loinc] + [item.loinc for item in instrument.items]
    problems += [
        f"{instrument.id}: malformed LOINC {code}"
        for code in codes
        if code and not LOINC_RE.match(code)
    ]
    return problems


class LicensedInstrument(CatalogModel):
    """A licensed instrument that is not shipped; sites load their own copy."""

    id: str
    title: str
    holder: str
    sources: tuple[str, ...] = Field(min_length=1)


class InstrumentsFile(CatalogModel):
    version: str
    instruments: tuple[Instrument, ...]
    licensed_instruments: tuple[LicensedInstrument, ...] = ()


# ---------------------------------------------------------------- the catalog


class Catalog(CatalogModel):
    """Everything in the catalog, validated and cross-checked; frozen."""

    sources: dict[str, Source]
    substances: dict[str, Substance]
    history_flags: dict[str, HistoryFlag]
    condition_rules: tuple[ConditionRule, ...]
    pregnancy_rule: SimpleRule
    age_rule: AgeRule
    blood_pressure_rules: tuple[BloodPressureRule, ...]
    interaction_rules: tuple[InteractionRule, ...]
    timing_rules: tuple[TimingRule, ...]
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
        blood_pressure_rules=scr.blood_pressure_rules,
        interaction_rules=scr.interaction_rules,
        timing_rules=scr.timing_rules,
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
