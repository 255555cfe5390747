"""Migraine and cluster attacks: logged per attack, summed into the day's catalog instrument."""

from __future__ import annotations

import datetime as dt

import pytest

from helpers import Clinic, FixedClock
from microtrial.domain.actors import system_actor
from microtrial.errors import NotFound, PermissionDenied, ValidationError
from microtrial.services import patients, records
from microtrial.services.attacks import (
    AttackInput,
    list_attacks,
    log_attack,
    patient_attack_instruments,
)
from microtrial.services.diary_corrections import diary_day

DAY = dt.date(2026, 3, 1)


def at(hour: int, minute: int = 0, day: dt.date = DAY) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute))


def test_migraine_attacks_add_up_to_the_days_migraine_diary(
    clinic: Clinic, clock: FixedClock
) -> None:
    pid = clinic.patients["A-001"].id  # migraine (G43.909)
    me = clinic.actors["p_A-001"]
    assert patient_attack_instruments(clinic.db, me, pid) == ["migraine_diary"]
    first = log_attack(
        clinic.db, me, pid,
        AttackInput("migraine_diary", at(7), at(9, 30), 2, frozenset({"acute_medication"}),
                    "ibuprofen 400 mg"),
        clock=clock,
    )  # fmt: skip
    assert (first.local_date, first.started_at, first.medication) == (
        DAY,
        at(7),
        "ibuprofen 400 mg",
    )
    entry = diary_day(clinic.db, me, pid, DAY)["migraine_diary"]
    assert entry[-1].answers == {
        "headache": True,
        "peak_severity": 2,
        "headache_duration_minutes": 150,
        "acute_medication": True,
    }
    log_attack(clinic.db, me, pid, AttackInput("migraine_diary", at(18), at(19), 3), clock=clock)
    versions = diary_day(clinic.db, me, pid, DAY)["migraine_diary"]
    assert [v.version for v in versions] == [1, 2]
    assert versions[-1].answers["peak_severity"] == 3
    assert versions[-1].answers["headache_duration_minutes"] == 210
    assert versions[-1].change_reason == "attack logged (2 that day)"
    # The summary entry is scored like any other: a migraine day by the catalog's rule.
    saved = [e for e in records.list_diary_entries(clinic.db, me, pid) if e.local_date == DAY]
    assert saved[0].scores["scores"]["headache_day"]["value"] == 1
    assert [a.started_at for a in list_attacks(clinic.db, me, pid)] == [at(18), at(7)]
    assert list_attacks(clinic.db, clinic.actors["clinician_sitea"], pid)[0].severity == 3


def test_attacks_are_checked(clinic: Clinic, clock: FixedClock) -> None:
    pid = clinic.patients["A-001"].id
    me = clinic.actors["p_A-001"]
    cases = [
        (AttackInput("migraine_diary", at(9), at(8), 2), "ended"),
        (AttackInput("migraine_diary", at(9, day=DAY + dt.timedelta(days=5)), None, 2), "started"),
        (AttackInput("migraine_diary", at(9), None, 0), "severity"),
        (AttackInput("migraine_diary", at(9), None, 4), "severity"),
        (AttackInput("migraine_diary", at(9), None, 2, frozenset({"oxygen_used"})), "medication"),
        (AttackInput("cluster_attack_log", at(9), None, 5), "instrument"),
        (AttackInput("migraine_diary", at(9), None, 2, medication="x" * 201), "medication"),
    ]
    for attack, field in cases:
        with pytest.raises(ValidationError) as refused:
            log_attack(clinic.db, me, pid, attack, clock=clock)
        assert refused.value.field == field, (attack, refused.value)
    assert list_attacks(clinic.db, me, pid) == []
    with pytest.raises(NotFound):
        log_attack(
            clinic.db, clinic.actors["p_A-002"], pid, AttackInput("migraine_diary", at(9), None, 2)
        )
    with pytest.raises(PermissionDenied):
        log_attack(
            clinic.db,
            clinic.actors["researcher_sitea"],
            pid,
            AttackInput("migraine_diary", at(9), None, 2),
        )


def test_cluster_attacks_count_per_day(clinic: Clinic, clock: FixedClock) -> None:
    system = system_actor("test")
    patient = patients.enrol_patient(
        clinic.db, system, site_code="SITEA", study_code="A-010", birth_year=1975, sex="male",
        time_zone="Europe/London", conditions=["G44.019"], clock=lambda: clinic.enrolled_at,
    )  # fmt: skip
    doc = clinic.actors["clinician_sitea"]
    assert patient_attack_instruments(clinic.db, doc, patient.id) == ["cluster_attack_log"]
    for hour, intensity in ((2, 8), (14, 6)):
        log_attack(
            clinic.db, doc, patient.id,
            AttackInput("cluster_attack_log", at(hour), at(hour, 45), intensity,
                        frozenset({"oxygen_used"})),
            clock=clock,
        )  # fmt: skip
    latest = diary_day(clinic.db, doc, patient.id, DAY)["cluster_attack_log"][-1]
    assert latest.answers == {
        "attack_count": 2,
        "max_intensity": 8,
        "total_attack_minutes": 90,
        "oxygen_used": True,
    }
    neuropathic = patients.enrol_patient(
        clinic.db, system, site_code="SITEA", study_code="A-011", birth_year=1975, sex="male",
        time_zone="Europe/London", conditions=["M79.2"], clock=lambda: clinic.enrolled_at,
    )  # fmt: skip
    assert patient_attack_instruments(clinic.db, doc, neuropathic.id) == []
    with pytest.raises(ValidationError):
        log_attack(clinic.db, doc, neuropathic.id, AttackInput("migraine_diary", at(9), None, 2))
