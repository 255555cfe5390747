"""Export a patient's dose calendar as iCalendar (RFC 5545) text.

One event per planned dose day at a local wall-clock time in the patient's ``TZID`` (with the
matching ``VTIMEZONE``), so an 08:00 reminder stays 08:00 local across daylight-saving changes.
Events name the kit code and period only - never the arm.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import icalendar

from microtrial import i18n
from microtrial.domain.calendar import TrialCalendar, local_reminder
from microtrial.errors import ValidationError

__all__ = ["ReminderFeed", "calendar_to_ics", "reminder_feed_to_ics"]

_PRODID = "-//MicroTrial//n-of-1 dose calendar//EN"
# The calendar's default name; a msgid (translated into ``language`` like the event texts).
CALENDAR_NAME = i18n.N_("Trial dose reminders")


def _summary(kit_code: str | None, language: str) -> str:
    """An event's title: take today's capsule (from which kit)."""
    if not kit_code:
        return i18n.gettext("Take today's capsule", language)
    return i18n.gettext("Take today's capsule - kit %(kit)s", language) % {"kit": kit_code}


def calendar_to_ics(
    calendar: TrialCalendar,
    *,
    uid_prefix: str,
    generated_at: datetime,
    reminder_time: time = time(8, 0),
    duration_minutes: int = 15,
    alarm: bool = True,
    name: str = CALENDAR_NAME,
    language: str = i18n.DEFAULT,
) -> str:
    """Dose reminders as ``.ics`` text: one event per dose day at ``reminder_time`` local time
    (texts in ``language``: en, es, de, nl, pt)."""
    if generated_at.tzinfo is None or generated_at.utcoffset() is None:
        raise ValidationError(
            "generated_at",
            "must carry a time zone",
            value=generated_at.isoformat(),
            allowed="an aware datetime",
        )
    if not uid_prefix or any(ch.isspace() or ch == "@" for ch in uid_prefix):
        raise ValidationError(
            "uid_prefix", "needs a non-empty token without spaces or '@'", value=uid_prefix
        )
    if not 1 <= duration_minutes <= 240:
        raise ValidationError(
            "duration_minutes", "out of range", value=duration_minutes, allowed="1-240"
        )
    stamp = generated_at.astimezone(UTC)
    cal = icalendar.Calendar()
    cal.add("prodid", _PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", i18n.gettext(name, language))
    cal.add("x-wr-timezone", calendar.tz)
    for day in calendar.days:
        if not day.is_dose_day:
            continue
        start = local_reminder(day.date, reminder_time, calendar.tz)
        event = icalendar.Event()
        event.add("uid", f"{uid_prefix}-{day.date.strftime('%Y%m%d')}@microtrial")
        event.add("dtstamp", stamp)
        event.add("dtstart", start)
        event.add("dtend", start + timedelta(minutes=duration_minutes))
        event.add("summary", _summary(day.kit_code, language))
        where = {"period": day.period, "day": (day.period_day or 0) + 1}
        lines = [i18n.gettext("Period %(period)s, day %(day)s.", language) % where]
        if day.kit_code:
            take = i18n.gettext(
                "Take one capsule from kit %(kit)s and record it in MicroTrial.", language
            )
            lines.append(take % {"kit": day.kit_code})
        lines.append(i18n.gettext("Identical capsules - blinded.", language))
        event.add("description", " ".join(lines))
        if alarm:
            valarm = icalendar.Alarm()
            valarm.add("action", "DISPLAY")
            valarm.add("description", i18n.gettext("Dose reminder", language))
            valarm.add("trigger", timedelta(0))
            event.add_component(valarm)
        cal.add_component(event)
    # A year either side is plenty for the rules in force during the trial; keeps the file small.
    cal.add_missing_timezones(
        first_date=calendar.first_date - timedelta(days=366),
        last_date=calendar.last_date + timedelta(days=366),
    )
    data: bytes = cal.to_ical()
    return data.decode("utf-8")


# The words of the private reminder feed. Never an arm, kit code, period number, substance or
# study code: the feed travels in a URL and sits in the phone's calendar (and its cloud backup).
# English msgids, written in the patient's language (``reminder_feed_to_ics(..., language=)``).
FEED_NAME = i18n.N_("MicroTrial reminders")
FEED_TEXT = {
    "dose": (
        i18n.N_("Capsule day"),
        i18n.N_("Take today's capsule as planned and check it in on MicroTrial."),
    ),
    "guess": (
        i18n.N_("MicroTrial: your guess"),
        i18n.N_(
            "You can now say which capsules you think you have been taking lately, on MicroTrial."
        ),
    ),
    "diary": (
        i18n.N_("Daily diary"),
        i18n.N_("Please fill in today's diary on MicroTrial."),
    ),
    # While a dose hold is open or the trial is paused: in place of every capsule day left.
    "hold": (
        i18n.N_("Do not take a capsule"),
        i18n.N_(
            "Your clinic has put your capsules on hold and will contact you. "
            "Do not take a capsule until they tell you to."
        ),
    ),
}
_FEED_PRODID = "-//MicroTrial//private reminder feed//EN"


@dataclass(frozen=True, slots=True)
class ReminderFeed:
    """What a reminder feed holds: dates and local times only, nothing about the allocation."""

    tz: str
    dose_dates: tuple[date, ...] = ()
    guess_dates: tuple[date, ...] = ()
    diary_from: date | None = None
    diary_until: date | None = None  # None: the diary reminder repeats with no end
    dose_time: time | None = None
    diary_time: time | None = None
    alarms: bool = True  # False while the patient has paused their reminders
    # A dose hold (an open holding alert, a paused trial) from this local date: no capsule day
    # from it on, one all-day "do not take a capsule" entry up to ``hold_until`` instead.
    hold_from: date | None = None
    hold_until: date | None = None

    def capsule_dates(self) -> tuple[date, ...]:
        """The capsule days to show: none from the hold on."""
        if self.hold_from is None:
            return self.dose_dates
        return tuple(d for d in self.dose_dates if d < self.hold_from)


def _feed_event(
    kind: str,
    day: date,
    at: time | None,
    feed: ReminderFeed,
    stamp: datetime,
    uid: str,
    language: str = i18n.DEFAULT,
    last: date | None = None,
) -> icalendar.Event:
    summary, description = (i18n.gettext(text, language) for text in FEED_TEXT[kind])
    event = icalendar.Event()
    event.add("uid", f"{uid}@microtrial")
    event.add("dtstamp", stamp)
    event.add("summary", summary)
    event.add("description", description)
    if at is None:  # no time chosen: an all-day entry (up to ``last``), no alarm
        event.add("dtstart", day)
        event.add("dtend", max(day, last or day) + timedelta(days=1))
        return event
    start = local_reminder(day, at, feed.tz)
    event.add("dtstart", start)
    event.add("dtend", start + timedelta(minutes=15))
    if feed.alarms:
        valarm = icalendar.Alarm()
        valarm.add("action", "DISPLAY")
        valarm.add("description", summary)
        valarm.add("trigger", timedelta(0))
        event.add_component(valarm)
    return event


def reminder_feed_to_ics(
    feed: ReminderFeed,
    *,
    uid_prefix: str,
    generated_at: datetime,
    language: str = i18n.DEFAULT,
) -> str:
    """The private reminder feed as ``.ics`` text: capsule days, guess prompts, the diary
    (texts in ``language``: en, es, de, nl, pt); while a dose hold is open, one all-day "do not
    take a capsule" entry without an alarm in place of the capsule days left.

    Times are wall-clock times in the patient's ``TZID`` (with its ``VTIMEZONE``); each capsule
    and diary entry with a time carries a ``VALARM`` at that time unless ``feed.alarms`` is off.
    """
    stamp = generated_at.astimezone(UTC)
    cal = icalendar.Calendar()
    cal.add("prodid", _FEED_PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", i18n.gettext(FEED_NAME, language))
    cal.add("x-wr-timezone", feed.tz)
    # Ask subscribing calendars to fetch it again every few hours.
    cal.add("refresh-interval", timedelta(hours=6), parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", "PT6H")
    for day in feed.capsule_dates():
        uid = f"{uid_prefix}-dose-{day:%Y%m%d}"
        cal.add_component(_feed_event("dose", day, feed.dose_time, feed, stamp, uid, language))
    if feed.hold_from is not None:
        # All day, no alarm: nothing to remind of, only what not to do.
        uid, last = f"{uid_prefix}-hold", feed.hold_until
        hold = _feed_event("hold", feed.hold_from, None, feed, stamp, uid, language, last)
        cal.add_component(hold)
    for day in feed.guess_dates:
        uid = f"{uid_prefix}-guess-{day:%Y%m%d}"
        cal.add_component(_feed_event("guess", day, None, feed, stamp, uid, language))
    if feed.diary_from is not None and feed.diary_time is not None:
        event = _feed_event(
            "diary",
            feed.diary_from,
            feed.diary_time,
            feed,
            stamp,
            f"{uid_prefix}-diary",
            language,
        )
        rule: dict[str, object] = {"freq": "daily"}
        if feed.diary_until is not None:
            last = local_reminder(feed.diary_until, feed.diary_time, feed.tz)
            rule["until"] = last.astimezone(UTC)
        event.add("rrule", rule)
        cal.add_component(event)
    days = [*feed.dose_dates, *feed.guess_dates]
    wanted = (feed.diary_from, feed.diary_until, feed.hold_from, feed.hold_until)
    days += [d for d in wanted if d is not None]
    if days:
        cal.add_missing_timezones(
            first_date=min(days) - timedelta(days=366), last_date=max(days) + timedelta(days=366)
        )
    data: bytes = cal.to_ical()
    return data.decode("utf-8")
