"""A later report of a day that already has one: what a checklist or a measurement keeps.

A patient who saved the morning's diary may feel a side effect or measure a high blood pressure
in the afternoon. Refusing that report ("an entry exists") would drop exactly what the safety
rules must see, so a checklist or a measurement sent again the same day is added to the day's
entry as its next version (the earlier one stays in the history). Other instruments (the daily
diary, questionnaires) have one answer a day: sending them again is a correction, said so.
Every path that records diary entries (``services.records``) follows this: the patient's Today
and missed-day forms, the API, the offline outbox.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from microtrial.domain.catalog import load_catalog

# Instrument kinds whose later report of a day is added to the day's entry.
ADDED_LATER = ("checklist", "measurement")
# The reason the day's entry keeps for the version a later report made (not a correction).
LATER_REASON = "reported again later the same day"


def added_later(instrument_id: str) -> bool:
    """Whether a later report of this instrument is added to the day's entry: a catalog
    checklist or measurement (an imported instrument is a questionnaire, one answer a day)."""
    instrument = load_catalog().instruments.get(instrument_id)
    return instrument is not None and instrument.kind in ADDED_LATER


def merged_answers(
    kind: str, earlier: Mapping[str, Any], later: Mapping[str, Any]
) -> dict[str, Any]:
    """The day's answers once a later report is added: a checklist keeps the worse of each
    answer (the higher grade, any "yes"), a measurement is the later reading."""
    if kind == "measurement":
        return dict(later)
    merged = dict(earlier)
    for key, value in later.items():
        old = merged.get(key)
        if isinstance(value, bool) or isinstance(old, bool):
            merged[key] = bool(old) or bool(value)
        elif isinstance(value, int | float) and isinstance(old, int | float):
            merged[key] = max(old, value)
        elif value not in (None, ""):
            merged[key] = value  # words (another side effect described): the later ones
    return merged
