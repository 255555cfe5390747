"""A trial's stored plan: its regimen choice, design, pauses and data lock, as a frozen value.

The plan is kept as JSON with the trial. ``TrialPlan.from_json`` reads it (plans written before
pauses or unblinding existed load too) and ``to_json`` writes exactly the same shape back: the same
keys in the same order, dates and times as ISO text, so stored rows never need migrating.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from microtrial.domain.adaptive import AdaptiveRule
from microtrial.domain.design import DesignSpec
from microtrial.domain.regimens import Regimen, regimen_from_template

__all__ = ["PlannedDesign", "PlannedRegimen", "TrialPlan", "new_plan"]


@dataclass(frozen=True, slots=True)
class PlannedRegimen:
    """The clinician's regimen as planned: a catalog template plus substance, amount and unit."""

    template: str
    substance: str
    amount: float
    unit: str
    weekdays: tuple[str, ...] | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PlannedRegimen:
        """The regimen stored under a plan's ``regimen`` key."""
        weekdays = data.get("weekdays")
        return cls(
            template=data["template"],
            substance=data["substance"],
            amount=data["amount"],
            unit=data["unit"],
            weekdays=tuple(weekdays) if weekdays else None,
        )

    def build(self, *, enforce_range: bool = True) -> Regimen:
        """The domain regimen; refuses a unit foreign to the substance or an out-of-range amount.

        ``enforce_range=False`` reads a plan stored before the sourced microdose ranges existed.
        """
        return regimen_from_template(
            self.template,
            substance=self.substance,
            amount=self.amount,
            unit=self.unit,
            weekdays=self.weekdays,
            enforce_range=enforce_range,
        )

    def to_json(self) -> dict[str, Any]:
        """The JSON stored under a plan's ``regimen`` key."""
        return {
            "template": self.template,
            "substance": self.substance,
            "amount": self.amount,
            "unit": self.unit,
            "weekdays": list(self.weekdays) if self.weekdays else None,
        }


@dataclass(frozen=True, slots=True)
class PlannedDesign:
    """The randomised design's shape: run-in, pairs, period and wash-in lengths, arms."""

    run_in_days: int
    pairs: int
    period_days: int
    wash_in_days: int
    n_arms: int

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PlannedDesign:
        """The design stored under a plan's ``design`` key."""
        return cls(
            run_in_days=int(data["run_in_days"]),
            pairs=int(data["pairs"]),
            period_days=int(data["period_days"]),
            wash_in_days=int(data["wash_in_days"]),
            n_arms=int(data["n_arms"]),
        )

    def to_json(self) -> dict[str, Any]:
        """The JSON stored under a plan's ``design`` key."""
        return {
            "run_in_days": self.run_in_days,
            "pairs": self.pairs,
            "period_days": self.period_days,
            "wash_in_days": self.wash_in_days,
            "n_arms": self.n_arms,
        }


@dataclass(frozen=True, slots=True)
class TrialPlan:
    """A trial's plan: regimen, design, completed pauses, an open pause and the data lock,
    and for an adaptive trial its stopping rule (``adaptive``)."""

    regimen: PlannedRegimen
    design: PlannedDesign
    pauses: tuple[tuple[dt.date, dt.date], ...] = ()
    paused_on: dt.date | None = None
    data_locked_at: dt.datetime | None = None
    adaptive: AdaptiveRule | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TrialPlan:
        """The plan stored with a trial (older plans lack ``paused_on`` and ``data_locked_at``)."""
        paused_on = data.get("paused_on")
        locked = data.get("data_locked_at")
        adaptive = data.get("adaptive")
        return cls(
            regimen=PlannedRegimen.from_json(data["regimen"]),
            design=PlannedDesign.from_json(data["design"]),
            pauses=tuple(
                (dt.date.fromisoformat(p["from"]), dt.date.fromisoformat(p["to"]))
                for p in data.get("pauses", [])
            ),
            paused_on=dt.date.fromisoformat(paused_on) if paused_on else None,
            data_locked_at=dt.datetime.fromisoformat(locked) if locked else None,
            adaptive=AdaptiveRule.from_json(adaptive) if adaptive else None,
        )

    def to_json(self) -> dict[str, Any]:
        """The JSON stored with the trial; optional keys appear only once they are set."""
        out: dict[str, Any] = {
            "regimen": self.regimen.to_json(),
            "design": self.design.to_json(),
            "pauses": self.pauses_json(),
        }
        if self.paused_on is not None:
            out["paused_on"] = self.paused_on.isoformat()
        if self.data_locked_at is not None:
            out["data_locked_at"] = self.data_locked_at.isoformat()
        if self.adaptive is not None:
            out["adaptive"] = self.adaptive.to_json()
        return out

    def pauses_json(self) -> list[dict[str, str]]:
        """The completed pauses as stored: ``{"from": ISO date, "to": ISO date}`` each."""
        return [{"from": a.isoformat(), "to": b.isoformat()} for a, b in self.pauses]

    def paused(self, today: dt.date) -> TrialPlan:
        """The plan with a pause open from ``today`` (closed when the trial resumes)."""
        return replace(self, paused_on=today)

    def resumed(self, today: dt.date) -> TrialPlan:
        """The plan with its open pause closed on ``today`` (a same-day pause shifts nothing)."""
        pauses = self.pauses
        if self.paused_on is not None and self.paused_on < today:
            pauses = (*pauses, (self.paused_on, today))
        return replace(self, pauses=pauses, paused_on=None)

    def moved(self, day: dt.date) -> dt.date:
        """A planned day as the completed pauses moved it (each pause moves the days from its
        start on by its length, as ``calendar.shift_for_pause`` draws them)."""
        for paused, resumed in self.pauses:
            if day >= paused:
                day += resumed - paused
        return day

    def locked(self, at: dt.datetime) -> TrialPlan:
        """The plan with its analysis data locked at ``at`` (when the blind is broken)."""
        return replace(self, data_locked_at=at)


def new_plan(
    regimen: PlannedRegimen, spec: DesignSpec, adaptive: AdaptiveRule | None = None
) -> TrialPlan:
    """The plan of a new trial from the regimen chosen and the design spec (no pause, no lock)."""
    design = PlannedDesign(
        run_in_days=spec.run_in_days,
        pairs=spec.pairs,
        period_days=spec.period_days,
        wash_in_days=spec.wash_in_days,
        n_arms=len(spec.arms),
    )
    return TrialPlan(regimen=regimen, design=design, adaptive=adaptive)
