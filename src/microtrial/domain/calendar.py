"""The patient's day-by-day plan, pauses, and adherence/deviations from recorded doses.

Dates are the patient's **local calendar dates** in their IANA time zone; recorded doses carry
aware timestamps and are placed on the local date where they happened. Nothing here carries an
arm: the calendar is safe to show patients and clinicians.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from microtrial.domain.design import Design, DesignView
from microtrial.domain.kits import normalise_kit_code
from microtrial.domain.regimens import Regimen, pattern_fits_period
from microtrial.errors import ValidationError

__all__ = [
    "Adherence",
    "CalendarDay",
    "DayFields",
    "Deviation",
    "DeviationKind",
    "DoseEvent",
    "Phase",
    "TrialCalendar",
    "build_calendar",
    "day_fields",
    "find_deviations",
    "local_reminder",
    "pause_open",
    "plan_days",
    "shift_for_pause",
    "summarise_adherence",
    "zone",
]


class Phase(StrEnum):
    """What a calendar day belongs to."""

    RUN_IN = "run-in"
    PERIOD = "period"
    PAUSED = "paused"


@dataclass(frozen=True)
class CalendarDay:
    """One local date of the plan (no arm).

    ``trial_day`` is the planned day index (0 = first run-in day), kept when a pause shifts the
    date; pause days have none. ``period_day`` is 0 on a period's first day.
    """

    date: date
    trial_day: int | None
    phase: Phase
    period: int | None
    period_day: int | None
    is_wash_in: bool
    is_dose_day: bool
    kit_code: str | None


@dataclass(frozen=True)
class TrialCalendar:
    """A patient's whole plan, one :class:`CalendarDay` per consecutive local date."""

    tz: str
    days: tuple[CalendarDay, ...]

    @property
    def first_date(self) -> date:
        """First date of the plan."""
        return self.days[0].date

    @property
    def last_date(self) -> date:
        """Last date of the plan."""
        return self.days[-1].date

    @property
    def dose_dates(self) -> tuple[date, ...]:
        """All planned dose dates, in order."""
        return tuple(d.date for d in self.days if d.is_dose_day)

    def on(self, day: date) -> CalendarDay | None:
        """The plan for a local date, or ``None`` outside the calendar."""
        i = (day - self.first_date).days
        return self.days[i] if 0 <= i < len(self.days) else None


def zone(tz: str) -> ZoneInfo:
    """The ``ZoneInfo`` for an IANA time-zone name; a clear error if unknown."""
    try:
        if not isinstance(tz, str) or not tz or tz != tz.strip():
            raise ValueError(tz)
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise ValidationError(
            "tz", "unknown time zone", value=tz, allowed="an IANA name such as Europe/London"
        ) from err


def _view(design: Design | DesignView) -> DesignView:
    return design.blinded() if isinstance(design, Design) else design


# A calendar day's fields in ``CalendarDay``'s order: date, trial_day, phase, period,
# period_day, is_wash_in, is_dose_day, kit_code.
DayFields = tuple[date, int | None, Phase, int | None, int | None, bool, bool, str | None]


def build_calendar(
    design: Design | DesignView,
    regimen: Regimen,
    start_date: date,
    tz: str,
    kit_codes: Mapping[int, str] | None = None,
) -> TrialCalendar:
    """Lay out every local date from the first run-in day to the end of the last period."""
    days = plan_days(design, regimen, start_date, tz, kit_codes)
    return TrialCalendar(tz=tz, days=tuple(CalendarDay(*d) for d in days))


def plan_days(
    design: Design | DesignView,
    regimen: Regimen,
    start_date: date,
    tz: str,
    kit_codes: Mapping[int, str] | None = None,
) -> list[DayFields]:
    """``build_calendar``'s days as tuples of their fields (no objects: a batch of thousands
    of trials reads a hundred days of each)."""
    zone(tz)
    view = _view(design)
    pattern_fits_period(regimen.pattern, view.period_days)
    if kit_codes is not None:
        numbers = [p.number for p in view.periods]
        missing = [n for n in numbers if n not in kit_codes]
        if missing:
            raise ValidationError(
                "kit_codes",
                "every period needs a kit",
                value=missing,
                allowed=[str(n) for n in numbers],
            )
        codes = [kit_codes[n] for n in numbers]
        if len(set(codes)) != len(codes):
            raise ValidationError("kit_codes", "kit codes repeat", value=codes)
    days: list[DayFields] = [
        (start_date + timedelta(days=i), i, Phase.RUN_IN, None, None, False, False, None)
        for i in range(view.run_in_days)
    ]
    for p in view.periods:
        code = kit_codes[p.number] if kit_codes is not None else None
        for pd in range(p.length):
            day = start_date + timedelta(days=p.start_day + pd)
            dose = regimen.is_dose_day(pd, day)
            days.append(
                (day, p.start_day + pd, Phase.PERIOD, p.number, pd, pd < p.wash_in_days, dose, code)
            )
    return days


