"""Refusals in the reader's language: a form's error and an error page's detail.

Services refuse in English (``ValidationError``'s "field: detail (allowed: ...)"); the web layer
names the field by its label (``forms.FormState``, ``forms.plain_message``). Here, once the
page's language is known (``rendering.render``), the label is worded like the form (a catalog
message or the instrument item's translated question) and the detail by the table of known
wordings below: each an English pattern with named values and its catalog message. A detail
the table does not know stays as the service wrote it.
"""

from __future__ import annotations

import re
from functools import cache

from microtrial import i18n
from microtrial.domain.catalog import load_catalog
from microtrial.i18n import N_
from microtrial.web.forms import FormItem, FormState, form_items
from microtrial.web.item_language import item_text
from microtrial.web.staff_words import word

__all__ = ["WORDED", "form_in_language", "refusal_text"]

_DAY = r"\d{4}-\d\d-\d\d"
# (pattern of an English detail, its catalog message); a group named ``role`` is a role's value.
WORDED: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(f"^{pattern}$"), message)
    for pattern, message in (
        (
            r"this page is not for role '(?P<role>[a-z_]+)'",
            N_("this page is not for role “%(role)s”"),
        ),
        (r"please answer this question", N_("please answer this question")),
        (
            r"someone changed this since the page was loaded: check it and try again",
            N_("someone changed this since the page was loaded: check it and try again"),
        ),
        (rf"(?P<day>{_DAY}) is in the future", N_("%(day)s is in the future")),
        (r"is in the future", N_("is in the future")),
        (
            rf"(?P<day>{_DAY}) is before enrolment on (?P<enrolled>{_DAY})",
            N_("%(day)s is before enrolment on %(enrolled)s"),
        ),
        (
            rf"(?P<day>{_DAY}) is more than (?P<days>\d+) days ago \(the site's backfill window\)",
            N_("%(day)s is more than %(days)s days ago (the site's backfill window)"),
        ),
        (
            rf"an entry for (?P<day>{_DAY}) exists; correct it instead",
            N_("an entry for %(day)s exists; correct it instead"),
        ),
        (
            r"value (?P<value>-?[\d.]+) out of range",
            N_("value %(value)s out of range"),
        ),
        (r"expected an integer, got '(?P<value>[^']*)'", N_("“%(value)s” is not a whole number")),
        (r"text too long", N_("text too long")),
        (
            r"“(?P<code>[^”]*)” is not a kit code\. Check the 8 letters and numbers printed "
            r"under the QR code on the capsule pack",
            N_(
                "“%(code)s” is not a kit code. Check the 8 letters and numbers printed under the "
                "QR code on the capsule pack"
            ),
        ),
        (
            r"enter the kit code printed on the capsule pack",
            N_("enter the kit code printed on the capsule pack"),
        ),
        (
            r"there is no running trial to check a capsule in for",
            N_("there is no running trial to check a capsule in for"),
        ),
        (
            r"kit (?P<code>\S+) is your kit for period (?P<period>\d+), not the kit due today\. "
            r"Today's capsule comes from kit (?P<due>\S+) \(period (?P<due_period>\d+)\)\.",
            N_(
                "kit %(code)s is your kit for period %(period)s, not the kit due today. "
                "Today's capsule comes from kit %(due)s (period %(due_period)s)."
            ),
        ),
        (
            r"kit (?P<code>\S+) is not one of your kits, not the kit due today\. "
            r"Today's capsule comes from kit (?P<due>\S+) \(period (?P<due_period>\d+)\)\.",
            N_(
                "kit %(code)s is not one of your kits, not the kit due today. "
                "Today's capsule comes from kit %(due)s (period %(due_period)s)."
            ),
        ),
        (
            r"kit (?P<code>\S+) is your kit for period (?P<period>\d+), not the kit due today\.",
            N_("kit %(code)s is your kit for period %(period)s, not the kit due today."),
        ),
        (
            r"kit (?P<code>\S+) is not one of your kits, not the kit due today\.",
            N_("kit %(code)s is not one of your kits, not the kit due today."),
        ),
        (
            r"period (?P<period>\d+) has not reached its last days",
            N_("period %(period)s has not reached its last days"),
        ),
        (
            r"a guess for period (?P<period>\d+) exists",
            N_("a guess for period %(period)s exists"),
        ),
    )
)
CHECK_IN = re.compile(r"^Capsule check-in not recorded: (?P<why>.*)$", re.S)
CHECK_IN_WORDS = N_("Capsule check-in not recorded: %(why)s")
# An instrument's plausibility rule as ``domain.scoring`` words it: "<rule's message> (<item>
# <value>, <other item> <value>)", and what is allowed in the items' ids.
CONSTRAINT = re.compile(
    r"^(?P<rule>.+) \((?P<item>[a-z_0-9]+) (?P<value>\S+), (?P<other>[a-z_0-9]+) "
    r"(?P<other_value>\S+)\)( \(allowed: [^()]*\([^()]*\)\))?$",
    re.S,
)
ALLOWED = re.compile(r"^(?P<detail>.*) \(allowed: (?P<allowed>[^()]*)\)$", re.S)
ALLOWED_WORDS = N_("allowed: %(values)s")


