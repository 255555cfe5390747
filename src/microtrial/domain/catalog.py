"""The clinical catalog: typed, validated models of the data files under ``microtrial/catalog``.

The catalog is read once (``load_catalog()``, cached) from the package's own YAML files through
``importlib.resources`` -- the one read the domain layer does. Each file is checked against the
models below (unknown keys are errors) and then across files (every referenced id exists, every
rule has a resolvable source, codes are well formed, no medication name maps twice).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any, Literal

import pydantic
import yaml
from pydantic import BaseModel, ConfigDict, Field

from microtrial.errors import ValidationError

__all__ = [
    "CATALOG_FILES",
    "AlertCatalog",
    "Catalog",
    "CatalogError",
    "Condition",
    "Instrument",
    "Item",
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

Severity = Literal["contraindicated", "major", "moderate", "minor"]
SEVERITY_ORDER: dict[str, int] = {"contraindicated": 3, "major": 2, "moderate": 1, "minor": 0}
AlertSeverity = Literal["urgent", "high", "info"]
AlertAction = Literal[
    "stop", "pause-trial", "hold-dosing", "withhold-dose", "clinician-review", "none"
]
Evidence = Literal[
    "RCT",
    "OBS",
    "CASE",
    "LABEL",
    "MECH",
    "HR",
    "EXCL",
    "REVIEW",
    "ANECDOTAL",
    "INVITRO",
    "PKGEN",
    "NONE",
]
Op = Literal["ge", "gt", "le", "lt", "eq"]

ICD10CM_RE = re.compile(r"^[A-TV-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$")
LOINC_RE = re.compile(r"^[0-9]{1,7}-[0-9]$")
ID_RE = re.compile(r"^[a-z0-9][a-z0-9_\-]*$")


# libyaml's loader when available: the catalog parses about 4x faster
_YAML_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_YAML_LOADER)  # a safe loader, C or pure Python


class CatalogError(ValidationError):
    """A catalog file that does not parse or breaks a catalog rule."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# ---------------------------------------------------------------- sources


class Source(_Model):
    """A bibliographic source; ``verified: false`` keeps REFERENCE.md's "(unverified)" mark."""

    id: str
    citation: str
    verified: bool


class SourcesFile(_Model):
    version: str
    sources: tuple[Source, ...]


# ---------------------------------------------------------------- instruments


class Item(_Model):
    """One question of an instrument, with its answer type and allowed range."""

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


class Band(_Model):
    min: float
    max: float
    label: str


class CriteriaArm(_Model):
    wpi_min: int
    wpi_max: int | None = None
    ss_min: int


class AcrCriteria(_Model):
    wpi_score: str
    ss_score: str
    arms: tuple[CriteriaArm, ...]
    require_true: tuple[str, ...] = ()
    regions_score: str | None = None
    regions_min: int | None = None


class MigraineDayRule(_Model):
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


class ScoreDef(_Model):
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


class MissingRule(_Model):
    """How unanswered optional items are treated.

    ``none``: a score with any unanswered input is not computed; ``prorate``: computed from the
    answered inputs when at most ``max_missing`` are unanswered; ``absent_is_no``: unanswered
    yes/no and grade items count as no / 0.
    """

    policy: Literal["none", "prorate", "absent_is_no"]
    max_missing: int = 0
    note: str | None = None


class Flag(_Model):
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


class Instrument(_Model):
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


def instrument_problems(instrument: Instrument) -> list[str]:
    """List the internal inconsistencies of one instrument definition (empty when sound)."""
    problems: list[str] = []
    item_ids = [item.id for item in instrument.items]
    if len(set(item_ids)) != len(item_ids):
        problems.append(f"{instrument.id}: duplicate item ids")
    known_items = set(item_ids)
    score_ids: list[str] = []
    for definition in instrument.scores:
        refs: list[str] = list(definition.items)
        if definition.regions:
            refs += [i for members in definition.regions.values() for i in members]
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
    codes = [instrument.loinc] + [item.loinc for item in instrument.items]
    problems += [
        f"{instrument.id}: malformed LOINC {code}"
        for code in codes
        if code and not LOINC_RE.match(code)
    ]
    return problems


