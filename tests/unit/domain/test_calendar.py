"""The per-day calendar: dose days across month/DST boundaries, pauses, deviations, adherence."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from microtrial.domain.calendar import (
    CalendarDay,
    Deviation,
    DeviationKind,
    DoseEvent,
    Phase,
    TrialCalendar,
    build_calendar,
    find_deviations,
    local_reminder,
    shift_for_pause,
    summarise_adherence,
)
from microtrial.domain.design import DesignSpec, plan_design
from microtrial.domain.kits import issue_kits, kit_codes_by_period
from microtrial.domain.regimens import (
    DayListPattern,
    Regimen,
    WeekdayPattern,
    custom_regimen,
    every_n_days,
    regimen_from_template,
)
from microtrial.errors import ValidationError

ZONES = ["Europe/London", "America/New_York", "Australia/Sydney"]

# Intended dose days, written out independently of the pattern code: period day -> dose?
INTENDED: dict[str, Callable[[int, date], bool]] = {
    "fadiman": lambda d, _: d in range(0, 56, 3),
    "every_other_day": lambda d, _: d in range(0, 56, 2),
    "every_fourth_day": lambda d, _: d in range(0, 56, 4),
    "four_on_three_off": lambda d, _: d in {w + i for w in range(0, 56, 7) for i in range(4)},
    "headache_pulse": lambda d, _: d in {0, 5, 10},
    "twice_weekly": lambda _, day: day.strftime("%a") in {"Mon", "Thu"},
    "custom_every_5": lambda d, _: d in range(0, 56, 5),
    "custom_weekend": lambda _, day: day.strftime("%a") in {"Sat", "Sun"},
    "custom_days": lambda d, _: d in {1, 2, 9},
}


def make_regimen(name: str) -> Regimen:
    if name == "twice_weekly":
        return regimen_from_template(
            name, substance="LSD", amount=8, unit="µg", weekdays=["mon", "thu"]
        )
    if name == "custom_every_5":
        return custom_regimen(every_n_days(5), substance="LSD", amount=5, unit="µg")
    if name == "custom_weekend":
        return custom_regimen(
            WeekdayPattern(frozenset({5, 6})), substance="LSD", amount=5, unit="µg"
        )
    if name == "custom_days":
        return custom_regimen(
            DayListPattern(days=(1, 2, 9)), substance="psilocybin", amount=1, unit="mg"
        )
    return regimen_from_template(name, substance="psilocybin", amount=100, unit="mg dried")


def make_calendar(
    regimen: str = "fadiman",
    start: date = date(2026, 3, 1),
    tz: str = "Europe/London",
    spec: DesignSpec | None = None,
) -> TrialCalendar:
    design = plan_design(spec or DesignSpec(), seed=99)
    kits = issue_kits(design)
    return build_calendar(design, make_regimen(regimen), start, tz, kit_codes_by_period(kits.kits))


@given(
    regimen=st.sampled_from(sorted(INTENDED)),
    tz=st.sampled_from(ZONES),
    start=st.dates(date(2024, 1, 1), date(2027, 12, 31)),
    run_in=st.integers(0, 10),
    period_days=st.integers(11, 21),
    pairs=st.integers(2, 3),
)
@settings(max_examples=150, deadline=None)
def test_dose_dates_are_exactly_the_intended_dates(
    regimen: str, tz: str, start: date, run_in: int, period_days: int, pairs: int
) -> None:
    spec = DesignSpec(run_in_days=run_in, pairs=pairs, period_days=period_days)
    cal = make_calendar(regimen, start, tz, spec)
    intended = set()
    for n in range(spec.n_periods):
        first = start + timedelta(days=run_in + n * period_days)
        for d in range(period_days):
            day = first + timedelta(days=d)
            if INTENDED[regimen](d, day):
                intended.add(day)
    assert set(cal.dose_dates) == intended
    assert len(cal.days) == spec.total_days
    # consecutive local dates, across month ends and DST changes alike
    assert [d.date for d in cal.days] == [start + timedelta(days=i) for i in range(len(cal.days))]


def test_day_fields_for_the_default_design() -> None:
    cal = make_calendar("fadiman", date(2026, 3, 25))
    run_in = cal.days[:7]
    assert all(d.phase is Phase.RUN_IN for d in run_in)
    assert not any(d.is_dose_day or d.kit_code or d.period for d in run_in)
    first = cal.days[7]
    assert (first.date, first.phase, first.period, first.period_day) == (
        date(2026, 4, 1),
        Phase.PERIOD,
        1,
        0,
    )
    assert [d.is_wash_in for d in cal.days[7:11]] == [True, True, True, False]
    assert [d.is_wash_in for d in cal.days[21:25]] == [True, True, True, False]
    period_codes = {d.period: d.kit_code for d in cal.days if d.period}
    assert len(set(period_codes.values())) == 6
    assert all(d.kit_code == period_codes[d.period] for d in cal.days if d.period)
    assert cal.on(date(2026, 4, 4)) == cal.days[10]
    assert cal.on(date(2026, 3, 24)) is None
    assert cal.last_date == date(2026, 6, 23)


def test_calendar_types_carry_no_arm() -> None:
    for cls in (CalendarDay, TrialCalendar, Deviation, DoseEvent):
        assert "arm" not in {f.name for f in dataclasses.fields(cls)}
    text = repr(make_calendar())
    assert "active" not in text
    assert "placebo" not in text


def test_build_calendar_validation() -> None:
    design = plan_design(DesignSpec(), seed=1)
    regimen = make_regimen("fadiman")
    with pytest.raises(ValidationError) as err:
        build_calendar(design, regimen, date(2026, 1, 1), "Mars/Olympus")
    assert (err.value.field, err.value.value) == ("tz", "Mars/Olympus")
    with pytest.raises(ValidationError) as err:
        build_calendar(design, regimen, date(2026, 1, 1), "UTC", {1: "A", 2: "B"})
    assert err.value.field == "kit_codes"
    assert err.value.value == [3, 4, 5, 6]
    with pytest.raises(ValidationError, match="repeat"):
        build_calendar(design, regimen, date(2026, 1, 1), "UTC", dict.fromkeys(range(1, 7), "A"))
    short = plan_design(DesignSpec(period_days=8), seed=1)
    with pytest.raises(ValidationError) as err:
        build_calendar(short, make_regimen("headache_pulse"), date(2026, 1, 1), "UTC")
    assert err.value.field == "pattern.days"


def test_blinded_view_gives_the_same_calendar() -> None:
    design = plan_design(DesignSpec(), seed=5)
    regimen = make_regimen("fadiman")
    a = build_calendar(design, regimen, date(2026, 10, 20), "America/New_York")
    b = build_calendar(design.blinded(), regimen, date(2026, 10, 20), "America/New_York")
    assert a == b


def test_local_reminder_keeps_wall_clock_time_across_dst() -> None:
    before = local_reminder(date(2026, 3, 28), time(8), "Europe/London")
    after = local_reminder(date(2026, 3, 29), time(8), "Europe/London")
    assert before.astimezone(UTC).hour == 8
    assert after.astimezone(UTC).hour == 7
    assert (before.hour, after.hour) == (8, 8)


# --------------------------------------------------------------------------- pauses


def test_pause_shifts_the_rest_of_the_plan() -> None:
    cal = make_calendar("fadiman", date(2026, 3, 1))
    regimen = make_regimen("fadiman")
    pause, resume = date(2026, 3, 20), date(2026, 3, 25)
    shifted = shift_for_pause(cal, pause, resume, regimen=regimen)
    assert shifted.days[:19] == cal.days[:19]  # days already passed are unchanged
    gap = shifted.days[19:24]
    assert [d.date for d in gap] == [pause + timedelta(days=i) for i in range(5)]
    assert all(d.phase is Phase.PAUSED and not d.is_dose_day and d.kit_code is None for d in gap)
    moved = shifted.days[24:]
    assert [dataclasses.replace(d, date=d.date - timedelta(days=5)) for d in moved] == list(
        cal.days[19:]
    )
    assert len(shifted.days) == len(cal.days) + 5
    assert set(shifted.dose_dates) == {d for d in cal.dose_dates if d < pause} | {
        d + timedelta(days=5) for d in cal.dose_dates if d >= pause
    }


def test_pause_keeps_weekday_regimens_on_their_weekdays() -> None:
    cal = make_calendar("twice_weekly", date(2026, 3, 1))
    shifted = shift_for_pause(
        cal, date(2026, 3, 20), date(2026, 3, 23), regimen=make_regimen("twice_weekly")
    )
    assert {d.strftime("%a") for d in shifted.dose_dates} == {"Mon", "Thu"}
    assert shifted.days[:19] == cal.days[:19]


@given(
    pause_offset=st.integers(0, 90),
    gap=st.integers(1, 30),
    tz=st.sampled_from(ZONES),
    regimen=st.sampled_from(["fadiman", "twice_weekly", "four_on_three_off"]),
)
@settings(max_examples=80, deadline=None)
def test_pause_invariants(pause_offset: int, gap: int, tz: str, regimen: str) -> None:
    cal = make_calendar(regimen, date(2026, 9, 20), tz)
    pause = cal.first_date + timedelta(days=pause_offset)
    shifted = shift_for_pause(
        cal, pause, pause + timedelta(days=gap), regimen=make_regimen(regimen)
    )
    assert [d.date for d in shifted.days] == [
        cal.first_date + timedelta(days=i) for i in range(len(cal.days) + gap)
    ]
    assert [d.trial_day for d in shifted.days if d.trial_day is not None] == list(
        range(len(cal.days))
    )
    assert [d for d in shifted.days if d.date < pause] == [d for d in cal.days if d.date < pause]
    assert sum(d.phase is Phase.PAUSED for d in shifted.days) == gap


def test_pause_validation() -> None:
    cal = make_calendar()
    regimen = make_regimen("fadiman")
    with pytest.raises(ValidationError) as err:
        shift_for_pause(cal, date(2026, 3, 10), date(2026, 3, 10), regimen=regimen)
    assert (err.value.field, err.value.value) == ("resume_date", "2026-03-10")
    with pytest.raises(ValidationError) as err:
        shift_for_pause(cal, date(2025, 3, 10), date(2025, 3, 12), regimen=regimen)
    assert err.value.field == "pause_date"
    assert err.value.allowed == "2026-03-01 to 2026-05-30"


# --------------------------------------------------------------------------- deviations


def at_local(day: date, hour: int, tz: str) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=ZoneInfo(tz)).astimezone(UTC)


def test_find_deviations_classifies_each_kind() -> None:
    tz = "Australia/Sydney"
    cal = make_calendar("fadiman", date(2026, 3, 29), tz)  # DST ends in Sydney on 5 April
    doses_planned = [d for d in cal.days if d.is_dose_day][:6]
    kit1 = doses_planned[0].kit_code
    assert kit1 is not None
    events = [
        DoseEvent(at_local(d.date, 8, tz), d.kit_code, f"e{i}") for i, d in enumerate(doses_planned)
    ]
    del events[2]  # missed
    events[0] = DoseEvent(events[0].taken_at, kit1.lower(), "e0")  # typed in lower case: fine
    events[1] = DoseEvent(events[1].taken_at, "ZZZZZZZZ", "e1")  # wrong kit
    events.append(DoseEvent(at_local(doses_planned[3].date, 20, tz), None, "extra"))
    off_day = doses_planned[4].date + timedelta(days=1)
    events.append(DoseEvent(at_local(off_day, 9, tz), None, "off"))
    run_in_day = cal.first_date + timedelta(days=1)
    events.append(DoseEvent(at_local(run_in_day, 9, tz), None, "runin"))
    through = doses_planned[5].date
    deviations = find_deviations(cal, events, through=through)
    assert [(d.kind, d.date, d.event_id) for d in deviations] == [
        (DeviationKind.OFF_CALENDAR_DOSE, run_in_day, "runin"),
        (DeviationKind.WRONG_KIT, doses_planned[1].date, "e1"),
        (DeviationKind.MISSED_DOSE, doses_planned[2].date, None),
        (DeviationKind.EXTRA_DOSE, doses_planned[3].date, "extra"),
        (DeviationKind.OFF_CALENDAR_DOSE, off_day, "off"),
    ]
    wrong = deviations[1]
    assert (wrong.expected_kit, wrong.recorded_kit, wrong.period) == (
        doses_planned[1].kit_code,
        "ZZZZZZZZ",
        1,
    )
    adherence = summarise_adherence(cal, events, through=through)
    assert (adherence.planned, adherence.taken) == (6, 5)
    assert adherence.proportion == pytest.approx(5 / 6)
    assert dict(adherence.by_period) == {1: (5, 4), 2: (1, 1)}


def test_doses_count_on_the_patients_local_date() -> None:
    tz = "Australia/Sydney"
    cal = make_calendar("fadiman", date(2026, 3, 1), tz)
    dose_day = cal.dose_dates[0]
    # 00:30 in Sydney is still the previous day in UTC: must count for the local date.
    taken = at_local(dose_day, 0, tz) + timedelta(minutes=30)
    assert taken.date() == dose_day - timedelta(days=1)
    events = [DoseEvent(taken, cal.days[7].kit_code)]
    assert find_deviations(cal, events, through=dose_day) == []


def test_missed_doses_only_up_to_through() -> None:
    cal = make_calendar("fadiman", date(2026, 3, 1))
    through = cal.dose_dates[2]
    missed = find_deviations(cal, [], through=through)
    assert [d.date for d in missed] == list(cal.dose_dates[:3])
    assert all(d.kind is DeviationKind.MISSED_DOSE for d in missed)
    assert summarise_adherence(cal, [], through=cal.first_date).proportion is None


def test_naive_dose_times_are_rejected() -> None:
    cal = make_calendar()
    with pytest.raises(ValidationError) as err:
        find_deviations(cal, [DoseEvent(datetime(2026, 3, 9, 8))], through=date(2026, 3, 9))
    assert err.value.field == "taken_at"
