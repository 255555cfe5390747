"""The regimen catalog: ``catalog/regimens.yaml``'s schema and its checker.

``parse_regimen_catalog`` validates the file (unknown keys, pattern kinds, dose-range order,
unique template names) and builds the :class:`RegimenCatalog` of
:class:`~microtrial.domain.regimens.RegimenTemplate`; ``regimens.load_regimen_catalog`` reads the
bundled copy through it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import pydantic
import yaml

from microtrial.domain.regimens import (
    CyclePattern,
    DayListPattern,
    DosePattern,
    MicrodoseRange,
    RegimenTemplate,
    ReportedRange,
    WeekdayPattern,
    parse_dose_unit,
    parse_weekdays,
)
from microtrial.errors import ValidationError

__all__ = ["KitLabelText", "RegimenCatalog", "parse_regimen_catalog"]


class _Model(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)


class _CycleSpec(_Model):
    kind: Literal["cycle"]
    on_days: int
    off_days: int


class _WeekdaySpec(_Model):
    kind: Literal["weekdays"]
    weekdays: list[int | str] | None = None
    choose: int | None = pydantic.Field(default=None, ge=1, le=7)

    @pydantic.model_validator(mode="after")
    def _one_of(self) -> _WeekdaySpec:
        if (self.weekdays is None) == (self.choose is None):
            raise ValueError("give either 'weekdays' or 'choose'")
        return self


class _DaysSpec(_Model):
    kind: Literal["days"]
    days: list[int]
    repeat_every: int | None = None


class _RangeSpec(_Model):
    substance: str = pydantic.Field(min_length=1)
    low: float = pydantic.Field(gt=0)
    high: float = pydantic.Field(gt=0)
    unit: Literal["µg", "mg", "mg dried material", "mg/kg"]
    context: str = pydantic.Field(min_length=1)
    source: str = pydantic.Field(min_length=1)
    verified: bool

    @pydantic.model_validator(mode="after")
    def _ordered(self) -> _RangeSpec:
        if self.low > self.high:
            raise ValueError("low exceeds high")
        return self


class _TemplateSpec(_Model):
    name: str = pydantic.Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str = pydantic.Field(min_length=1)
    pattern: Annotated[_CycleSpec | _WeekdaySpec | _DaysSpec, pydantic.Field(discriminator="kind")]
    sub_perceptual: bool
    notes: list[str] = []
    source: str = pydantic.Field(min_length=1)
    verified: bool
    reported_ranges: list[_RangeSpec] = []


class _GuessWindowSpec(_Model):
    opens_days_before_period_end: int = pydantic.Field(ge=0)
    source: str = pydantic.Field(min_length=1)


class _PreparationSpec(_Model):
    preparation: str = pydantic.Field(min_length=1)
    unit: Literal["µg", "mg", "mg dried material"]
    low: float = pydantic.Field(gt=0)
    high: float = pydantic.Field(gt=0)
    context: str = pydantic.Field(min_length=1)
    sources: list[str] = pydantic.Field(min_length=1)
    verified: bool

    @pydantic.model_validator(mode="after")
    def _ordered(self) -> _PreparationSpec:
        if self.low > self.high:
            raise ValueError("low exceeds high")
        return self


class _SubstanceRangesSpec(_Model):
    substance: str = pydantic.Field(min_length=1)
    preparations: list[_PreparationSpec] = pydantic.Field(min_length=1)


class _KitLabelSpec(_Model):
    storage: str = pydantic.Field(min_length=1, max_length=120)
    shelf_life_days: int = pydantic.Field(ge=1, le=3650)
    trial_use: str = pydantic.Field(min_length=1, max_length=60)
    source: str = pydantic.Field(min_length=1)


class _CatalogSpec(_Model):
    schema_version: Literal[1]
    source: str = pydantic.Field(min_length=1)
    guess_window: _GuessWindowSpec
    kit_labels: _KitLabelSpec | None = None  # none: labels print no storage or expiry
    templates: list[_TemplateSpec] = pydantic.Field(min_length=1)
    reported_ranges: list[_RangeSpec] = []
    microdose_ranges: list[_SubstanceRangesSpec] = []  # none: every dose is refused


@dataclass(frozen=True)
class KitLabelText:
    """What every kit label prints besides the kit: storage, shelf life, the trial-use line."""

    storage: str
    shelf_life_days: int  # a filled kit keeps this many days from its preparation
    trial_use: str
    source: str


@dataclass(frozen=True)
class RegimenCatalog:
    """All regimen templates plus general sourced dose-range facts."""

    templates: Mapping[str, RegimenTemplate]
    reported_ranges: tuple[ReportedRange, ...]
    source: str
    # A period's blinding guess is asked from this many days before the period's last day on.
    guess_opens_days_before_end: int
    microdose_ranges: Mapping[str, tuple[MicrodoseRange, ...]]
    kit_labels: KitLabelText | None = None

    def get(self, name: str) -> RegimenTemplate:
        """Return the template called ``name``."""
        try:
            return self.templates[name]
        except KeyError:
            raise ValidationError(
                "regimen", "unknown regimen template", value=name, allowed=sorted(self.templates)
            ) from None


def _range(spec: _RangeSpec) -> ReportedRange:
    return ReportedRange(**spec.model_dump())


def _template(spec: _TemplateSpec) -> RegimenTemplate:
    p = spec.pattern
    pattern: DosePattern | None
    choose: int | None = None
    if isinstance(p, _CycleSpec):
        pattern = CyclePattern(on_days=p.on_days, off_days=p.off_days)
    elif isinstance(p, _WeekdaySpec):
        pattern = (
            None if p.weekdays is None else WeekdayPattern(frozenset(parse_weekdays(p.weekdays)))
        )
        choose = p.choose
    else:
        pattern = DayListPattern(days=tuple(p.days), repeat_every=p.repeat_every)
    return RegimenTemplate(
        name=spec.name,
        title=spec.title,
        pattern=pattern,
        choose_weekdays=choose,
        sub_perceptual=spec.sub_perceptual,
        notes=tuple(spec.notes),
        source=spec.source,
        verified=spec.verified,
        reported_ranges=tuple(_range(r) for r in spec.reported_ranges),
    )


def _microdose_ranges(
    spec: _CatalogSpec,
    origin: str,
    substances: Collection[str] | None,
    source_ids: Collection[str] | None,
) -> dict[str, tuple[MicrodoseRange, ...]]:
    """The ``microdose_ranges`` by substance; each substance, unit and source id checked."""
    out: dict[str, tuple[MicrodoseRange, ...]] = {}
    for i, entry in enumerate(spec.microdose_ranges):
        where = f"{origin}:microdose_ranges.{i}"
        if entry.substance in out:
            raise ValidationError(
                f"{where}.substance", "duplicate substance", value=entry.substance
            )
        if substances is not None and entry.substance not in substances:
            raise ValidationError(
                f"{where}.substance",
                "unknown substance",
                value=entry.substance,
                allowed=sorted(substances),
            )
        units = [p.unit for p in entry.preparations]
        if len(set(units)) != len(units):
            raise ValidationError(f"{where}.preparations", "a unit is listed twice", value=units)
        for j, p in enumerate(entry.preparations):
            unknown = [s for s in p.sources if source_ids is not None and s not in source_ids]
            if unknown:
                raise ValidationError(
                    f"{where}.preparations.{j}.sources",
                    f"unknown source {unknown[0]!r}",
                    value=unknown[0],
                )
        out[entry.substance] = tuple(
            MicrodoseRange(
                substance=entry.substance,
                preparation=p.preparation,
                unit=parse_dose_unit(p.unit),
                low=p.low,
                high=p.high,
                context=p.context,
                sources=tuple(p.sources),
                verified=p.verified,
            )
            for p in entry.preparations
        )
    return out


def parse_regimen_catalog(
    text: str,
    *,
    origin: str = "regimens.yaml",
    substances: Collection[str] | None = None,
    source_ids: Collection[str] | None = None,
) -> RegimenCatalog:
    """Parse and validate regimen-catalog YAML text; errors name the offending entry.

    ``substances`` and ``source_ids`` (from screening.yaml and sources.yaml), when given, are the
    ids a microdose range may name.
    """
    try:
        raw: Any = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ValidationError(origin, f"not valid YAML: {err}") from err
    try:
        spec = _CatalogSpec.model_validate(raw)
    except pydantic.ValidationError as err:
        first = err.errors()[0]
        loc = ".".join(str(x) for x in first["loc"])
        raise ValidationError(
            f"{origin}:{loc}",
            f"{first['msg']} ({err.error_count()} error(s))",
            value=first.get("input"),
        ) from err
    templates: dict[str, RegimenTemplate] = {}
    for i, t in enumerate(spec.templates):
        if t.name in templates:
            raise ValidationError(f"{origin}:templates.{i}.name", "duplicate name", value=t.name)
        try:
            templates[t.name] = _template(t)
        except ValidationError as err:
            raise ValidationError(
                f"{origin}:templates.{i}.{err.field}",
                str(err),
                value=err.value,
                allowed=err.allowed,
            ) from err
    labels = spec.kit_labels
    return RegimenCatalog(
        templates=templates,
        reported_ranges=tuple(_range(r) for r in spec.reported_ranges),
        source=spec.source,
        guess_opens_days_before_end=spec.guess_window.opens_days_before_period_end,
        microdose_ranges=_microdose_ranges(spec, origin, substances, source_ids),
        kit_labels=None if labels is None else KitLabelText(**labels.model_dump()),
    )
