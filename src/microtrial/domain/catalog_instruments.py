"""The catalog's instrument models: items, scores, missing-data rules, flags and their checks.

Split from ``catalog`` (which loads and cross-checks every file); ``catalog`` re-exports the
public names, so ``from microtrial.domain.catalog import Instrument`` keeps working.
"""

from __future__ import annotations

import re
from typing import Literal

import pydantic
from pydantic import Field

from microtrial.domain.catalog_files import CatalogModel, Constraint, Op, constraint_problems
from microtrial.domain.text_formats import FORMATS, format_value

LOINC_RE = re.compile(r"^[0-9]{1,7}-[0-9]$")
ID_RE = re.compile(r"^[a-z0-9][a-z0-9_\-]*$")


# ---------------------------------------------------------------- instruments


class PatientAnswers(CatalogModel):
    """Plain-word answers offered to patients for a graded item, each mapped to a catalog grade.

    The stored answer is still the grade (the key); patients read only the words, and grades not
    listed (e.g. CTCAE 4 and 5) are never offered to them.
    """

    labels: dict[int, str] = Field(min_length=2)
    sources: tuple[str, ...] = Field(min_length=1)
    note: str | None = None


class AnswerCodes(CatalogModel):
    """A code system's codes for an item's graded answers (e.g. LOINC LA codes), for exports.

    The stored answer stays the grade; exports write the code beside it.
    """

    system: str
    codes: dict[int, str] = Field(min_length=1)
    sources: tuple[str, ...] = Field(min_length=1)


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
    # the unit's UCUM code (e.g. mm[Hg] for "mmHg"), for exports that code their quantities
    ucum: str | None = None
    max_length: int | None = None
    # a text item's format (a REDCap validation type, e.g. date_ymd, number, email) and bounds
    format: str | None = None
    format_min: str | None = None
    format_max: str | None = None
    patient_text: str | None = None
    patient_answers: PatientAnswers | None = None
    answer_codes: AnswerCodes | None = None
    note: str | None = None
    # Where the item's question comes from, when it is not the instrument's own source (e.g. a
    # red-flag symptom of the side-effect checklist: its alert rule's sources).
    sources: tuple[str, ...] = ()

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
        self._check_format()
        if self.patient_answers is not None:
            low, high = self.min, self.max
            if (
                low is None
                or high is None
                or any(not low <= k <= high for k in self.patient_answers.labels)
            ):
                raise ValueError(f"item {self.id}: patient answers must be grades in min..max")
        if self.answer_codes is not None and set(self.answer_codes.codes) != set(self.labels or {}):
            raise ValueError(f"item {self.id}: answer codes must cover exactly the labelled grades")
        if self.ucum is not None and (self.unit is None or self.type != "integer"):
            raise ValueError(f"item {self.id}: a UCUM code needs an integer item with a unit")
        return self

    def _check_format(self) -> None:
        if self.format is None:
            if self.format_min is not None or self.format_max is not None:
                raise ValueError(f"item {self.id}: format_min/format_max need a format")
            return
        if self.type != "text":
            raise ValueError(f"item {self.id}: only text items take a format")
        text_format = FORMATS.get(self.format)
        if text_format is None:
            raise ValueError(f"item {self.id}: unknown format {self.format!r}")
        for bound in (self.format_min, self.format_max):
            if bound is None:
                continue
            if not text_format.bounded:
                raise ValueError(f"item {self.id}: format {self.format} takes no min/max")
            if format_value(self.format, bound) is None:
                raise ValueError(f"item {self.id}: bound {bound!r} is not {text_format.describe}")

    def allowed(self) -> str:
        """Describe the allowed answers, for error messages."""
        if self.format is not None:
            described = FORMATS[self.format].describe
            if self.format_min is not None and self.format_max is not None:
                return f"{described}, {self.format_min} to {self.format_max}"
            if self.format_min is not None:
                return f"{described}, at least {self.format_min}"
            if self.format_max is not None:
                return f"{described}, at most {self.format_max}"
            return described
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
