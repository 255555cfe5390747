"""Instrument scoring: validate answers against the definition, apply the missing-item rule,
compute scores, bands and flags.

Examples
--------
>>> result = score("phq9", {"q1": 1, "q2": 2, "q3": 0, "q4": 3, "q5": 0,
...                         "q6": 1, "q7": 0, "q8": 0, "q9": 0})
>>> result.primary.value, result.primary.band
(7, 'mild')
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from microtrial.domain.catalog import Catalog, Instrument, Item, ScoreDef, load_catalog
from microtrial.domain.catalog_instruments import Flag, MigraineDayRule
from microtrial.domain.text_formats import FORMATS, format_value, in_bounds
from microtrial.errors import ValidationError, refuse_all

__all__ = ["Answer", "FlagResult", "ScoreResult", "ScoreValue", "score", "validate_answers"]

Answer = int | bool | str | None


@dataclass(frozen=True, slots=True)
class ScoreValue:
    """One computed score; ``value`` is None when the missing-item rule left it uncomputed."""

    id: str
    title: str
    value: float | None
    min: float
    max: float
    band: str | None = None
    prorated: bool = False
    note: str | None = None


@dataclass(frozen=True, slots=True)
class FlagResult:
    """An interpretation flag that fired."""

    id: str
    title: str
    sources: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ScoreResult:
    """The scored instrument: validated answers, scores by id, and flags that fired."""

    instrument_id: str
    instrument_version: str
    answers: Mapping[str, Answer]
    scores: Mapping[str, ScoreValue]
    primary_score: str
    flags: tuple[FlagResult, ...] = field(default=())

    @property
    def primary(self) -> ScoreValue:
        """The instrument's primary score."""
        return self.scores[self.primary_score]


def _check_answer(instrument: Instrument, item: Item, value: object) -> Answer:
    field_name = f"{instrument.id}.{item.id}"
    allowed = item.allowed()
    if item.type == "integer":
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError(
                field_name, f"expected an integer, got {value!r}", value=value, allowed=allowed
            )
        low = item.min if item.min is not None else value
        high = item.max if item.max is not None else value
        if not low <= value <= high:
            raise ValidationError(
                field_name, f"value {value} out of range", value=value, allowed=allowed
            )
        return value
    if item.type == "boolean":
        if not isinstance(value, bool):
            raise ValidationError(
                field_name, f"expected true or false, got {value!r}", value=value, allowed=allowed
            )
        return value
    if not isinstance(value, str):
        raise ValidationError(
            field_name, f"expected text, got {value!r}", value=value, allowed=allowed
        )
    if item.format is not None:
        # checked as given, not tidied: the diary stores the answer exactly as it was sent
        if format_value(item.format, value) is None:
            raise ValidationError(
                field_name,
                f"{value!r} is not {FORMATS[item.format].describe}",
                value=value,
                allowed=allowed,
            )
        if not in_bounds(item.format, value, item.format_min, item.format_max):
            raise ValidationError(
                field_name, f"value {value} out of range", value=value, allowed=allowed
            )
    if item.type == "choice" and value not in (item.options or ()):
        raise ValidationError(
            field_name, f"value {value!r} is not an option", value=value, allowed=allowed
        )
    if item.type == "text" and len(value) > (item.max_length or 1000):
        raise ValidationError(field_name, "text too long", value=len(value), allowed=allowed)
    return value


def validate_answers(instrument: Instrument, answers: Mapping[str, object]) -> dict[str, Answer]:
    """Check every answer against its item; unknown items and missing required ones are errors.

    Every refused item is reported at once (``InvalidFields`` for more than one); the
    cross-item rules are checked only when each item passed.
    """
    known = {item.id: item for item in instrument.items}
    errors = [
        ValidationError(
            f"{instrument.id}.{key}", f"unknown item {key!r}", value=value, allowed=list(known)
        )
        for key, value in answers.items()
        if key not in known
    ]
    checked: dict[str, Answer] = {}
    for item in instrument.items:
        value = answers.get(item.id)
        try:
            if value is None:
                if item.required:
                    raise ValidationError(
                        f"{instrument.id}.{item.id}",
                        f"required item not answered: {item.text}",
                        allowed=item.allowed(),
                    )
                continue
            checked[item.id] = _check_answer(instrument, item, value)
        except ValidationError as error:
            errors.append(error)
    refuse_all(errors)
    _check_constraints(instrument, checked)
    return checked


