"""Words the staff pages show for stored values (statuses, phases, severities, kinds), marked
for the catalog in their capitalised form and translated on display by the ``word`` filter."""

from __future__ import annotations

from functools import cache

from microtrial import i18n
from microtrial.domain.catalog import load_catalog
from microtrial.domain.screening import DECISION_CONTEXT, DECISION_WORDS


def pgettext(context: str, message: str) -> str:
    """``message`` read in ``context``, in the page's language (pybabel extracts the calls)."""
    return i18n.pgettext(context, message)


# Capitalised forms of stored values: trial statuses, calendar phases, alert and finding
# severities, adverse-event statuses and outcomes, timeline kinds, worklist reasons, alert states,
# user roles, sexes.
WORDS = (
    pgettext("stored value", "Draft"),
    pgettext("stored value", "Screened"),
    pgettext("stored value", "Scheduled"),
    pgettext("stored value", "Running"),
    pgettext("stored value", "Paused"),
    pgettext("stored value", "Completed"),
    pgettext("stored value", "Unblinded"),
    pgettext("stored value", "Withdrawn"),
    pgettext("stored value", "Run-in"),
    pgettext("stored value", "Period"),
    pgettext("stored value", "Urgent"),
    pgettext("stored value", "High"),
    pgettext("stored value", "Info"),
    pgettext("stored value", "Contraindicated"),
    pgettext("stored value", "Major"),
    pgettext("stored value", "Moderate"),
    pgettext("stored value", "Minor"),
    pgettext("stored value", "Awaiting review"),
    pgettext("stored value", "Confirmed"),
    pgettext("stored value", "Closed"),
    pgettext("stored value", "Recovered"),
    pgettext("stored value", "Recovering"),
    pgettext("stored value", "Not recovered"),
    pgettext("stored value", "Recovered with sequelae"),
    pgettext("stored value", "Fatal"),
    pgettext("stored value", "Unknown"),
    pgettext("stored value", "Blood pressure"),
    pgettext("stored value", "Mood"),
    pgettext("stored value", "Side effect"),
    pgettext("stored value", "Dose"),
    pgettext("stored value", "Adverse event"),
    pgettext("stored value", "Open urgent alert"),
    pgettext("stored value", "Dose hold"),
    pgettext("stored value", "Side effect awaiting review"),
    pgettext("stored value", "Missed diary"),
    pgettext("stored value", "Blinding guess overdue"),
    pgettext("stored value", "Open"),
    pgettext("stored value", "Acknowledged"),
    pgettext("stored value", "All"),
    pgettext("stored value", "Active"),
    pgettext("stored value", "Resolved"),
    pgettext("stored value", "Stopped"),
    pgettext("stored value", "Admin"),
    pgettext("stored value", "Clinician"),
    pgettext("stored value", "Unblinded staff"),
    pgettext("stored value", "Researcher"),
    pgettext("stored value", "Patient"),
    pgettext("stored value", "Female"),
    pgettext("stored value", "Male"),
    pgettext("stored value", "Other"),
)


# The ``word`` filter of the staff pages (the reports call the same function).
word = i18n.stored_word


def decision(value: object) -> str:
    """A screening decision in words, in the page's language (an unknown code as stored)."""
    text = str(value)
    words = DECISION_WORDS.get(text)
    return i18n.pgettext(DECISION_CONTEXT, words) if words else text


@cache
def _rule_messages() -> tuple[str, ...]:
    """The catalog's alert messages, longest first (a stored message starts with one)."""
    messages = {rule.message for rule in load_catalog().alerts.rules()}
    return tuple(sorted(messages, key=len, reverse=True))


def alert_text(message: object) -> str:
    """A stored alert message in the page's language: the catalog rule's words translated,
    the alert's own detail (in brackets after them) as recorded."""
    text = str(message)
    for rule_message in _rule_messages():
        if text.startswith(rule_message):
            return i18n.gettext(rule_message) + text[len(rule_message) :]
    return text