def day_fields(day: CalendarDay) -> DayFields:
    """A calendar day as ``plan_days`` gives it."""
    return (
        day.date,
        day.trial_day,
        day.phase,
        day.period,
        day.period_day,
        day.is_wash_in,
        day.is_dose_day,
        day.kit_code,
    )


def shift_for_pause(
    calendar: TrialCalendar, pause_date: date, resume_date: date, *, regimen: Regimen
) -> TrialCalendar:
    """Pause from ``pause_date`` and resume the remaining plan on ``resume_date``.

    Days before ``pause_date`` are unchanged; ``pause_date`` up to the day before ``resume_date``
    become pause days (no dose, no kit); every remaining planned day moves later by the gap.
    Dose days of moved period days are re-derived from ``regimen`` (so weekday regimens keep
    their weekdays; day-count regimens keep their period days).
    """
    if not calendar.first_date <= pause_date <= calendar.last_date:
        raise ValidationError(
            "pause_date",
            "must fall within the calendar",
            value=pause_date.isoformat(),
            allowed=f"{calendar.first_date.isoformat()} to {calendar.last_date.isoformat()}",
        )
    if resume_date <= pause_date:
        raise ValidationError(
            "resume_date",
            "must be after the pause date",
            value=resume_date.isoformat(),
            allowed=f"after {pause_date.isoformat()}",
        )
    gap = resume_date - pause_date
    kept = [d for d in calendar.days if d.date < pause_date]
    paused = [
        _day_without_capsule(pause_date + timedelta(days=i), Phase.PAUSED) for i in range(gap.days)
    ]
    moved = []
    for d in calendar.days:
        if d.date < pause_date:
            continue
        new_date = d.date + gap
        dose = d.is_dose_day
        if d.phase is Phase.PERIOD and d.period_day is not None:
            dose = regimen.is_dose_day(d.period_day, new_date)
        moved.append(replace(d, date=new_date, is_dose_day=dose))
    return TrialCalendar(tz=calendar.tz, days=(*kept, *paused, *moved))


def pause_open(calendar: TrialCalendar, pause_date: date) -> TrialCalendar:
    """A pause not (yet) resumed: every day from ``pause_date`` on is a pause day.

    Nothing moves, since no resumption date is known; a pause later resumed is drawn by
    :func:`shift_for_pause` instead. Paused days carry no period, dose or kit, so they count
    for no arm and no missed dose (a trial completed or unblinded while paused ends this way).
    """
    return TrialCalendar(
        tz=calendar.tz,
        days=tuple(
            d if d.date < pause_date else _day_without_capsule(d.date, Phase.PAUSED)
            for d in calendar.days
        ),
    )


def _day_without_capsule(day: date, phase: Phase, trial_day: int | None = None) -> CalendarDay:
    """A run-in or pause day: no period, no dose, no kit (pause days have no trial day)."""
    return CalendarDay(
        date=day,
        trial_day=trial_day,
        phase=phase,
        period=None,
        period_day=None,
        is_wash_in=False,
        is_dose_day=False,
        kit_code=None,
    )


def local_reminder(day: date, at: time, tz: str) -> datetime:
    """The aware local datetime of a reminder at wall-clock time ``at`` on ``day`` in ``tz``."""
    return datetime.combine(day, at.replace(tzinfo=None), tzinfo=zone(tz))


# --------------------------------------------------------------------------- adherence


@dataclass(frozen=True)
class DoseEvent:
    """A recorded dose: when it was taken (aware) and the kit code the patient entered."""

    taken_at: datetime
    kit_code: str | None = None
    event_id: str | None = None
    # Reported while dosing was held or the trial was not running (a deviation of its own).
    during_hold: bool = False