_OP_WORDS = {"lt": "below", "le": "at most", "gt": "above", "ge": "at least", "eq": "equal to"}


def _check_constraints(instrument: Instrument, checked: Mapping[str, Answer]) -> None:
    """Refuse answers that break one of the instrument's cross-item plausibility rules."""
    for rule in instrument.constraints:
        value, other = checked.get(rule.item), checked.get(rule.other)
        if value is None or other is None:
            continue  # an unanswered optional item has nothing to contradict
        a, b = _numeric(value), _numeric(other)
        holds = {"lt": a < b, "le": a <= b, "gt": a > b, "ge": a >= b, "eq": a == b}[rule.op]
        if not holds:
            raise ValidationError(
                f"{instrument.id}.{rule.item}",
                f"{rule.message} ({rule.item} {value}, {rule.other} {other})",
                value=value,
                allowed=f"{_OP_WORDS[rule.op]} {rule.other} ({other})",
            )


def _numeric(value: Answer) -> float:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int):
        return float(value)
    raise TypeError(value)


def _band(definition: ScoreDef, value: float | None) -> str | None:
    if value is None:
        return None
    for band in definition.bands:
        if band.min <= value <= band.max:
            return band.label
    return None


def _tidy(value: float) -> float:
    # integral results stay ints so that totals print as 7, not 7.0
    rounded = round(value, 2)
    return int(rounded) if float(rounded).is_integer() else rounded


def _migraine_day(rule: MigraineDayRule, answers: Mapping[str, Answer]) -> float:
    """Operational migraine day (van der Arend; ICHD-3 features C and D, unverified)."""

    def yes(item: str) -> bool:
        return answers.get(item) is True

    def number(item: str) -> int:
        value = answers.get(item)
        return value if isinstance(value, int) and not isinstance(value, bool) else 0

    features = sum(yes(i) for i in rule.c_features)
    features += number(rule.severity_item) >= rule.severity_feature_min
    criterion_c = features >= rule.c_min
    criterion_d = any(yes(i) for i in rule.d_any) or all(yes(i) for i in rule.d_all)
    long_enough = number(rule.duration_item) >= rule.min_duration_minutes
    headache = yes(rule.headache_item)
    migraine_headache = headache and long_enough and criterion_c and criterion_d
    treated = headache and yes(rule.treated_item)
    aura = yes(rule.aura_item) and (
        rule.aura_min_minutes <= number(rule.aura_duration_item) <= rule.aura_max_minutes
    )
    return 1.0 if (migraine_headache or treated or aura) else 0.0


Computed = tuple[float | None, bool, str | None]
ITEM_METHODS = frozenset({"sum", "mean", "max", "item", "count_true", "count_positive"})


def _compute(
    instrument: Instrument,
    definition: ScoreDef,
    answers: Mapping[str, Answer],
    done: Mapping[str, ScoreValue],
) -> Computed:
    """Return (value, prorated, note) for one score definition."""
    if definition.method in ITEM_METHODS:
        return _from_items(instrument, definition, answers)
    if definition.method == "sum_scores":
        return _sum_of_scores(definition, done)
    if definition.method == "regions":
        return _regions(instrument, definition, answers)
    if definition.method == "acr_criteria":
        return _acr_criteria(definition, answers, done)
    if definition.migraine_day is None:  # excluded by the ScoreDef validator
        return None, False, "migraine-day rule not defined"
    return _migraine_day(definition.migraine_day, answers), False, None


def _from_items(
    instrument: Instrument, definition: ScoreDef, answers: Mapping[str, Answer]
) -> Computed:
    """A score over the definition's own items, with the instrument's missing-item policy."""
    policy = instrument.missing.policy
    method = definition.method
    present = [answers[i] for i in definition.items if i in answers]
    missing = len(definition.items) - len(present)
    if missing and policy == "absent_is_no":
        present += [
            False if instrument.item(i).type == "boolean" else 0
            for i in definition.items
            if i not in answers
        ]
        missing = 0
    if method == "item":
        if missing:
            return None, False, "not answered"
        return _numeric(present[0]), False, None
    if missing and not (policy == "prorate" and missing <= instrument.missing.max_missing):
        return None, False, f"{missing} of {len(definition.items)} items unanswered"
    prorated = missing > 0
    if not present:
        return None, False, "no items answered"
    values = [_numeric(v) for v in present]
    if method == "sum":
        total = sum(values)
        if prorated:
            total = total / len(values) * len(definition.items)
        return total, prorated, None
    if method == "mean":
        return sum(values) / len(values), prorated, None
    if method == "max":
        return max(values), prorated, None
    if method == "count_true":
        return float(sum(1 for v in present if v is True)), prorated, None
    return float(sum(1 for v in values if v > 0)), prorated, None


