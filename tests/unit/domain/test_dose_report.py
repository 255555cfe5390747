"""A reported dose's deviations, the patient's wording of a hold, crisis lines (issue 14)."""

from __future__ import annotations

import datetime as dt

from microtrial.domain.alerts import (
    check_dose_report,
    crisis_codes,
    default_crisis_contacts,
    emergency_numbers,
    patient_notice,
    tel_uri,
)
from microtrial.domain.catalog import load_catalog

DAY = dt.date(2026, 3, 3)


def test_a_dose_on_the_calendar_with_its_kit_raises_nothing() -> None:
    found = check_dose_report(
        DAY, {DAY}, held_by=None, doses_that_day=0, expected_kit="AB12CD34", kit="AB12CD34"
    )
    assert found == []


def test_each_deviation_is_an_alert_urgent_when_held_or_repeated() -> None:
    found = check_dose_report(
        DAY,
        {DAY + dt.timedelta(days=1)},
        held_by="dosing held by alert bp-crisis",
        doses_that_day=1,
        expected_kit="AB12CD34",
        kit="ZZ99ZZ99",
    )
    by_code = {a.code: a for a in found}
    assert list(by_code) == [
        "dose-during-hold",
        "multiple-doses-per-day",
        "dose-off-calendar",
        "wrong-kit",
    ]
    assert by_code["dose-during-hold"].severity == "urgent"
    assert by_code["multiple-doses-per-day"].severity == "urgent"
    assert by_code["multiple-doses-per-day"].action == "hold-dosing"
    assert by_code["multiple-doses-per-day"].detail == "2 doses on 2026-03-03"
    assert all(a.sources for a in found)


def test_the_patient_is_told_in_plain_words() -> None:
    assert patient_notice("bp-crisis", DAY) == (
        "Your blood pressure reading on 3 March 2026 was very high."
    )
    assert "self-harm" in patient_notice("self-harm-disclosure", DAY)
    assert "3 March 2026" in patient_notice("no-such-code", DAY)


def test_crisis_lines() -> None:
    assert crisis_codes() == {"phq9-item9", "self-harm-disclosure"}
    assert ("988 Suicide & Crisis Lifeline (US), call or text", "988") in default_crisis_contacts()
    assert tel_uri("116 123") == "tel:116123"
    assert tel_uri("+44 20 7946 0000") == "tel:+442079460000"


def test_a_label_prints_every_emergency_number_with_its_region() -> None:
    # A site's country is not recorded: one country's number alone could be wrong on a label.
    assert emergency_numbers() == "911 (US, Canada) \u00b7 999 (UK) \u00b7 112 (EU)"
    catalog = load_catalog()
    lines = tuple(
        c.model_copy(update={"emergency_region": None}) for c in catalog.alerts.crisis_contacts
    )
    bare = catalog.model_copy(
        update={"alerts": catalog.alerts.model_copy(update={"crisis_contacts": lines})}
    )
    assert emergency_numbers(bare) == "your local emergency number"
