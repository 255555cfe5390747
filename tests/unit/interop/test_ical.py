"""iCalendar export: dose reminders at a fixed local time in the patient's TZID."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import icalendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from microtrial.domain.calendar import TrialCalendar, build_calendar
from microtrial.domain.design import DesignSpec, plan_design
from microtrial.domain.kits import issue_kits, kit_codes_by_period
from microtrial.domain.regimens import regimen_from_template
from microtrial.errors import ValidationError
from microtrial.interop.ical import ReminderFeed, calendar_to_ics, reminder_feed_to_ics

GENERATED = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)
ZONES = ["Europe/London", "America/New_York", "Australia/Sydney"]
TEMPLATES = [
    "fadiman",
    "every_other_day",
    "every_fourth_day",
    "four_on_three_off",
    "headache_pulse",
]


def make_calendar(template: str, start: date, tz: str) -> TrialCalendar:
    design = plan_design(DesignSpec(), seed=4)
    regimen = regimen_from_template(template, substance="LSD", amount=10, unit="µg")
    return build_calendar(design, regimen, start, tz, kit_codes_by_period(issue_kits(design).kits))


def events_of(text: str) -> list[icalendar.Event]:
    parsed = icalendar.Calendar.from_ical(text)
    return [c for c in parsed.walk("VEVENT") if isinstance(c, icalendar.Event)]


@given(
    template=st.sampled_from(TEMPLATES),
    tz=st.sampled_from(ZONES),
    start=st.dates(date(2025, 1, 1), date(2027, 12, 31)),
    hour=st.sampled_from([7, 8, 21]),
)
@settings(max_examples=25, deadline=None)
def test_events_are_the_dose_dates_at_the_same_local_time(
    template: str, tz: str, start: date, hour: int
) -> None:
    cal = make_calendar(template, start, tz)
    text = calendar_to_ics(
        cal, uid_prefix="trial-1", generated_at=GENERATED, reminder_time=time(hour)
    )
    events = events_of(text)
    starts = [e.decoded("dtstart") for e in events]
    assert {s.date() for s in starts} == set(cal.dose_dates)
    assert len(starts) == len(cal.dose_dates)
    assert all((s.hour, s.minute) == (hour, 0) for s in starts)
    assert all(e["dtstart"].params["TZID"] == tz for e in events)
    assert all(str(s.tzinfo) == tz for s in starts)


def test_reminder_stays_at_0800_local_across_dst_in_the_text() -> None:
    # London changes to BST on 29 March 2026: 08:00 GMT then 08:00 BST (07:00 UTC).
    cal = make_calendar("every_other_day", date(2026, 3, 20), "Europe/London")
    text = calendar_to_ics(cal, uid_prefix="t", generated_at=GENERATED)
    assert "DTSTART;TZID=Europe/London:20260327T080000" in text
    assert "DTSTART;TZID=Europe/London:20260329T080000" in text
    assert "BEGIN:VTIMEZONE" in text
    assert "TZID:Europe/London" in text
    utc_hours = {e.decoded("dtstart").astimezone(UTC).hour for e in events_of(text)}
    assert utc_hours == {8, 7}


@pytest.mark.parametrize(
    ("tz", "start", "utc_hours"),
    [
        ("America/New_York", date(2026, 2, 20), {13, 12}),  # EST -> EDT on 8 March
        ("Australia/Sydney", date(2026, 3, 20), {21, 22}),  # AEDT -> AEST on 5 April
    ],
)
def test_other_zones_keep_local_time(tz: str, start: date, utc_hours: set[int]) -> None:
    text = calendar_to_ics(
        make_calendar("fadiman", start, tz), uid_prefix="t", generated_at=GENERATED
    )
    events = events_of(text)
    assert {e.decoded("dtstart").astimezone(UTC).hour for e in events} == utc_hours
    assert {e.decoded("dtstart").hour for e in events} == {8}


def test_event_content_has_kit_but_no_arm() -> None:
    cal = make_calendar("fadiman", date(2026, 5, 1), "Europe/London")
    text = calendar_to_ics(cal, uid_prefix="trial-1", generated_at=GENERATED)
    assert "active" not in text.lower()
    assert "placebo" not in text.lower()
    first = events_of(text)[0]
    day = next(d for d in cal.days if d.is_dose_day)
    assert str(first["summary"]) == f"Take today's capsule - kit {day.kit_code}"
    assert "Identical capsules - blinded." in str(first["description"])
    assert str(first["uid"]) == f"trial-1-{day.date:%Y%m%d}@microtrial"
    assert first.decoded("dtstamp") == GENERATED
    assert first.decoded("dtend") - first.decoded("dtstart") == timedelta(minutes=15)
    assert len(list(first.walk("VALARM"))) == 1
    uids = [str(e["uid"]) for e in events_of(text)]
    assert len(set(uids)) == len(uids)


def test_same_input_same_text() -> None:
    cal = make_calendar("fadiman", date(2026, 5, 1), "Europe/London")
    a = calendar_to_ics(cal, uid_prefix="x", generated_at=GENERATED, alarm=False)
    b = calendar_to_ics(cal, uid_prefix="x", generated_at=GENERATED, alarm=False)
    assert a == b
    assert "VALARM" not in a


def test_validation() -> None:
    cal = make_calendar("fadiman", date(2026, 5, 1), "Europe/London")
    with pytest.raises(ValidationError) as err:
        calendar_to_ics(cal, uid_prefix="x", generated_at=datetime(2026, 1, 1))
    assert err.value.field == "generated_at"
    with pytest.raises(ValidationError) as err:
        calendar_to_ics(cal, uid_prefix="a b", generated_at=GENERATED)
    assert err.value.field == "uid_prefix"
    with pytest.raises(ValidationError) as err:
        calendar_to_ics(cal, uid_prefix="x", generated_at=GENERATED, duration_minutes=0)
    assert (err.value.field, err.value.allowed) == ("duration_minutes", "1-240")


def test_the_calendar_speaks_the_patients_language() -> None:
    cal = make_calendar("fadiman", date(2026, 3, 2), "Europe/Berlin")
    german = icalendar.Calendar.from_ical(
        calendar_to_ics(cal, uid_prefix="t", generated_at=GENERATED, language="de")
    )
    english = events_of(calendar_to_ics(cal, uid_prefix="t", generated_at=GENERATED))
    assert str(german["x-wr-calname"]) == "Dosis-Erinnerungen der Studie"
    first = next(iter(german.walk("VEVENT")))
    assert str(first["summary"]).startswith("Heutige Kapsel nehmen - Packung ")
    assert "Identische Kapseln - verblindet." in str(first["description"])
    assert str(english[0]["summary"]).startswith("Take today's capsule - kit ")
    assert "Identical capsules - blinded." in str(english[0]["description"])


def test_the_reminder_feed_speaks_the_patients_language() -> None:
    feed = ReminderFeed(
        tz="Europe/Berlin",
        dose_dates=(date(2026, 3, 2),),
        guess_dates=(date(2026, 3, 9),),
        diary_from=date(2026, 3, 2),
        dose_time=time(8, 0),
        diary_time=time(20, 0),
    )
    german = icalendar.Calendar.from_ical(
        reminder_feed_to_ics(feed, uid_prefix="r", generated_at=GENERATED, language="de")
    )
    english = icalendar.Calendar.from_ical(
        reminder_feed_to_ics(feed, uid_prefix="r", generated_at=GENERATED)
    )
    assert str(german["x-wr-calname"]) == "MicroTrial-Erinnerungen"
    assert str(english["x-wr-calname"]) == "MicroTrial reminders"
    summaries = sorted(str(e["summary"]) for e in german.walk("VEVENT"))
    assert summaries == ["Kapseltag", "MicroTrial: Ihre Vermutung", "Tagebuch"]
    alarms = sorted(str(a["description"]) for a in german.walk("VALARM"))
    assert alarms == ["Kapseltag", "Tagebuch"]
    assert "Bitte füllen Sie" in german.to_ical().decode("utf-8").replace("\r\n ", "")
    summaries = sorted(str(e["summary"]) for e in english.walk("VEVENT"))
    assert summaries == ["Capsule day", "Daily diary", "MicroTrial: your guess"]
