"""The condition's primary endpoint (migraine days, cluster attacks) in the patient's words and
language: whole sentences per instrument, so that each language can order them its own way.

The numbers are ``trial_endpoint.endpoint_result``'s raw ones, formatted in the reader's
language here (``i18n.speaking``); the clinician's wording stays in ``trial_endpoint``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from microtrial import i18n
from microtrial.i18n import N_
from microtrial.reports import formatting as f

__all__ = ["PATIENT_ENDPOINT", "PatientEndpointWords", "patient_endpoint"]


@dataclass(frozen=True)
class PatientEndpointWords:
    """One endpoint instrument's sentences for the patient (English msgids)."""

    heading: str
    fewer: tuple[str, str]  # (one, many): "about %(size)s fewer migraine day(s) per 4 weeks"
    more: tuple[str, str]
    same: str
    rate: str  # "%(rate)s per 4 weeks"
    detail: tuple[str, str]  # (one, many) observed days: "%(n)s of %(days)s days"
    ratio: str  # the ratio sentence, "%(ratio)s"
    p_fewer: str  # "%(p)s"
    p_reduction: str  # "%(rel)s", "%(p)s"
    no_entries: str
    too_few: str
    zero: str


PATIENT_ENDPOINT = {
    "migraine_diary": PatientEndpointWords(
        heading=N_("Your migraine days"),
        fewer=(
            N_("about %(size)s fewer migraine day per 4 weeks"),
            N_("about %(size)s fewer migraine days per 4 weeks"),
        ),
        more=(
            N_("about %(size)s more migraine day per 4 weeks"),
            N_("about %(size)s more migraine days per 4 weeks"),
        ),
        same=N_("about the same number of migraine days per 4 weeks"),
        rate=N_("%(rate)s per 4 weeks"),
        detail=(N_("%(n)s of %(days)s days"), N_("%(n)s of %(days)s days")),
        ratio=N_(
            "Put another way, your odds of a migraine day in the real-microdose periods were "
            "%(ratio)s times those in the dummy-capsule periods (1 would mean no difference)."
        ),
        p_fewer=N_("The chance that the real microdose meant fewer migraine days at all: %(p)s."),
        p_reduction=N_("The chance that it meant at least %(rel)s fewer migraine days: %(p)s."),
        no_entries=N_(
            "We could not work out a result for your migraine days: there were no entries in "
            "your migraine diary during your trial."
        ),
        too_few=N_(
            "We could not work out a result for your migraine days: there were not enough days "
            "with an answer in both kinds of period."
        ),
        zero=N_(
            "A day on which you filled in your diary but logged no migraine counted as a day "
            "without migraine."
        ),
    ),
    "cluster_attack_log": PatientEndpointWords(
        heading=N_("Your cluster attacks"),
        fewer=(
            N_("about %(size)s fewer attack per week"),
            N_("about %(size)s fewer attacks per week"),
        ),
        more=(
            N_("about %(size)s more attack per week"),
            N_("about %(size)s more attacks per week"),
        ),
        same=N_("about the same number of attacks per week"),
        rate=N_("%(rate)s per week"),
        detail=(N_("%(n)s attack in %(days)s days"), N_("%(n)s attacks in %(days)s days")),
        ratio=N_(
            "Put another way, your number of attacks per day in the real-microdose periods was "
            "%(ratio)s times that in the dummy-capsule periods (1 would mean no difference)."
        ),
        p_fewer=N_("The chance that the real microdose meant fewer attacks at all: %(p)s."),
        p_reduction=N_("The chance that it meant at least %(rel)s fewer attacks: %(p)s."),
        no_entries=N_(
            "We could not work out a result for your cluster attacks: there were no entries in "
            "your attack log during your trial."
        ),
        too_few=N_(
            "We could not work out a result for your cluster attacks: there were not enough days "
            "with an answer in both kinds of period."
        ),
        zero=N_(
            "A day on which you filled in your diary but logged no attack counted as a day "
            "without attacks."
        ),
    ),
}
INTERVAL = N_(
    "We cannot be completely sure of this: the real figure is most likely somewhere between "
    "%(low)s and %(high)s times."
)
SUMMARY = N_(
    "In the periods with the real microdose you had %(difference)s than in the periods with "
    "dummy capsules (placebo): %(active)s against %(placebo)s (%(active_detail)s against "
    "%(placebo_detail)s)."
)
CAUTION = N_("Please note: %(warning)s, so this part of the result is less certain.")
NO_DAY = N_("no observed day")


def patient_endpoint(result: dict[str, Any]) -> dict[str, Any]:
    """The endpoint section's sentences for the patient, in the reader's language, the figures
    in bold (the catalogs' sentences are trusted markup; every value put in them is escaped).
    ``result`` is ``endpoint_result``'s dictionary."""
    words = PATIENT_ENDPOINT[result["instrument"]]
    _ = i18n.gettext
    out: dict[str, Any] = {"heading": _(words.heading), "zero": _(words.zero)}
    if not result["ok"]:
        out["reason"] = _(words.too_few if result["entries"] else words.no_entries)
        return out
    raw = result["raw"]
    arms = {arm: _arm(result["arms"][arm], words) for arm in ("active", "placebo")}
    out["summary"] = _sentence(SUMMARY) % {
        "difference": _bold(_difference(raw["difference"], words)),
        "active": arms["active"][0],
        "placebo": arms["placebo"][0],
        "active_detail": arms["active"][1],
        "placebo_detail": arms["placebo"][1],
    }
    out["ratio"] = _sentence(words.ratio) % {"ratio": _bold(_number(raw["ratio"], 2))}
    out["interval"] = _sentence(INTERVAL) % {
        "low": _bold(_number(raw["low"], 2)),
        "high": _bold(_number(raw["high"], 2)),
    }
    out["p_fewer"] = _sentence(words.p_fewer) % {"p": _bold(f.percent(raw["p_fewer"]))}
    out["p_reduction"] = _sentence(words.p_reduction) % {
        "rel": result["rel"],
        "p": _bold(f.percent(raw["p_reduction"])),
    }
    warning = result["warning"]
    out["warning"] = _(CAUTION) % {"warning": f.model_warning(warning)} if warning else ""
    return out


def _sentence(message: str) -> Markup:
    """A catalog sentence in the reader's language, as markup to put escaped values in."""
    return Markup(i18n.gettext(message))  # the project's own catalog text


def _bold(text: str) -> Markup:
    """``text`` escaped, in bold."""
    return Markup("<b>%s</b>") % text


def _difference(value: float, words: PatientEndpointWords) -> str:
    """``about 2.1 fewer migraine days per 4 weeks`` (or more, or about the same)."""
    size = f.magnitude(value)
    if float(size) == 0:
        return i18n.gettext(words.same)
    one, many = words.fewer if value < 0 else words.more
    message = one if size == "1.0" else many
    return i18n.gettext(message) % {"size": _number(float(size), 1)}


def _arm(arm: dict[str, Any], words: PatientEndpointWords) -> tuple[str, str]:
    """An arm's observed rate and its days, in the reader's words (—, "no observed day")."""
    if not arm["days"]:
        return "—", i18n.gettext(NO_DAY)
    one, many = words.detail
    detail = i18n.gettext(one if arm["total"] == 1 else many) % {
        "n": arm["total"],
        "days": arm["days"],
    }
    return i18n.gettext(words.rate) % {"rate": _number(arm["per_period"], 1)}, detail


def _number(value: float, digits: int) -> str:
    """``value`` to ``digits`` decimals with the reader's decimal sign (2.10, or 2,10)."""
    return f.local(f.number(value, digits))