class LicensedInstrument(_Model):
    """A licensed instrument that is not shipped; sites load their own copy."""

    id: str
    title: str
    holder: str
    sources: tuple[str, ...] = Field(min_length=1)


class InstrumentsFile(_Model):
    version: str
    instruments: tuple[Instrument, ...]
    licensed_instruments: tuple[LicensedInstrument, ...] = ()


# ---------------------------------------------------------------- screening


class Substance(_Model):
    id: str
    title: str
    unii: str
    drugbank: str
    sources: tuple[str, ...] = Field(min_length=1)


class HistoryFlag(_Model):
    """One yes/no history question asked at screening."""

    id: str
    question: str
    required: bool


class _Rule(_Model):
    id: str
    title: str
    rationale: str
    evidence: tuple[Evidence, ...] = Field(min_length=1)
    sources: tuple[str, ...] = Field(min_length=1)
    unverified: bool = False


class ConditionRule(_Rule):
    """A contraindication triggered by a 'yes' history answer (REFERENCE.md A.1)."""

    history_flag: str
    severity: Severity


class SimpleRule(_Rule):
    severity: Severity


class AgeRule(SimpleRule):
    min_age: int


class BloodPressureRule(SimpleRule):
    systolic_min: int
    diastolic_min: int


class Match(_Model):
    """Medication classes and/or ingredients a rule applies to."""

    classes: tuple[str, ...] = ()
    ingredients: tuple[str, ...] = ()

    @pydantic.model_validator(mode="after")
    def _not_empty(self) -> Match:
        if not self.classes and not self.ingredients:
            raise ValueError("match needs classes or ingredients")
        return self


class InteractionRule(_Model):
    """A drug interaction (REFERENCE.md A.2) with a severity per substance."""

    id: str
    match: Match
    severity: dict[str, Severity]
    reference_class: Literal["contraindicated", "avoid", "caution", "minimal"]
    title: str
    mechanism: str
    evidence: tuple[Evidence, ...] = Field(min_length=1)
    sources: tuple[str, ...] = Field(min_length=1)
    unverified: bool = False


class TimingRule(_Rule):
    """A timing/separation rule between a medication and dosing days; itself a finding."""

    match: Match
    severity: Severity
    condition_groups: tuple[str, ...] = ()
    separation_days_before: int = Field(ge=0)
    separation_days_after: int = Field(ge=0)


class ScreeningFile(_Model):
    version: str
    substances: tuple[Substance, ...]
    history_flags: tuple[HistoryFlag, ...]
    condition_rules: tuple[ConditionRule, ...]
    pregnancy_rule: SimpleRule
    age_rule: AgeRule
    blood_pressure_rules: tuple[BloodPressureRule, ...]
    interaction_rules: tuple[InteractionRule, ...]
    timing_rules: tuple[TimingRule, ...]


# ---------------------------------------------------------------- medications


class MedicationClass(_Model):
    id: str
    title: str


class Ingredient(_Model):
    """A generic ingredient, its classes and the names (generic and brand) that map to it."""

    id: str
    classes: tuple[str, ...] = Field(min_length=1)
    names: tuple[str, ...] = ()


class Product(_Model):
    """A multi-ingredient product name."""

    name: str
    ingredients: tuple[str, ...] = Field(min_length=2)


class MedicationsFile(_Model):
    version: str
    sources: tuple[str, ...] = Field(min_length=1)
    classes: tuple[MedicationClass, ...]
    ingredients: tuple[Ingredient, ...]
    products: tuple[Product, ...] = ()


# ---------------------------------------------------------------- conditions


class Endpoint(_Model):
    id: str
    description: str
    instrument: str
    sources: tuple[str, ...] = Field(min_length=1)


class Endpoints(_Model):
    primary: tuple[Endpoint, ...] = Field(min_length=1)
    secondary: tuple[Endpoint, ...] = ()


class ConditionGroup(_Model):
    """A condition group (neuropathic, migraine, cluster, fibromyalgia) and its instruments."""

    id: str
    title: str
    diary_instruments: tuple[str, ...] = Field(min_length=1)
    periodic_instruments: tuple[str, ...] = ()
    endpoints: Endpoints


