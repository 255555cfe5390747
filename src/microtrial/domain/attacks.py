"""Headache attacks (migraine, cluster headache) and the daily diary entry they add up to.

The catalog's ``migraine_diary`` and ``cluster_attack_log`` are one entry per calendar day.
A patient logs each attack (start, end, severity, acute medication); the day's entry of the
instrument is then the summary of that day's attacks, written through the ordinary diary path
so that scoring, endpoints and the diary rules read it as before. Which items an attack fills
is listed here per instrument; what the items mean (ranges, labels, sources) is the catalog's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from microtrial.domain.catalog import Catalog, load_catalog
from microtrial.errors import ValidationError

MAX_ATTACK = dt.timedelta(hours=72)  # longer than status migrainosus' 72 h: not one attack
DAY_MINUTES = 24 * 60


@dataclass(frozen=True)
class AttackItems:
    """Which items of a daily instrument an attack fills."""

    instrument_id: str
    severity_item: str
    duration_item: str
    medication_items: tuple[str, ...]
    count_item: str | None = None
    headache_item: str | None = None


ATTACK_ITEMS: Mapping[str, AttackItems] = {
    "migraine_diary": AttackItems(
        "migraine_diary",
        severity_item="peak_severity",
        duration_item="headache_duration_minutes",
        medication_items=("acute_medication", "migraine_specific_medication"),
        headache_item="headache",
    ),
    "cluster_attack_log": AttackItems(
        "cluster_attack_log",
        severity_item="max_intensity",
        duration_item="total_attack_minutes",
        medication_items=("oxygen_used", "triptan_used"),
        count_item="attack_count",
    ),
}


@dataclass(frozen=True)
class Attack:
    """One attack in the patient's local time."""

    started: dt.datetime
    ended: dt.datetime | None
    severity: int
    medication_items: frozenset[str]

    @property
    def minutes(self) -> int:
        """How long it lasted, in whole minutes (0 while it goes on)."""
        if self.ended is None:
            return 0
        return int((self.ended - self.started).total_seconds() // 60)


def attack_instruments(condition_codes: Iterable[str], catalog: Catalog | None = None) -> list[str]:
    """The attack instruments the patient's conditions call for (their groups' diaries)."""
    catalog = catalog or load_catalog()
    found: list[str] = []
    for code in condition_codes:
        condition = catalog.condition_by_code(code)
        if condition is None or condition.group not in catalog.groups:
            continue
        for instrument_id in catalog.groups[condition.group].diary_instruments:
            if instrument_id in ATTACK_ITEMS and instrument_id not in found:
                found.append(instrument_id)
    return found


def check_attack(
    instrument_id: str, attack: Attack, now_local: dt.datetime, catalog: Catalog | None = None
) -> None:
    """Refuse an attack that ends before it starts, lies in the future or is out of range."""
    items = ATTACK_ITEMS.get(instrument_id)
    if items is None:
        raise ValidationError("instrument", f"{instrument_id!r} does not log attacks")
    if attack.started > now_local:
        raise ValidationError("started", "is in the future")
    if attack.ended is not None:
        if attack.ended < attack.started:
            raise ValidationError("ended", "is before the start")
        if attack.ended > now_local:
            raise ValidationError("ended", "is in the future")
        if attack.ended - attack.started > MAX_ATTACK:
            raise ValidationError("ended", "is more than 3 days after the start")
    item = (catalog or load_catalog()).instrument(instrument_id).item(items.severity_item)
    low = 1 if item.labels else (item.min or 0)  # a labelled scale's 0 is "none": no attack
    high = item.max if item.max is not None else low
    if not low <= attack.severity <= high:
        raise ValidationError(
            "severity", f"{attack.severity} is out of range", allowed=f"{low} to {high}"
        )
    unknown = sorted(attack.medication_items - set(items.medication_items))
    if unknown:
        raise ValidationError("medication", f"{unknown[0]!r} is not asked here")


def day_answers(
    instrument_id: str, attacks: Iterable[Attack], saved: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The day's entry as the summary of its attacks (other saved answers are kept)."""
    items = ATTACK_ITEMS[instrument_id]
    attacks = list(attacks)
    answers = dict(saved or {})
    if not attacks:
        return answers
    answers[items.severity_item] = max(a.severity for a in attacks)
    minutes = sum(a.minutes for a in attacks)
    if minutes:
        answers[items.duration_item] = min(minutes, DAY_MINUTES)
    if items.count_item:
        answers[items.count_item] = len(attacks)
    if items.headache_item:
        answers[items.headache_item] = True
    for item in items.medication_items:
        if any(item in a.medication_items for a in attacks):
            answers[item] = True
    return answers
