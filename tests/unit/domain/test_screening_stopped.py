"""A stopped medication is screened while a timing rule's wash-out still covers the first dose."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from microtrial.domain.catalog import load_catalog
from microtrial.domain.screening import (
    BloodPressure,
    PatientSnapshot,
    ScreeningResult,
    StoppedMedication,
    screen,
)

CATALOG = load_catalog()
MIGRAINE = PatientSnapshot(
    history=dict.fromkeys(CATALOG.history_flags, False),
    pregnant=False,
    conditions=("G43.709",),
    blood_pressures=(BloodPressure(122, 78),),
    age=45,
)
STOPPED = dt.date(2026, 12, 1)


def result(entered: str, first_dose: dt.date, *taken: str) -> ScreeningResult:
    stopped = (StoppedMedication(entered, STOPPED),)
    snapshot = replace(
        MIGRAINE, medications=taken, stopped_medications=stopped, first_dose=first_dose
    )
    return screen(snapshot, "psilocybin")


def test_a_stopped_maoi_inside_its_wash_out_is_worded_with_its_end() -> None:
    found = result("Nardil (phenelzine) 15 mg", dt.date(2026, 12, 15), "Sertraline 50 mg")
    assert found.decision == "do-not-start"  # the MAOI + SSRI combination, until the wash-out ends
    timing = [f for f in found.findings if f.code == "timing-serotonergic-preventive" and f.until]
    assert [f.title for f in timing] == [
        "Phenelzine stopped on 1 December 2026: wait 42 days after stopping — until "
        "12 January 2027 — before the first dose"
    ]
    assert "The first dose, on 15 December 2026, falls inside this wash-out." in timing[0].rationale
    combo = next(f for f in found.findings if f.code == "combo-serotonergic-maoi")
    assert combo.until == dt.date(2027, 1, 12)
    assert "stopped on 1 December 2026; wash-out until 12 January 2027" in combo.title


def test_a_first_dose_on_the_day_the_wash_out_ends_is_clear_of_it() -> None:
    found = result("Nardil (phenelzine) 15 mg", dt.date(2027, 1, 12), "Sertraline 50 mg")
    assert found.decision == "clinician-review"  # the SSRI alone
    assert not [f for f in found.findings if f.until is not None]


def test_the_triptan_wash_out_is_five_days() -> None:
    inside = result("Imitrex 50 mg", STOPPED + dt.timedelta(days=4))
    assert {(f.code, f.until) for f in inside.findings if f.until} == {
        ("ix-triptan", dt.date(2026, 12, 6)),
        ("timing-triptan", dt.date(2026, 12, 6)),
    }
    after = result("Imitrex 50 mg", STOPPED + dt.timedelta(days=5))
    assert not [f for f in after.findings if "Sumatriptan" in f.title or f.until]


def test_a_stopped_medication_without_a_timing_rule_is_no_finding() -> None:
    found = result("Gabapentin 300 mg", STOPPED)
    assert found.decision == "no-known-issues"
    assert not [f for f in found.findings if f.matched and "abapentin" in f.matched]
