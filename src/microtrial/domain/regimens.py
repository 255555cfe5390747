"""Dosing regimens: catalog templates (with sources) and custom patterns.

A regimen says *on which days* a capsule is taken and what the clinician chose to put in it
(substance, amount, unit, optional titration and taper). Templates come from
``catalog/regimens.yaml`` (REFERENCE.md section E) and deliberately carry **no default amount**:
the clinician enters it. Published dose ranges are kept only as sourced facts
(:class:`ReportedRange`), marked unverified where the reference says so.

Dose days are counted from the first day of each period (``period_day`` 0, 1, 2, ...), so every
period of a trial - active or placebo - has the same dosing calendar. Weekday patterns use the
patient's local calendar date instead.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from importlib import resources
from typing import TYPE_CHECKING, Literal

from microtrial.errors import ValidationError

if TYPE_CHECKING:  # regimen_catalog imports this module's types
    from microtrial.domain.regimen_catalog import RegimenCatalog

__all__ = [
    "WEEKDAY_NAMES",
    "CyclePattern",
    "DayListPattern",
    "DosePattern",
    "DoseUnit",
    "MicrodoseRange",
    "Regimen",
    "RegimenTemplate",
    "ReportedRange",
    "Taper",
    "Titration",
    "WeekdayPattern",
    "check_microdose",
    "custom_regimen",
    "every_n_days",
    "guess_opens_on",
    "load_regimen_catalog",
    "next_titration_amount",
    "parse_dose_unit",
    "parse_weekdays",
    "pattern_fits_period",
    "regimen_from_template",
    "taper_amounts",
]

WEEKDAY_NAMES: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_MAX_CYCLE_DAYS = 56
_FULL_WEEKDAY_NAMES: tuple[str, ...] = (
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
)


class DoseUnit(StrEnum):
    """Unit of a capsule's amount."""

    MICROGRAM = "µg"
    MILLIGRAM = "mg"
    MG_DRIED_MATERIAL = "mg dried material"


_UNIT_ALIASES: dict[str, DoseUnit] = {
    "µg": DoseUnit.MICROGRAM,
    "μg": DoseUnit.MICROGRAM,  # Greek mu, as typed on many keyboards
    "ug": DoseUnit.MICROGRAM,
    "mcg": DoseUnit.MICROGRAM,
    "mg": DoseUnit.MILLIGRAM,
    "mg dried material": DoseUnit.MG_DRIED_MATERIAL,
    "mg dried": DoseUnit.MG_DRIED_MATERIAL,
    "mg_dried": DoseUnit.MG_DRIED_MATERIAL,
}


def parse_dose_unit(value: str | DoseUnit, *, field_name: str = "unit") -> DoseUnit:
    """Return the :class:`DoseUnit` for a unit text such as ``"µg"``, ``"ug"`` or ``"mg dried"``."""
    if isinstance(value, DoseUnit):
        return value
    unit = _UNIT_ALIASES.get(str(value).strip().lower()) if isinstance(value, str) else None
    if unit is None:
        raise ValidationError(
            field_name, "unknown dose unit", value=value, allowed=[u.value for u in DoseUnit]
        )
    return unit


