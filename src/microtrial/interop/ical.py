"""Export a patient's dose calendar as iCalendar (RFC 5545) text.

One event per planned dose day at a local wall-clock time in the patient's ``TZID`` (with the
matching ``VTIMEZONE``), so an 08:00 reminder stays 08:00 local across daylight-saving changes.
Events name the kit code and period only - never the arm.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import icalendar

from microtrial import i18n
from microtrial.domain.calendar import TrialCalendar, local_reminder
from microtrial.errors import ValidationError

__all__ = ["calendar_to_ics"]

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
