"""The n-of-1 design: run-in, randomised blocks of periods, wash-in, and the seeded allocation.

A trial is a run-in without capsules followed by ``pairs`` blocks. Each block contains every arm
exactly once (two arms: an active/placebo pair; more arms: placebo and dose levels), in an order
drawn from a seeded ``numpy.random.Generator``. The seed and the drawn sequence are returned so the
allocation can be stored and audited.

:class:`Design` and :class:`Period` carry the arm: they are **unblinded**. Patient- and
clinician-facing code uses :meth:`Design.blinded` (:class:`DesignView` / :class:`PlannedPeriod`),
which has no arm.
"""

from __future__ import annotations

import itertools
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from microtrial.errors import ValidationError

__all__ = [
    "ACTIVE",
    "PLACEBO",
    "Design",
    "DesignSpec",
    "DesignView",
    "Period",
    "PlannedPeriod",
    "longest_run",
    "new_allocation_seed",
    "plan_design",
]

ACTIVE = "active"
PLACEBO = "placebo"
_ARM_RE = re.compile(r"^[a-z][a-z0-9_\-]{0,31}$")

# Design limits are design choices; defaults follow ARCHITECTURE.md "A patient's trial by default".
PAIRS_RANGE = (2, 6)
PERIOD_DAYS_RANGE = (7, 56)
RUN_IN_DAYS_RANGE = (0, 28)
ARMS_RANGE = (2, 4)


def _check_int(name: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationError(
            name,
            f"must be a whole number from {low} to {high}",
            value=value,
            allowed=f"{low}-{high}",
        )
    return value


@dataclass(frozen=True)
class DesignSpec:
    """What the clinician chooses: run-in, pairs (blocks), period and wash-in lengths, arms."""

    run_in_days: int = 7
    pairs: int = 3
    period_days: int = 14
    wash_in_days: int = 3
    arms: tuple[str, ...] = (ACTIVE, PLACEBO)
    max_run_length: int | None = None

    def __post_init__(self) -> None:
        _check_int("run_in_days", self.run_in_days, *RUN_IN_DAYS_RANGE)
        _check_int("pairs", self.pairs, *PAIRS_RANGE)
        _check_int("period_days", self.period_days, *PERIOD_DAYS_RANGE)
        _check_int("wash_in_days", self.wash_in_days, 0, self.period_days - 1)
        arms = tuple(self.arms)
        object.__setattr__(self, "arms", arms)
        if not ARMS_RANGE[0] <= len(arms) <= ARMS_RANGE[1]:
            raise ValidationError(
                "arms", "a design needs 2 to 4 arms", value=list(arms), allowed="2-4 arms"
            )
        for arm in arms:
            if not isinstance(arm, str) or not _ARM_RE.match(arm):
                raise ValidationError(
                    "arms",
                    "arm names are short lower-case identifiers",
                    value=arm,
                    allowed="a-z, 0-9, '_' or '-', starting with a letter",
                )
        if len(set(arms)) != len(arms):
            raise ValidationError("arms", "arm names must be distinct", value=list(arms))
        if PLACEBO not in arms:
            raise ValidationError(
                "arms",
                "a placebo-controlled design needs a placebo arm",
                value=list(arms),
                allowed=[PLACEBO],
            )
        if self.max_run_length is not None:
            # With every arm once per block a run can never exceed 2, so 1 is the only real limit.
            _check_int("max_run_length", self.max_run_length, 1, self.pairs * len(arms))

    @property
    def n_periods(self) -> int:
        """Number of treatment periods."""
        return self.pairs * len(self.arms)

    @property
    def total_days(self) -> int:
        """Run-in plus all periods, in days."""
        return self.run_in_days + self.n_periods * self.period_days


@dataclass(frozen=True)
class PlannedPeriod:
    """A treatment period as patients and clinicians see it: timing only, no arm."""

    number: int
    block: int
    start_day: int
    end_day: int
    wash_in_days: int

    @property
    def length(self) -> int:
        """Days in the period."""
        return self.end_day - self.start_day + 1


@dataclass(frozen=True)
class Period:
    """A treatment period with its arm (unblinded)."""

    number: int
    block: int
    start_day: int
    end_day: int
    wash_in_days: int
    arm: str

    def blinded(self) -> PlannedPeriod:
        """The same period without its arm."""
        return PlannedPeriod(
            number=self.number,
            block=self.block,
            start_day=self.start_day,
            end_day=self.end_day,
            wash_in_days=self.wash_in_days,
        )


@dataclass(frozen=True)
class DesignView:
    """The blinded timeline of a design: run-in length and periods without arms."""

    run_in_days: int
    period_days: int
    wash_in_days: int
    periods: tuple[PlannedPeriod, ...]

    @property
    def total_days(self) -> int:
        """Run-in plus all periods, in days."""
        return self.run_in_days + len(self.periods) * self.period_days


@dataclass(frozen=True)
class Design:
    """The planned trial with its allocation (unblinded): seed, arm sequence and periods.

    Day offsets count from the first run-in day (day 0); ``end_day`` is inclusive.
    """

    spec: DesignSpec
    seed: int
    sequence: tuple[str, ...]
    periods: tuple[Period, ...]

    @property
    def total_days(self) -> int:
        """Run-in plus all periods, in days."""
        return self.spec.total_days

    def blinded(self) -> DesignView:
        """The timeline without arms, safe to show patients and clinicians."""
        return DesignView(
            run_in_days=self.spec.run_in_days,
            period_days=self.spec.period_days,
            wash_in_days=self.spec.wash_in_days,
            periods=tuple(p.blinded() for p in self.periods),
        )


def longest_run(sequence: Sequence[str]) -> int:
    """Length of the longest stretch of consecutive equal items (0 for an empty sequence)."""
    return max((len(list(g)) for _, g in itertools.groupby(sequence)), default=0)


def _draw_sequence(spec: DesignSpec, rng: np.random.Generator) -> tuple[str, ...]:
    orders = list(itertools.permutations(spec.arms))
    seq: list[str] = []
    for _ in range(spec.pairs):
        allowed = orders
        if spec.max_run_length is not None:
            allowed = [
                o
                for o in orders
                if longest_run([*seq[-spec.max_run_length :], *o]) <= spec.max_run_length
            ]
        # Never empty: with each arm once per block a block can always start on an arm other than
        # the previous block's last one, which keeps every run at length 1.
        seq.extend(allowed[int(rng.integers(len(allowed)))])
    return tuple(seq)


def plan_design(spec: DesignSpec, seed: int) -> Design:
    """Randomise each block's order from ``seed`` and lay out the periods (day offsets).

    Each block is drawn uniformly among the orders of its arms that keep the longest run of one
    arm within ``spec.max_run_length`` (across block boundaries). The same seed and spec always give
    the same design.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValidationError("seed", "must be a non-negative whole number", value=seed)
    rng = np.random.default_rng(seed)
    sequence = _draw_sequence(spec, rng)
    n_arms = len(spec.arms)
    periods = tuple(
        Period(
            number=i + 1,
            block=i // n_arms + 1,
            start_day=spec.run_in_days + i * spec.period_days,
            end_day=spec.run_in_days + (i + 1) * spec.period_days - 1,
            wash_in_days=spec.wash_in_days,
            arm=arm,
        )
        for i, arm in enumerate(sequence)
    )
    return Design(spec=spec, seed=seed, sequence=sequence, periods=periods)


def new_allocation_seed(randbits: Callable[[int], int] = secrets.randbits) -> int:
    """A fresh 63-bit allocation seed from a CSPRNG (store it with the trial for audit)."""
    return int(randbits(63))