def _check_int(field_name: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationError(
            field_name,
            f"must be a whole number from {low} to {high}",
            value=value,
            allowed=f"{low}-{high}",
        )
    return value


def _check_positive(field_name: str, value: object) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValidationError(field_name, "must be a positive number", value=value, allowed="> 0")
    return float(value)


def _fmt_amount(x: float) -> str:
    return f"{x:g}"


# --------------------------------------------------------------------------- patterns


@dataclass(frozen=True)
class CyclePattern:
    """``on_days`` dose days then ``off_days`` days off, repeated from each period's first day."""

    on_days: int
    off_days: int
    kind: Literal["cycle"] = field(default="cycle", init=False)

    def __post_init__(self) -> None:
        _check_int("pattern.on_days", self.on_days, 1, _MAX_CYCLE_DAYS)
        _check_int("pattern.off_days", self.off_days, 0, _MAX_CYCLE_DAYS)

    def is_dose_day(self, period_day: int, local_date: date) -> bool:  # noqa: ARG002
        """Whether ``period_day`` (0 = first day of the period) is a dose day."""
        return period_day % (self.on_days + self.off_days) < self.on_days

    def describe(self) -> str:
        """Plain-language description of the pattern."""
        if self.on_days == 1 and self.off_days == 0:
            return "every day"
        if self.on_days == 1:
            return f"one dose day, then {self.off_days} day(s) off (every {self.off_days + 1} days)"
        return f"{self.on_days} days on, then {self.off_days} days off"


def every_n_days(n: int) -> CyclePattern:
    """Pattern with a dose every ``n``-th day (1 = daily, 2 = every other day, 3 = Fadiman)."""
    _check_int("pattern.every_n_days", n, 1, _MAX_CYCLE_DAYS)
    return CyclePattern(on_days=1, off_days=n - 1)


def parse_weekdays(values: Iterable[int | str], *, field_name: str = "weekdays") -> frozenset[int]:
    """Parse weekdays given as 0-6 (Monday = 0) or names (``"mon"``, ``"Tuesday"``)."""
    days: set[int] = set()
    for v in values:
        if isinstance(v, bool):
            day = None
        elif isinstance(v, int):
            day = v if 0 <= v <= 6 else None
        elif isinstance(v, str):
            text = v.strip().lower()
            names = WEEKDAY_NAMES if len(text) == 3 else _FULL_WEEKDAY_NAMES
            day = names.index(text) if text in names else None
        else:
            day = None
        if day is None:
            raise ValidationError(
                field_name, "unknown weekday", value=v, allowed=[*WEEKDAY_NAMES, "0-6 (Monday = 0)"]
            )
        days.add(day)
    if not days:
        raise ValidationError(
            field_name, "choose at least one weekday", value=[], allowed=WEEKDAY_NAMES
        )
    return frozenset(days)


@dataclass(frozen=True)
class WeekdayPattern:
    """Dose on chosen weekdays of the patient's local calendar (0 = Monday)."""

    weekdays: frozenset[int]
    kind: Literal["weekdays"] = field(default="weekdays", init=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "weekdays", parse_weekdays(self.weekdays, field_name="pattern.weekdays")
        )

    def is_dose_day(self, period_day: int, local_date: date) -> bool:  # noqa: ARG002
        """Whether the local date falls on one of the chosen weekdays."""
        return local_date.weekday() in self.weekdays

    def describe(self) -> str:
        """Plain-language description of the pattern."""
        names = ", ".join(WEEKDAY_NAMES[d].capitalize() for d in sorted(self.weekdays))
        return f"on {names}"


@dataclass(frozen=True)
class DayListPattern:
    """Dose on an explicit list of period days (0-based), optionally repeating every N days."""

    days: tuple[int, ...]
    repeat_every: int | None = None
    kind: Literal["days"] = field(default="days", init=False)

    def __post_init__(self) -> None:
        if self.repeat_every is not None:
            _check_int("pattern.repeat_every", self.repeat_every, 1, _MAX_CYCLE_DAYS)
        limit = (self.repeat_every or 366) - 1
        days = tuple(self.days)
        if not days:
            raise ValidationError("pattern.days", "list at least one dose day", value=[])
        for d in days:
            _check_int("pattern.days", d, 0, limit)
        if len(set(days)) != len(days):
            raise ValidationError("pattern.days", "dose days repeat", value=list(days))
        object.__setattr__(self, "days", tuple(sorted(days)))

    def is_dose_day(self, period_day: int, local_date: date) -> bool:  # noqa: ARG002
        """Whether ``period_day`` is in the list (modulo ``repeat_every`` when set)."""
        d = period_day % self.repeat_every if self.repeat_every else period_day
        return d in self.days

    def describe(self) -> str:
        """Plain-language description of the pattern."""
        listed = ", ".join(str(d + 1) for d in self.days)
        text = f"on day(s) {listed} of each period"
        if self.repeat_every:
            text = f"on day(s) {listed} of every {self.repeat_every}-day cycle"
        return text


DosePattern = CyclePattern | WeekdayPattern | DayListPattern


def pattern_fits_period(pattern: DosePattern, period_days: int) -> None:
    """Raise if a pattern cannot be honoured within periods of ``period_days`` days."""
    if isinstance(pattern, DayListPattern) and pattern.repeat_every is None:
        late = [d for d in pattern.days if d >= period_days]
        if late:
            raise ValidationError(
                "pattern.days",
                f"dose days fall after the {period_days}-day period",
                value=[d + 1 for d in late],
                allowed=f"days 1-{period_days}",
            )


# --------------------------------------------------------------------------- titration, taper


@dataclass(frozen=True)
class Titration:
    """Per-dose titration: start, step up per tolerated dose, limits, reduction on intolerance."""

    start: float
    step: float
    minimum: float
    maximum: float
    reduce_on_intolerance: float

    def __post_init__(self) -> None:
        for name in ("start", "step", "minimum", "maximum", "reduce_on_intolerance"):
            object.__setattr__(
                self, name, _check_positive(f"titration.{name}", getattr(self, name))
            )
        if self.minimum > self.maximum:
            raise ValidationError(
                "titration.minimum",
                "must not exceed the maximum",
                value=self.minimum,
                allowed=f"<= {_fmt_amount(self.maximum)}",
            )
        if not self.minimum <= self.start <= self.maximum:
            raise ValidationError(
                "titration.start",
                "must lie within the limits",
                value=self.start,
                allowed=f"{_fmt_amount(self.minimum)}-{_fmt_amount(self.maximum)}",
            )


def next_titration_amount(titration: Titration, current: float, *, tolerated: bool) -> float:
    """Amount for the next dose: up one step if tolerated, down by the reduction if not."""
    nxt = current + titration.step if tolerated else current - titration.reduce_on_intolerance
    return round(min(titration.maximum, max(titration.minimum, nxt)), 9)


@dataclass(frozen=True)
class Taper:
    """End-of-treatment taper: reduce by ``step`` every ``every_n_doses`` doses down to a floor."""

    step: float
    every_n_doses: int = 1
    floor: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "step", _check_positive("taper.step", self.step))
        _check_int("taper.every_n_doses", self.every_n_doses, 1, 28)
        if self.floor != 0.0:
            object.__setattr__(self, "floor", _check_positive("taper.floor", self.floor))