class DeviationKind(StrEnum):
    """Protocol deviations derived from the calendar and recorded doses."""

    MISSED_DOSE = "missed-dose"
    OFF_CALENDAR_DOSE = "dose-on-non-dose-day"
    EXTRA_DOSE = "extra-dose"
    WRONG_KIT = "wrong-kit"
    DOSE_DURING_HOLD = "dose-during-hold"


@dataclass(frozen=True)
class Deviation:
    """One deviation on a local date (no arm)."""

    kind: DeviationKind
    date: date
    period: int | None
    expected_kit: str | None = None
    recorded_kit: str | None = None
    event_id: str | None = None


def _local_date(event: DoseEvent, tz: ZoneInfo) -> date:
    if event.taken_at.tzinfo is None or event.taken_at.utcoffset() is None:
        raise ValidationError(
            "taken_at",
            "dose times must carry a time zone",
            value=event.taken_at.isoformat(),
            allowed="an aware datetime (e.g. UTC)",
        )
    return event.taken_at.astimezone(tz).date()


def _doses_by_date(
    calendar: TrialCalendar, doses: Sequence[DoseEvent]
) -> dict[date, list[DoseEvent]]:
    tz = zone(calendar.tz)
    by_date: dict[date, list[DoseEvent]] = defaultdict(list)
    for ev in sorted(doses, key=lambda e: e.taken_at):
        by_date[_local_date(ev, tz)].append(ev)
    return by_date


def find_deviations(
    calendar: TrialCalendar, doses: Sequence[DoseEvent], *, through: date
) -> list[Deviation]:
    """Missed doses (dose days up to ``through``), off-calendar and extra doses, wrong kits,
    doses taken while held."""
    by_date = _doses_by_date(calendar, doses)
    out: list[Deviation] = []
    for day in calendar.days:
        if day.is_dose_day and day.date <= through and not by_date.get(day.date):
            out.append(
                Deviation(
                    DeviationKind.MISSED_DOSE, day.date, day.period, expected_kit=day.kit_code
                )
            )
    for when, events in by_date.items():
        day_plan = calendar.on(when)
        period = day_plan.period if day_plan is not None else None
        expected = day_plan.kit_code if day_plan is not None else None
        for i, ev in enumerate(events):
            recorded = normalise_kit_code(ev.kit_code) if ev.kit_code is not None else None
            if day_plan is None or not day_plan.is_dose_day:
                kind = DeviationKind.OFF_CALENDAR_DOSE
            elif i > 0:
                kind = DeviationKind.EXTRA_DOSE
            else:
                kind = None
            if kind is not None:
                out.append(Deviation(kind, when, period, expected, recorded, ev.event_id))
            if ev.during_hold:
                out.append(
                    Deviation(
                        DeviationKind.DOSE_DURING_HOLD,
                        when,
                        period,
                        expected,
                        recorded,
                        ev.event_id,
                    )
                )
            if recorded is not None and expected is not None and recorded != expected:
                out.append(
                    Deviation(
                        DeviationKind.WRONG_KIT, when, period, expected, recorded, ev.event_id
                    )
                )
    order = list(DeviationKind)
    out.sort(key=lambda d: (d.date, order.index(d.kind), d.event_id or ""))
    return out


@dataclass(frozen=True)
class Adherence:
    """Planned dose days up to a date and how many had a recorded dose, overall and per period."""

    planned: int
    taken: int
    by_period: Mapping[int, tuple[int, int]]

    @property
    def proportion(self) -> float | None:
        """Share of planned dose days with a dose (``None`` when nothing was planned yet)."""
        return self.taken / self.planned if self.planned else None


def summarise_adherence(
    calendar: TrialCalendar, doses: Sequence[DoseEvent], *, through: date
) -> Adherence:
    """Count planned dose days up to ``through`` and those with at least one recorded dose."""
    by_date = _doses_by_date(calendar, doses)
    per: dict[int, list[int]] = {}
    planned = taken = 0
    for day in calendar.days:
        if not day.is_dose_day or day.date > through:
            continue
        hit = int(bool(by_date.get(day.date)))
        planned += 1
        taken += hit
        if day.period is not None:
            counts = per.setdefault(day.period, [0, 0])
            counts[0] += 1
            counts[1] += hit
    return Adherence(
        planned=planned, taken=taken, by_period={k: (v[0], v[1]) for k, v in per.items()}
    )
