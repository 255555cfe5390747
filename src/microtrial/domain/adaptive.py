"""The adaptive section of a trial's protocol: when interim looks may stop the trial.

After each complete pair, from ``min_pairs`` on, the trial is fitted and P(effect <= -MCID) is
read: at or above ``benefit_threshold`` the trial stops for benefit, at or below
``futility_threshold`` it stops for futility, and after ``max_pairs`` it stops at the maximum.
Every pair stays randomised active/placebo and all ``max_pairs`` pairs are allocated when the
trial is planned, so the allocation is concealed however many pairs run. The default thresholds
were chosen by simulation (``bench/adaptive.py``, docs/PERFORMANCE.md "Adaptive trials").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from microtrial.domain.design import (
    PAIRS_RANGE,
    _check_int,  # the design's own check of a whole number
)
from microtrial.errors import ValidationError

__all__ = [
    "ADAPTIVE_OUTCOMES",
    "CUSTOM",
    "DECISIONS",
    "PRESETS",
    "SIMULATION",
    "AdaptiveRule",
    "RulePreset",
    "SimulationAssumptions",
    "kits_needed_through",
    "preset",
    "preset_with",
    "stop_in_words",
]

# The outcomes a look may read: the daily-diary scores the trial analysis fits
# (services/analysis.py OUTCOMES); "pain", daily average pain, is the primary outcome.
ADAPTIVE_OUTCOMES = ("pain", "worst_pain", "sleep")
PRIMARY = "pain"
# What a look may decide (analysis/adaptive.py Decision values).
DECISIONS = ("continue", "stop-benefit", "stop-futility", "maximum-reached")
# Chosen by bench/adaptive.py --grid (docs/PERFORMANCE.md): effect 0 declared benefit in <= 5 %.
DEFAULT_BENEFIT = 0.6
DEFAULT_FUTILITY = 0.2
# The first look may come after the first pair: one pair is the least that compares the arms.
MIN_PAIRS_LOW = 1


@dataclass(frozen=True, slots=True)
class SimulationAssumptions:
    """What simulating a rule assumes beyond the trial's own design: residual sd (points on the
    0-10 scale), day-to-day AR(1) autocorrelation, share of missing diary days, trials per
    effect. The one home of these defaults: the plan form, the clinician report, ``microtrial
    power`` and ``bench/adaptive.py`` read them here (docs/ANALYSIS.md "Design")."""

    sd: float = 1.5
    rho: float = 0.3
    missing: float = 0.1
    n_sim: int = 2000


SIMULATION = SimulationAssumptions()


def _share(name: str, value: object, allowed: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise ValidationError(name, "must be a number", value=value, allowed=allowed)
    return float(value)


@dataclass(frozen=True, slots=True)
class AdaptiveRule:
    """Minimum and maximum pairs, the thresholds on P(effect <= -MCID), and the outcome read."""

    min_pairs: int = 2
    max_pairs: int = 5
    benefit_threshold: float = DEFAULT_BENEFIT
    futility_threshold: float = DEFAULT_FUTILITY
    outcome: str = PRIMARY

    def __post_init__(self) -> None:
        low, high = PAIRS_RANGE
        _check_int("max_pairs", self.max_pairs, low, high)
        _check_int("min_pairs", self.min_pairs, MIN_PAIRS_LOW, self.max_pairs)
        benefit = _share("benefit_threshold", self.benefit_threshold, "0.5-0.99")
        if not 0.5 <= benefit <= 0.99:
            raise ValidationError(
                "benefit_threshold",
                "must lie from 0.5 to 0.99",
                value=benefit,
                allowed="0.5-0.99",
            )
        futility = _share("futility_threshold", self.futility_threshold, f"0-{benefit}")
        if not 0.0 <= futility < benefit:
            raise ValidationError(
                "futility_threshold",
                "must be at least 0 and below the benefit threshold",
                value=futility,
                allowed=f"0 <= futility_threshold < {benefit}",
            )
        if self.outcome not in ADAPTIVE_OUTCOMES:
            raise ValidationError(
                "outcome",
                f"unknown outcome {self.outcome!r}",
                value=self.outcome,
                allowed=list(ADAPTIVE_OUTCOMES),
            )
        object.__setattr__(self, "benefit_threshold", benefit)
        object.__setattr__(self, "futility_threshold", futility)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AdaptiveRule:
        """The rule stored under a plan's ``adaptive`` key."""
        return cls(
            min_pairs=data["min_pairs"],
            max_pairs=data["max_pairs"],
            benefit_threshold=data["benefit_threshold"],
            futility_threshold=data["futility_threshold"],
            outcome=data.get("outcome", PRIMARY),
        )

    def to_json(self) -> dict[str, Any]:
        """The JSON stored under a plan's ``adaptive`` key (with the rule's name, ``preset``)."""
        return {"preset": self.preset_name, **self.stopping(), "outcome": self.outcome}

    def stopping(self) -> dict[str, Any]:
        """The pairs and thresholds, named as the simulation's keyword arguments take them."""
        return {
            "min_pairs": self.min_pairs,
            "max_pairs": self.max_pairs,
            "benefit_threshold": self.benefit_threshold,
            "futility_threshold": self.futility_threshold,
        }

    @property
    def preset_name(self) -> str:
        """The name of the preset whose numbers this rule has (``PRESETS``), else ``custom``."""
        mine = {k: v for k, v in self.stopping().items() if k != "max_pairs"}
        for name, named in PRESETS.items():
            if dict(named.numbers) == mine:
                return name
        return CUSTOM

    @property
    def title(self) -> str:
        """The rule's name for people: the preset's title, or "Custom"."""
        named = PRESETS.get(self.preset_name)
        return N_("Custom") if named is None else named.title

    def describe(self, mcid: float = 1.0) -> str:
        """The rule in one sentence, for pages and reports."""
        return (
            f"after each pair from pair {self.min_pairs} on: stop for benefit when "
            f"P(effect ≤ −{mcid:g}) ≥ {self.benefit_threshold:g}, for futility when it is "
            f"≤ {self.futility_threshold:g}; at most {self.max_pairs} pairs ({self.outcome})"
        )