def taper_amounts(taper: Taper, from_amount: float) -> tuple[float, ...]:
    """The per-dose amounts of a taper starting below ``from_amount`` (stops at the floor)."""
    start = _check_positive("from_amount", from_amount)
    out: list[float] = []
    level = round(start - taper.step, 9)
    while level > 0 and level >= taper.floor:
        out.extend([level] * taper.every_n_doses)
        level = round(level - taper.step, 9)
    return tuple(out)


# --------------------------------------------------------------------------- regimens


@dataclass(frozen=True)
class ReportedRange:
    """A dose range reported in a source (a fact, not a recommendation)."""

    substance: str
    low: float
    high: float
    unit: str
    context: str
    source: str
    verified: bool


@dataclass(frozen=True)
class MicrodoseRange:
    """The sourced microdose range of one preparation of a substance (``microdose_ranges``)."""

    substance: str
    preparation: str
    unit: DoseUnit
    low: float
    high: float
    context: str
    sources: tuple[str, ...]
    verified: bool

    def contains(self, amount: float) -> bool:
        """Whether ``amount`` (in this range's unit) lies inside the range, ends included."""
        return self.low <= amount <= self.high

    def describe(self) -> str:
        """The range as text, e.g. ``"5–20 µg"``."""
        return f"{_fmt_amount(self.low)}–{_fmt_amount(self.high)} {self.unit.value}"


def check_microdose(
    substance: str,
    amount: float,
    unit: str | DoseUnit,
    ranges: Mapping[str, tuple[MicrodoseRange, ...]],
) -> MicrodoseRange:
    """The sourced range a dose lies in, or a ValidationError naming the field at fault.

    ``substance`` is matched to the catalog's substance ids without regard to case.
    """
    substance = substance.strip().lower() if isinstance(substance, str) else ""
    preparations = ranges.get(substance)
    if not preparations:
        raise ValidationError(
            "substance", f"unknown substance {substance!r}", value=substance, allowed=sorted(ranges)
        )
    units = [p.unit.value for p in preparations]
    try:
        parsed = parse_dose_unit(unit)
    except ValidationError:
        parsed = None
    match = next((p for p in preparations if p.unit == parsed), None)
    if match is None:
        raise ValidationError(
            "unit", f"{unit!r} is not a unit for {substance}", value=unit, allowed=units
        )
    value = _check_positive("amount", amount)
    if not match.contains(value):
        raise ValidationError(
            "amount",
            f"{_fmt_amount(value)} {match.unit.value} is outside the microdose range for "
            f"{substance}",
            value=amount,
            allowed=match.describe(),
        )
    return match


@dataclass(frozen=True)
class RegimenTemplate:
    """A published schedule from the catalog; it carries no dose amount."""

    name: str
    title: str
    pattern: DosePattern | None
    choose_weekdays: int | None
    sub_perceptual: bool
    notes: tuple[str, ...]
    source: str
    verified: bool
    reported_ranges: tuple[ReportedRange, ...]