def refusal_text(message: str) -> str:
    """A refusal ("Label: detail", or a detail alone) in the current language where its
    wording is known, anything unknown as it is; in English too, so that a plausibility rule
    reads as its sentence and the two answers, not the items' ids."""
    if not message:
        return message
    found = CHECK_IN.match(message)
    if found:
        return i18n.gettext(CHECK_IN_WORDS) % {"why": refusal_text(found.group("why"))}
    label, sep, detail = message.partition(": ")
    if sep:
        worded, why = _label(label), _detail(detail)
        if worded is not None or why != detail:  # a label of the forms, or a known detail
            return f"{worded or label}: {why}"
    return _detail(message)


def form_in_language(form: FormState) -> FormState:
    """A refused form with its message and field errors in the current language."""
    errors = {name: refusal_text(text) for name, text in form.errors.items()}
    # several refusals at once are joined by "; " (FormState.refused): each worded alone
    message = "; ".join(refusal_text(part) for part in form.message.split("; "))
    return FormState(form.key, form.values, errors, message, form.status)


def _label(english: str) -> str | None:
    """A field's label in the current language: a catalog message, else an instrument item's
    question (None when ``english`` is no label the forms use)."""
    item = _items_by_text().get(english)
    if item is not None:
        return item_text(item)
    translated = i18n.gettext(english)
    return translated if translated != english else None


def _detail(text: str) -> str:
    """A detail in the current language, its "(allowed: ...)" worded too, when known."""
    rule = CONSTRAINT.match(text)
    if rule and rule.group("rule") in _rule_messages():
        # the rule's sentence names both answers in its order: their values need no item ids
        answers = f"{rule.group('value')}, {rule.group('other_value')}"
        return f"{i18n.gettext(rule.group('rule'))} ({answers})"
    allowed = ""
    found = ALLOWED.match(text)
    if found:
        text, given = found.group("detail"), found.group("allowed")
        allowed = " (" + i18n.gettext(ALLOWED_WORDS) % {"values": i18n.gettext(given)} + ")"
    upper = text[:1].isupper()
    plain = text[:1].lower() + text[1:]
    for pattern, message in WORDED:
        match = pattern.match(plain)
        if match:
            values = {
                key: word(value.replace("_", " ")) if key == "role" else value
                for key, value in match.groupdict().items()
            }
            worded = i18n.gettext(message) % values
            return (worded[:1].upper() + worded[1:] if upper else worded) + allowed
    # a service's own fixed words, marked N_ where it raises them
    worded = i18n.gettext(plain)
    if worded != plain:
        return (worded[:1].upper() + worded[1:] if upper else worded) + allowed
    return text + allowed


@cache
def _items_by_text() -> dict[str, FormItem]:
    """Every instrument item by the English question a form's label shows."""
    found: dict[str, FormItem] = {}
    for instrument_id in load_catalog().instruments:
        for item in form_items(instrument_id):
            found.setdefault(item.text, item)
    return found


@cache
def _rule_messages() -> frozenset[str]:
    """The messages of every instrument's plausibility rules (catalog messages themselves)."""
    return frozenset(
        rule.message
        for instrument in load_catalog().instruments.values()
        for rule in instrument.constraints
    )