def N_(message: str) -> str:
    """Mark ``message`` for the catalogs (``make messages``); returned unchanged."""
    return message


@dataclass(frozen=True, slots=True)
class RulePreset:
    """A named rule: the numbers it sets (the look's minimum and thresholds; the maximum pairs
    and the outcome stay the clinician's) and, in plain words, what it trades."""

    name: str
    title: str
    trade_off: str
    numbers: Mapping[str, Any]


# The named rules (docs/PERFORMANCE.md "Adaptive trials" for their simulated operating
# characteristics, on a 7-day run-in and 14-day periods with 3 wash-in days; the figures in the
# words below come from there). "default" keeps real responders going; "short" looks after the
# first pair and meets the three goals as scored there (no-effect trials declared a
# benefit in <= 5 %, at the MCID a benefit at least as often as the fixed 3-pair design judged
# at the same threshold, >= 30 % shorter over the realistic spread), at the price of stopping
# about two thirds of true-MCID responders for futility. A name always means these numbers:
# changing a preset's numbers would make earlier trials with the old numbers read as "custom",
# so add a new name instead.
PRESETS: dict[str, RulePreset] = {
    "default": RulePreset(
        "default",
        N_("Standard"),
        N_(
            "First look after 2 pairs; keeps going while the answer is unclear. Trials are on "
            "average about 14 % shorter than a fixed 3-pair trial; of patients whose true benefit "
            "is just worthwhile (1 point), more than half are found to benefit and about 3 in 10 "
            "are stopped early for futility."
        ),
        {
            "min_pairs": 2,
            "benefit_threshold": DEFAULT_BENEFIT,
            "futility_threshold": DEFAULT_FUTILITY,
        },
    ),
    "short": RulePreset(
        "short",
        N_("Short"),
        N_(
            "First look after the first pair, with a stricter benefit threshold. Trials are on "
            "average about a third (35 %) shorter than a fixed 3-pair trial, but of patients whose "
            "true benefit is just worthwhile (1 point) about 2 in 3 are stopped early for futility "
            "and only about 1 in 6 is found to benefit. After one pair the estimate is still very "
            "uncertain, so a stop at the first look rests on little evidence."
        ),
        {"min_pairs": 1, "benefit_threshold": 0.9, "futility_threshold": 0.4},
    ),
}
# The name of a rule whose numbers are no preset's.
CUSTOM = "custom"