@dataclass(frozen=True)
class Regimen:
    """A concrete regimen: pattern plus the clinician's substance, amount and unit."""

    name: str
    title: str
    pattern: DosePattern
    substance: str
    amount: float
    unit: DoseUnit
    titration: Titration | None = None
    taper: Taper | None = None
    sub_perceptual: bool = True
    source: str | None = None

    def __post_init__(self) -> None:
        substance = self.substance.strip() if isinstance(self.substance, str) else ""
        if not substance or len(substance) > 80:
            raise ValidationError(
                "substance", "enter the substance (1-80 characters)", value=self.substance
            )
        object.__setattr__(self, "substance", substance)
        object.__setattr__(self, "amount", _check_positive("amount", self.amount))
        object.__setattr__(self, "unit", parse_dose_unit(self.unit))
        if self.titration is not None and not (
            self.titration.minimum <= self.amount <= self.titration.maximum
        ):
            raise ValidationError(
                "amount",
                "must lie within the titration limits",
                value=self.amount,
                allowed=f"{_fmt_amount(self.titration.minimum)}-"
                f"{_fmt_amount(self.titration.maximum)}",
            )

    def is_dose_day(self, period_day: int, local_date: date) -> bool:
        """Whether the regimen doses on this day of a period."""
        return self.pattern.is_dose_day(period_day, local_date)

    def describe(self) -> str:
        """One-line text for preparation sheets, e.g. ``"psilocybin 100 mg dried material ..."``."""
        text = f"{self.substance} {_fmt_amount(self.amount)} {self.unit.value}, "
        text += self.pattern.describe()
        if self.titration is not None:
            t = self.titration
            text += (
                f"; titration start {_fmt_amount(t.start)}, +{_fmt_amount(t.step)} per dose, "
                f"limits {_fmt_amount(t.minimum)}-{_fmt_amount(t.maximum)}, "
                f"-{_fmt_amount(t.reduce_on_intolerance)} if not tolerated"
            )
        if self.taper is not None:
            text += (
                f"; taper -{_fmt_amount(self.taper.step)} every {self.taper.every_n_doses} dose(s)"
            )
        return text


def custom_regimen(
    pattern: DosePattern,
    *,
    substance: str,
    amount: float,
    unit: str | DoseUnit,
    titration: Titration | None = None,
    taper: Taper | None = None,
    title: str | None = None,
) -> Regimen:
    """Build a clinician-defined regimen (weekdays, every N days, cycle or explicit day list)."""
    return Regimen(
        name="custom",
        title=title or f"Custom: {pattern.describe()}",
        pattern=pattern,
        substance=substance,
        amount=amount,
        unit=parse_dose_unit(unit),
        titration=titration,
        taper=taper,
        sub_perceptual=True,
        source=None,
    )


@functools.cache
def load_regimen_catalog() -> RegimenCatalog:
    """Load the bundled ``catalog/regimens.yaml`` (read once, validated)."""
    # imported here: the catalog's checker builds on this module's pattern and template types
    from microtrial.domain.catalog import load_catalog
    from microtrial.domain.regimen_catalog import parse_regimen_catalog

    text = resources.files("microtrial.catalog").joinpath("regimens.yaml").read_text("utf-8")
    catalog = load_catalog()
    return parse_regimen_catalog(text, substances=catalog.substances, source_ids=catalog.sources)


def guess_opens_on(period_end: date, catalog: RegimenCatalog | None = None) -> date:
    """The first day a patient is asked to guess the arm of a period ending on ``period_end``."""
    days = (catalog or load_regimen_catalog()).guess_opens_days_before_end
    return period_end - timedelta(days=days)


def regimen_from_template(
    name: str,
    *,
    substance: str,
    amount: float,
    unit: str | DoseUnit,
    weekdays: Iterable[int | str] | None = None,
    titration: Titration | None = None,
    taper: Taper | None = None,
    catalog: RegimenCatalog | None = None,
    enforce_range: bool = True,
) -> Regimen:
    """Instantiate a catalog template with the clinician's substance, amount and unit.

    The dose must lie in the substance's sourced microdose range for that unit
    (:func:`check_microdose`); ``enforce_range=False`` rebuilds a plan stored before the ranges
    existed, which is then sub-perceptual only if its dose happens to lie in a range.
    """
    catalog = catalog or load_regimen_catalog()
    template = catalog.get(name)
    try:
        check_microdose(substance, amount, unit, catalog.microdose_ranges)
        in_range = True
    except ValidationError:
        if enforce_range:
            raise
        in_range = False
    pattern = template.pattern
    if template.choose_weekdays is not None:
        if weekdays is None:
            raise ValidationError(
                "weekdays",
                f"choose {template.choose_weekdays} weekdays for '{template.title}'",
                value=None,
                allowed=WEEKDAY_NAMES,
            )
        chosen = parse_weekdays(weekdays)
        if len(chosen) != template.choose_weekdays:
            raise ValidationError(
                "weekdays",
                f"'{template.title}' needs exactly {template.choose_weekdays} different weekdays",
                value=sorted(chosen),
                allowed=WEEKDAY_NAMES,
            )
        pattern = WeekdayPattern(chosen)
    elif weekdays is not None:
        raise ValidationError("weekdays", f"'{name}' has a fixed pattern", value=list(weekdays))
    if pattern is None:  # pragma: no cover - the schema requires weekdays or choose
        raise ValidationError("regimen", "template has no pattern", value=name)
    return Regimen(
        name=template.name,
        title=template.title,
        pattern=pattern,
        substance=substance,
        amount=amount,
        unit=parse_dose_unit(unit),
        titration=titration,
        taper=taper,
        sub_perceptual=in_range,
        source=template.source,
    )
