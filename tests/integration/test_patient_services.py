"""Patient record services: access scope, versioned corrections, exactly-once auditing."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from helpers import Clinic, FixedClock, audit_count
from microtrial.domain.actors import system_actor
from microtrial.errors import ConflictError, NotFound, PermissionDenied, ValidationError
from microtrial.services import patients
from microtrial.store.db import Database
from microtrial.store.models import AuditEventRow, MedicationRow


def last_event(db: Database) -> AuditEventRow:
    with db.transaction() as session:
        return session.execute(
            select(AuditEventRow).order_by(AuditEventRow.id.desc()).limit(1)
        ).scalar_one()


def test_correction_keeps_the_old_version(clinic: Clinic, clock: FixedClock) -> None:
    clinician = clinic.actors["clinician_sitea"]
    pid = clinic.patients["A-001"].id
    med = patients.add_medication(clinic.db, clinician, pid, "Sertraline 50 mg", clock=clock)
    clock.advance(hours=1)
    new = patients.correct_record(
        clinic.db,
        clinician,
        "medication",
        med.record_id,
        {"name_as_entered": "Sertraline 100 mg"},
        "dose changed by GP",
        clock=clock,
    )
    assert new.version == 2
    history = patients.record_history(clinic.db, clinician, "medication", med.record_id)
    assert [(v.version, v.is_current, v.change_reason) for v in history] == [
        (1, False, None),
        (2, True, "dose changed by GP"),
    ]
    with clinic.db.transaction() as session:
        names = (
            session.execute(
                select(MedicationRow.name_as_entered)
                .where(MedicationRow.record_id == med.record_id)
                .order_by(MedicationRow.version)
            )
            .scalars()
            .all()
        )
    assert names == ["Sertraline 50 mg", "Sertraline 100 mg"]
    current = patients.get_patient(clinic.db, clinician, pid)
    assert [m.name_as_entered for m in current.medications] == ["Sertraline 100 mg"]


def test_a_correction_needs_a_reason_and_an_editable_field(clinic: Clinic) -> None:
    clinician = clinic.actors["clinician_sitea"]
    med = patients.add_medication(clinic.db, clinician, clinic.patients["A-001"].id, "Aspirin")
    before = audit_count(clinic.db)
    with pytest.raises(ValidationError, match="reason"):
        patients.correct_record(clinic.db, clinician, "medication", med.record_id, {}, " ")
    with pytest.raises(ValidationError, match="patient_id"):
        patients.correct_record(
            clinic.db, clinician, "medication", med.record_id, {"patient_id": 3}, "move"
        )
    assert audit_count(clinic.db) == before


def test_patient_cannot_read_another_patient(clinic: Clinic) -> None:
    me = clinic.actors["p_A-001"]
    assert patients.get_patient(clinic.db, me, clinic.patients["A-001"].id).study_code == "A-001"
    before = audit_count(clinic.db)
    with pytest.raises(NotFound):
        patients.get_patient(clinic.db, me, clinic.patients["A-002"].id)
    with pytest.raises(PermissionDenied):
        patients.list_patients(clinic.db, me)
    assert audit_count(clinic.db) == before


def test_clinician_of_site_a_cannot_read_site_b_patient(clinic: Clinic) -> None:
    clinician_a = clinic.actors["clinician_sitea"]
    b_patient = clinic.patients["B-001"].id
    with pytest.raises(NotFound):
        patients.get_patient(clinic.db, clinician_a, b_patient)
    with pytest.raises(NotFound):
        patients.add_medication(clinic.db, clinician_a, b_patient, "Ibuprofen")
    with pytest.raises(NotFound):
        patients.list_patients(clinic.db, clinician_a, "SITEB")
    listed = patients.list_patients(clinic.db, clinician_a)
    assert sorted(p.study_code for p in listed) == ["A-001", "A-002"]


def test_researcher_gets_no_identified_patient_data(clinic: Clinic) -> None:
    with pytest.raises(PermissionDenied):
        patients.get_patient(clinic.db, clinic.actors["researcher_sitea"], 1)


def test_each_read_and_write_leaves_exactly_one_audit_event(clinic: Clinic) -> None:
    clinician = clinic.actors["clinician_sitea"]
    pid = clinic.patients["A-001"].id
    steps = [
        ("read", "patient", lambda: patients.get_patient(clinic.db, clinician, pid)),
        ("list", "patient", lambda: patients.list_patients(clinic.db, clinician)),
        ("create", "medication", lambda: patients.add_medication(clinic.db, clinician, pid, "X")),
        ("create", "condition", lambda: patients.add_condition(clinic.db, clinician, pid, "M79.7")),
        (
            "create",
            "history",
            lambda: patients.set_history_flag(clinic.db, clinician, pid, "seizure-history", False),
        ),
        (
            "correct",
            "history",
            lambda: patients.set_history_flag(clinic.db, clinician, pid, "seizure-history", True),
        ),
    ]
    for action, entity, call in steps:
        before = audit_count(clinic.db)
        call()
        assert audit_count(clinic.db) == before + 1, (action, entity)
        event = last_event(clinic.db)
        assert (event.action, event.entity, event.actor) == (action, entity, "clinician_sitea")
        if action != "list":
            assert event.patient_id == pid


def test_failed_write_leaves_nothing(clinic: Clinic, clock: FixedClock) -> None:
    system = system_actor("test")
    before = audit_count(clinic.db)
    with pytest.raises(ValidationError, match="birth_year"):
        patients.enrol_patient(
            clinic.db,
            system,
            site_code="SITEA",
            study_code="A-009",
            birth_year=2031,
            sex="female",
            time_zone="Europe/London",
            clock=clock,
        )
    with pytest.raises(ValidationError, match="condition"):
        patients.enrol_patient(
            clinic.db,
            system,
            site_code="SITEA",
            study_code="A-009",
            birth_year=1970,
            sex="female",
            time_zone="Europe/London",
            conditions=["migraine"],
            clock=clock,
        )
    with pytest.raises(NotFound, match="site"):
        patients.enrol_patient(
            clinic.db,
            system,
            site_code="NOPE",
            study_code="A-009",
            birth_year=1970,
            sex="female",
            time_zone="Europe/London",
            clock=clock,
        )
    assert audit_count(clinic.db) == before
    assert [p.study_code for p in patients.list_patients(clinic.db, system, "SITEA")] == [
        "A-001",
        "A-002",
    ]


def test_study_codes_may_not_differ_only_in_letter_case(clinic: Clinic, clock: FixedClock) -> None:
    doc = clinic.actors["clinician_sitea"]
    enrol = {"site_code": "SITEA", "birth_year": 1980, "sex": "female", "time_zone": "UTC"}
    with pytest.raises(ConflictError, match="already exists at 'SITEA' as 'A-001'"):
        patients.enrol_patient(clinic.db, doc, study_code="a-001", clock=clock, **enrol)
    assert patients.find_patient_by_code(clinic.db, doc, "A-001").study_code == "A-001"
