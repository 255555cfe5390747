"""A diary day's form, shared by Today and a missed day: the optional side-effect and
blood-pressure sections (``templates/_day_reports.html``) and the diary entries a submitted form
makes. A side effect or blood pressure the day already has is added to it by
``services.records`` (``domain.later_reports``), whichever form sent it."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

from microtrial.services.records import DiaryInput
from microtrial.web.forms import answers_from_form, form_items

DIARY = "daily_diary"
SIDE_EFFECTS = "ae_checklist"
BLOOD_PRESSURE = "home_bp"


def report_sections(values: Mapping[str, str]) -> dict[str, Any]:
    """What ``_day_reports.html`` needs: the items, and which section shows what was typed."""
    return {
        "ae_items": form_items(SIDE_EFFECTS),
        "bp_items": form_items(BLOOD_PRESSURE),
        "ae_open": any(
            k.startswith(f"{SIDE_EFFECTS}.") and v not in ("", "0") for k, v in values.items()
        ),
        "bp_open": any(k.startswith(f"{BLOOD_PRESSURE}.") and v for k, v in values.items()),
    }


def day_entries(day: dt.date, values: Mapping[str, str], *, diary: bool) -> list[DiaryInput]:
    """A submitted day form's entries: the daily diary (when ``diary``), the side effects and the
    blood pressure when answered; each keyed by the form's submission (sent twice, stored once)."""
    submission = values.get("submission_id") or uuid.uuid4().hex
    side_effects = {
        k: v for k, v in answers_from_form(SIDE_EFFECTS, values).items() if v not in (0, False)
    }
    answered = (
        (DIARY, answers_from_form(DIARY, values) if diary else {}),
        (SIDE_EFFECTS, side_effects),
        (BLOOD_PRESSURE, answers_from_form(BLOOD_PRESSURE, values)),
    )
    return [
        DiaryInput(
            local_date=day,
            answers=dict(answers),
            instrument_id=instrument_id,
            idempotency_key=f"web-{submission}-{instrument_id}",
            note=values.get("note") if instrument_id == DIARY else None,
        )
        for instrument_id, answers in answered
        if answers or (instrument_id == DIARY and diary)
    ]