def preset(name: str, **change: Any) -> AdaptiveRule:
    """The named rule (``PRESETS``), with any field changed (ValidationError for a bad name)."""
    if name not in PRESETS:
        raise ValidationError(
            "preset", f"unknown preset {name!r}", value=name, allowed=list(PRESETS)
        )
    return AdaptiveRule(**{**PRESETS[name].numbers, **change})


def preset_with(name: str, given: Mapping[str, Any], *, prefix: str = "") -> AdaptiveRule:
    """The named rule with the maximum pairs and outcome ``given``; a minimum or threshold given
    beside the name is refused naming it (``prefix`` + field), as the preset sets them."""
    if name not in PRESETS:
        raise ValidationError(
            f"{prefix}preset", f"unknown preset {name!r}", value=name, allowed=list(PRESETS)
        )
    named = PRESETS[name].numbers
    clash = sorted(set(named) & set(given))
    if clash:
        raise ValidationError(
            f"{prefix}{clash[0]}",
            f"is set by the preset {name!r}: leave it out, or leave out the preset for a "
            "custom rule",
            value=given[clash[0]],
            allowed=f"only the preset's {named[clash[0]]:g}",
        )
    return preset(name, **given)


def kits_needed_through(rule: AdaptiveRule, last_look: int, stopped_after: int | None) -> int:
    """The last pair whose kits the pharmacy must have ready now.

    Always one pair ahead of the pair under way, so that a "continue" at the end of a pair finds
    the next pair's kits prepared: before any look the pair after the minimum, after a look at
    pair k the pair k + 2 (the one after the pair now running). After a stop, none beyond it.
    """
    if stopped_after is not None:
        return stopped_after
    return min(rule.max_pairs, max(rule.min_pairs + 1, last_look + 2))


# How an adaptive trial ended, for the patient: English msgids, worded in the reader's language
# by the ``gettext`` the caller passes (``%(pairs_run)s``, ``%(max_pairs)s``, ``%(reason)s``).
STOPPED_EARLY = N_(
    "Your trial stopped early, after %(pairs_run)s of up to %(max_pairs)s pairs of periods: "
    "%(reason)s, as the rule set before your trial began."
)
STOP_REASONS = {
    "stop-benefit": N_(
        "the check made after each pair found enough sign that the microdose helped to stop there"
    ),
    "stop-futility": N_(
        "the check made after each pair found a worthwhile benefit from the microdose unlikely, "
        "so more periods were not expected to change the answer"
    ),
}
RAN_TO_MAXIMUM = N_(
    "Your trial ran all %(max_pairs)s pairs of periods: the checks made after each pair did "
    "not reach a clear answer earlier, so it ran to its planned maximum."
)


def _as_is(message: str) -> str:
    return message


def stop_in_words(
    decision: str, pairs_run: int, max_pairs: int, gettext: Callable[[str], str] = _as_is
) -> str | None:
    """How an adaptive trial ended, in plain words for the patient (after unblinding only).

    No estimate: the decision, the pairs run and the reason the rule gives. None for a look
    that decided nothing (the trial ended without a decision). ``gettext`` words it in the
    reader's language (English as is).
    """
    values: dict[str, object] = {"pairs_run": pairs_run, "max_pairs": max_pairs}
    if decision in STOP_REASONS:
        values["reason"] = gettext(STOP_REASONS[decision])
        return gettext(STOPPED_EARLY) % values
    if decision == "maximum-reached":
        return gettext(RAN_TO_MAXIMUM) % values
    return None
