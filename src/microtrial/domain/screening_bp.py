"""Blood-pressure readings as screening judges them: parsed, checked, averaged and worded."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from microtrial.domain.catalog_files import BloodPressureRule
from microtrial.errors import ValidationError

__all__ = ["BloodPressure", "exceeds", "listed", "mmhg", "plural"]


@dataclass(frozen=True, slots=True)
class BloodPressure:
    """A blood-pressure reading in mmHg, with the day it was taken when known."""

    systolic: int
    diastolic: int
    taken_on: dt.date | None = None

    @classmethod
    def parse(cls, text: str) -> BloodPressure:
        """Parse 'SYS/DIA', e.g. '128/84'."""
        parts = text.strip().split("/")
        try:
            systolic, diastolic = (int(p) for p in parts)
        except ValueError as err:
            raise ValidationError(
                "bp", "expected SYS/DIA in mmHg", value=text, allowed="e.g. 128/84"
            ) from err
        reading = cls(systolic, diastolic)
        reading.check()
        return reading

    def check(self) -> None:
        """Reject implausible readings."""
        if not (50 <= self.systolic <= 300 and 20 <= self.diastolic <= 200):
            raise ValidationError(
                "bp",
                "implausible blood pressure",
                value=f"{self.systolic}/{self.diastolic}",
                allowed="systolic 50–300, diastolic 20–200 mmHg",
            )
        if self.diastolic >= self.systolic:
            raise ValidationError(
                "bp",
                "diastolic must be below systolic",
                value=f"{self.systolic}/{self.diastolic}",
            )


def exceeds(rule: BloodPressureRule, systolic_sum: int, diastolic_sum: int, n: int) -> bool:
    """Whether the mean of n readings (given as sums, so exact) meets the rule's comparison."""
    if rule.comparison == "above":
        return systolic_sum > rule.systolic * n or diastolic_sum > rule.diastolic * n
    return systolic_sum >= rule.systolic * n or diastolic_sum >= rule.diastolic * n


def mmhg(total: int, n: int) -> str:
    """A mean in mmHg: whole when it is whole, else to one decimal."""
    return f"{total // n}" if total % n == 0 else f"{total / n:.1f}"


def listed(readings: Sequence[BloodPressure]) -> str:
    """The readings as the finding lists them: "2026-03-01 150/95; 2026-03-02 148/92"."""
    return "; ".join(
        (f"{r.taken_on.isoformat()} " if r.taken_on else "") + f"{r.systolic}/{r.diastolic}"
        for r in readings
    )


def plural(n: int, word: str) -> str:
    """ "1 reading", "2 readings"."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