class EvidenceNote(_Model):
    """A short, sourced note on what is and is not known about microdosing for a condition."""

    id: str
    known: str
    unknown: str
    sources: tuple[str, ...] = Field(min_length=1)


class Icd10Code(_Model):
    code: str
    title: str
    unverified: bool = False


class Condition(_Model):
    """A condition with its ICD-10-CM codes (REFERENCE.md F.1), group and evidence note."""

    id: str
    title: str
    group: str
    evidence_note: str
    codes: tuple[Icd10Code, ...] = Field(min_length=1)
    sources: tuple[str, ...] = Field(min_length=1)


class ConditionsFile(_Model):
    version: str
    groups: tuple[ConditionGroup, ...]
    evidence_notes: tuple[EvidenceNote, ...]
    conditions: tuple[Condition, ...]


# ---------------------------------------------------------------- alerts


class _AlertRule(_Model):
    code: str
    severity: AlertSeverity
    action: AlertAction
    message: str
    sources: tuple[str, ...] = Field(min_length=1)
    unverified: bool = False


class InstrumentAlertRule(_AlertRule):
    instrument: str
    op: Op
    value: float
    item: str | None = None
    score: str | None = None


class AdverseEventAlertRule(_AlertRule):
    min_grade: int = Field(ge=1, le=5)
    serious_triggers: bool


class PersistentGradeRule(_AlertRule):
    grade: int
    min_days: int
    min_doses_recurring: int


class SymptomRule(_AlertRule):
    symptoms: tuple[str, ...] = Field(min_length=1)


class BloodPressureAlertRule(_AlertRule):
    systolic_min: int
    diastolic_min: int


class ConsecutiveDaysRule(_AlertRule):
    consecutive_days: int = Field(ge=1)


class PainFlareRule(ConsecutiveDaysRule):
    points_above_baseline: float


class WorseningRule(_AlertRule):
    relative_increase: float = Field(gt=0)
    consecutive_weeks: int = Field(ge=1)


class DoseCalendarRule(_AlertRule):
    tolerance_days: int = Field(ge=0)


class NewMedicationRule(_AlertRule):
    min_severity: Severity


class AlertCatalog(_Model):
    """Alert thresholds (REFERENCE.md D.3), read by ``microtrial.domain.alerts``."""

    version: str
    instrument_rules: tuple[InstrumentAlertRule, ...]
    adverse_event: AdverseEventAlertRule
    persistent_grade2: PersistentGradeRule
    symptom_rules: tuple[SymptomRule, ...]
    blood_pressure_rules: tuple[BloodPressureAlertRule, ...]
    blood_pressure_strict: BloodPressureAlertRule
    pain_flare: PainFlareRule
    pain_worsening: WorseningRule
    headache_worsening: WorseningRule
    missed_diary: ConsecutiveDaysRule
    dose_off_calendar: DoseCalendarRule
    new_medication: NewMedicationRule


# ---------------------------------------------------------------- the catalog


class Catalog(_Model):
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


_FORM_WORDS = frozenset(
    """tab tabs tablet tablets cap caps capsule capsules er xr sr cr xl la dr ir odt ec
    inj injection injectable solution oral liquid syrup suspension patch patches spray nasal cream
    gel ointment drops extended release delayed immediate sustained controlled chewable
    dispersible film coated pen autoinjector prefilled syringe vial powder sublingual buccal
    transdermal topical hcl hydrochloride hydrobromide sodium potassium succinate besylate
    tartrate maleate mesylate fumarate citrate carbonate sulfate sulphate phosphate acetate
    mg mcg ug µg g ml iu unit units daily""".split()  # noqa: SIM905 - a word list reads better
)
_STRENGTH_RE = re.compile(r"\d+(?:[.,]\d+)?\s*(?:mg|mcg|µg|ug|g|ml|iu|units?|%)\b", re.I)