def _sum_of_scores(definition: ScoreDef, done: Mapping[str, ScoreValue]) -> Computed:
    """The sum of scores computed before this one."""
    parts = [done[s].value for s in definition.scores]
    if any(p is None for p in parts):
        return None, False, "an input score is not computed"
    return float(sum(p for p in parts if p is not None)), False, None


def _regions(
    instrument: Instrument, definition: ScoreDef, answers: Mapping[str, Answer]
) -> Computed:
    """How many body regions have at least one item answered yes."""
    regions = definition.regions or {}
    needed = {i for members in regions.values() for i in members}
    if instrument.missing.policy != "absent_is_no" and not needed <= set(answers):
        return None, False, "region items unanswered"
    count = sum(1 for members in regions.values() if any(answers.get(i) is True for i in members))
    return float(count), False, None


def _acr_criteria(
    definition: ScoreDef, answers: Mapping[str, Answer], done: Mapping[str, ScoreValue]
) -> Computed:
    """1 when the ACR fibromyalgia criteria are met, else 0."""
    criteria = definition.criteria
    if criteria is None:  # excluded by the ScoreDef validator
        return None, False, "criteria not defined"
    wpi = done[criteria.wpi_score].value
    ss = done[criteria.ss_score].value
    if wpi is None or ss is None:
        return None, False, "WPI or symptom severity not computed"
    severity_ok = any(
        wpi >= arm.wpi_min and (arm.wpi_max is None or wpi <= arm.wpi_max) and ss >= arm.ss_min
        for arm in criteria.arms
    )
    required_ok = all(answers.get(i) is True for i in criteria.require_true)
    regions_ok = True
    if criteria.regions_score is not None and criteria.regions_min is not None:
        region_count = done[criteria.regions_score].value
        regions_ok = region_count is not None and region_count >= criteria.regions_min
    return (1.0 if severity_ok and required_ok and regions_ok else 0.0), False, None


def _fires(flag: Flag, value: float | None) -> bool:
    if value is None:
        return False
    return {
        "ge": value >= flag.value,
        "gt": value > flag.value,
        "le": value <= flag.value,
        "lt": value < flag.value,
        "eq": math.isclose(value, flag.value),
    }[flag.op]


def score(
    instrument: str | Instrument,
    answers: Mapping[str, object],
    catalog: Catalog | None = None,
) -> ScoreResult:
    """Score one set of answers for a catalog instrument id (or a user-loaded Instrument).

    Raises ValidationError naming the item, the value and the allowed range for unknown items,
    wrong types, out-of-range values and unanswered required items.
    """
    if isinstance(instrument, str):
        instrument = (catalog or load_catalog()).instrument(instrument)
    checked = validate_answers(instrument, answers)
    scores: dict[str, ScoreValue] = {}
    for definition in instrument.scores:
        value, prorated, note = _compute(instrument, definition, checked, scores)
        if value is not None:
            value = _tidy(value)
        scores[definition.id] = ScoreValue(
            id=definition.id,
            title=definition.title,
            value=value,
            min=definition.min,
            max=definition.max,
            band=_band(definition, value),
            prorated=prorated,
            note=note,
        )
    fired = []
    for flag in instrument.flags:
        if flag.score is not None:
            target = scores[flag.score].value
        else:
            raw = checked.get(flag.item or "")
            target = None if raw is None or isinstance(raw, str) else _numeric(raw)
        if _fires(flag, target):
            fired.append(FlagResult(id=flag.id, title=flag.title, sources=flag.sources))
    return ScoreResult(
        instrument_id=instrument.id,
        instrument_version=instrument.version,
        answers=checked,
        scores=scores,
        primary_score=instrument.primary_score,
        flags=tuple(fired),
    )