def normalize_medication_name(text: str) -> tuple[str, ...]:
    """Lower-case a medication name and drop strengths, forms, salts and punctuation."""
    text = _STRENGTH_RE.sub(" ", text.lower().replace("’", "'"))
    tokens = re.split(r"[^a-z0-9µ]+", text)
    return tuple(t for t in tokens if t and not t.isdigit() and t not in _FORM_WORDS)


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
    models: dict[str, type[_Model]] = {
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


def _duplicates(ids: list[str]) -> set[str]:
    return {i for i, n in Counter(ids).items() if n > 1}


def _build(parsed: Mapping[str, Any]) -> tuple[Catalog | None, list[str]]:
    problems: list[str] = []
    src: SourcesFile = parsed["sources.yaml"]
    scr: ScreeningFile = parsed["screening.yaml"]
    med: MedicationsFile = parsed["medications.yaml"]
    con: ConditionsFile = parsed["conditions.yaml"]
    ins: InstrumentsFile = parsed["instruments.yaml"]
    alr: AlertCatalog = parsed["alerts.yaml"]

    rule_ids = [r.id for r in scr.condition_rules]
    rule_ids += [r.id for r in scr.interaction_rules]
    rule_ids += [r.id for r in scr.timing_rules]
    for label, ids in (
        ("source", [s.id for s in src.sources]),
        ("substance", [s.id for s in scr.substances]),
        ("history flag", [h.id for h in scr.history_flags]),
        ("rule", [*rule_ids]),
        ("medication class", [c.id for c in med.classes]),
        ("ingredient", [i.id for i in med.ingredients]),
        ("condition", [c.id for c in con.conditions]),
        ("group", [g.id for g in con.groups]),
        ("instrument", [i.id for i in ins.instruments] + [i.id for i in ins.licensed_instruments]),
        ("ICD-10-CM code", [c.code for cond in con.conditions for c in cond.codes]),
    ):
        problems += [f"duplicate {label} id {d}" for d in sorted(_duplicates(ids))]

    sources = {s.id: s for s in src.sources}
    substances = {s.id: s for s in scr.substances}
    flags = {h.id: h for h in scr.history_flags}
    classes = {c.id: c for c in med.classes}
    ingredients = {i.id: i for i in med.ingredients}
    groups = {g.id: g for g in con.groups}
    notes = {n.id: n for n in con.evidence_notes}
    instruments = {i.id: i for i in ins.instruments}

    def need_sources(where: str, ids: tuple[str, ...]) -> None:
        if not ids:
            problems.append(f"{where}: no source")
        problems.extend(f"{where}: unknown source {s}" for s in ids if s not in sources)

    # every rule, item set, threshold and code carries a resolvable source
    for substance in scr.substances:
        need_sources(f"substance {substance.id}", substance.sources)
    for crule in scr.condition_rules:
        need_sources(f"rule {crule.id}", crule.sources)
        if crule.history_flag not in flags:
            problems.append(f"rule {crule.id}: unknown history flag {crule.history_flag}")
    for simple in (scr.pregnancy_rule, scr.age_rule, *scr.blood_pressure_rules):
        need_sources(f"rule {simple.id}", simple.sources)

    def check_match(where: str, match: Match) -> None:
        problems.extend(f"{where}: unknown class {c}" for c in match.classes if c not in classes)
        problems.extend(
            f"{where}: unknown ingredient {i}" for i in match.ingredients if i not in ingredients
        )

    for irule in scr.interaction_rules:
        need_sources(f"rule {irule.id}", irule.sources)
        check_match(f"rule {irule.id}", irule.match)
        if set(irule.severity) != set(substances):
            problems.append(
                f"rule {irule.id}: severity must name every substance {sorted(substances)}"
            )
    group_ids = {g.id for g in con.groups}
    for trule in scr.timing_rules:
        need_sources(f"rule {trule.id}", trule.sources)
        check_match(f"rule {trule.id}", trule.match)
        problems.extend(
            f"rule {trule.id}: unknown condition group {g}"
            for g in trule.condition_groups
            if g not in group_ids
        )

    need_sources("medications.yaml", med.sources)
    names: dict[str, tuple[str, ...]] = {}

    def add_name(name: str, target: tuple[str, ...]) -> None:
        key = " ".join(normalize_medication_name(name))
        if not key:
            problems.append(f"medication name {name!r} is empty once normalised")
        elif key in names and names[key] != target:
            problems.append(f"duplicate medication name {name!r} ({names[key]} and {target})")
        else:
            names[key] = target

    for ingredient in med.ingredients:
        problems.extend(
            f"ingredient {ingredient.id}: unknown class {c}"
            for c in ingredient.classes
            if c not in classes
        )
        add_name(ingredient.id, (ingredient.id,))
        for name in ingredient.names:
            key = " ".join(normalize_medication_name(name))
            if key in names and names[key] == (ingredient.id,):
                problems.append(f"duplicate medication name {name!r} for {ingredient.id}")
            add_name(name, (ingredient.id,))
    for product in med.products:
        problems.extend(
            f"product {product.name}: unknown ingredient {i}"
            for i in product.ingredients
            if i not in ingredients
        )
        add_name(product.name, product.ingredients)

    for group in con.groups:
        for inst_id in (*group.diary_instruments, *group.periodic_instruments):
            if inst_id not in instruments:
                problems.append(f"group {group.id}: unknown instrument {inst_id}")
        for endpoint in (*group.endpoints.primary, *group.endpoints.secondary):
            need_sources(f"endpoint {group.id}.{endpoint.id}", endpoint.sources)
            if endpoint.instrument not in instruments:
                problems.append(f"endpoint {group.id}.{endpoint.id}: unknown instrument")
    for note in con.evidence_notes:
        need_sources(f"evidence note {note.id}", note.sources)
    for condition in con.conditions:
        need_sources(f"condition {condition.id}", condition.sources)
        if condition.group not in groups:
            problems.append(f"condition {condition.id}: unknown group {condition.group}")
        if condition.evidence_note not in notes:
            problems.append(f"condition {condition.id}: unknown evidence note")
        problems.extend(
            f"condition {condition.id}: malformed ICD-10-CM code {c.code}"
            for c in condition.codes
            if not ICD10CM_RE.match(c.code)
        )

    for instrument in ins.instruments:
        need_sources(f"instrument {instrument.id}", instrument.sources)
        for definition in instrument.scores:
            problems.extend(
                f"instrument {instrument.id}.{definition.id}: unknown source {s}"
                for s in (*definition.sources, *definition.band_sources)
                if s not in sources
            )
        for flag in instrument.flags:
            need_sources(f"instrument {instrument.id} flag {flag.id}", flag.sources)
    for licensed in ins.licensed_instruments:
        need_sources(f"licensed instrument {licensed.id}", licensed.sources)

    for arule in alr.instrument_rules:
        need_sources(f"alert {arule.code}", arule.sources)
        target = instruments.get(arule.instrument)
        if target is None:
            problems.append(f"alert {arule.code}: unknown instrument {arule.instrument}")
        elif arule.item is not None and arule.item not in {i.id for i in target.items}:
            problems.append(f"alert {arule.code}: unknown item {arule.item}")
        elif arule.score is not None and arule.score not in {s.id for s in target.scores}:
            problems.append(f"alert {arule.code}: unknown score {arule.score}")
    single_alerts: list[_AlertRule] = [
        alr.adverse_event,
        alr.persistent_grade2,
        alr.blood_pressure_strict,
        alr.pain_flare,
        alr.pain_worsening,
        alr.headache_worsening,
        alr.missed_diary,
        alr.dose_off_calendar,
        alr.new_medication,
        *alr.symptom_rules,
        *alr.blood_pressure_rules,
    ]
    for alert_rule in single_alerts:
        need_sources(f"alert {alert_rule.code}", alert_rule.sources)
    problems += [
        f"duplicate alert code {d}"
        for d in sorted(_duplicates([r.code for r in (*single_alerts, *alr.instrument_rules)]))
    ]

    if problems:
        return None, problems
    catalog = Catalog(
        sources=sources,
        substances=substances,
        history_flags=flags,
        condition_rules=scr.condition_rules,
        pregnancy_rule=scr.pregnancy_rule,
        age_rule=scr.age_rule,
        blood_pressure_rules=scr.blood_pressure_rules,
        interaction_rules=scr.interaction_rules,
        timing_rules=scr.timing_rules,
        medication_classes=classes,
        ingredients=ingredients,
        products=med.products,
        medication_names=names,
        groups=groups,
        evidence_notes=notes,
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
