"""The pharmacy's lists and its prepared and dispensed records per kit (both engines)."""

from __future__ import annotations

import datetime as dt

import pypdfium2 as pdfium  # type: ignore[import-untyped]
import pytest

from e2e.setup import plan_for
from helpers import Clinic, FixedClock, audit_count
from microtrial.domain.actors import system_actor
from microtrial.domain.regimens import load_regimen_catalog
from microtrial.errors import ConflictError, NotFound, PermissionDenied, ValidationError
from microtrial.reports.kits import kit_pack_pdf
from microtrial.services import admin, pharmacy, trial_allocation, trial_lifecycle


def test_the_lists_hold_only_kits_still_to_prepare_or_hand_out(
    clinic: Clinic, clock: FixedClock
) -> None:
    doc = clinic.actors["clinician_sitea"]
    staff = clinic.actors["unblinded_staff_sitea"]
    trial = plan_for(clinic, clock)
    other = plan_for(clinic, clock, "A-002")
    work = pharmacy.pharmacy_work(clinic.db, staff, clock=clock)
    assert (work.to_prepare, work.to_dispense) == ([], [])  # screened only: not yet
    trial_lifecycle.transition(clinic.db, doc, trial.id, "schedule", clock=clock)
    [row] = pharmacy.pharmacy_work(clinic.db, staff, clock=clock).to_prepare
    assert (row.trial_id, row.patient_code, row.status) == (trial.id, "A-001", "scheduled")
    assert (row.kits, row.prepared, row.dispensed, row.blocked) == (6, 0, 0, False)
    assert row.next_kit_date == trial.periods[0].start_date
    prep = trial_allocation.kit_preparation(clinic.db, staff, trial.id, clock=clock)
    for kit in prep.kits:
        assert len(kit.dose_days) == 5  # Fadiman over a 14-day period: one capsule per dose day
        pharmacy.record_kit_step(clinic.db, staff, trial.id, "prepared", kit.code, 5, clock=clock)
    work = pharmacy.pharmacy_work(clinic.db, staff, clock=clock)
    assert work.to_prepare == []
    assert [(r.trial_id, r.prepared, r.dispensed) for r in work.to_dispense] == [(trial.id, 6, 0)]
    for kit in prep.kits:
        pharmacy.record_kit_step(
            clinic.db, staff, trial.id, "dispensed", kit.code.lower(), 5, clock=clock
        )
    work = pharmacy.pharmacy_work(clinic.db, staff, clock=clock)
    assert (work.to_prepare, work.to_dispense) == ([], [])
    # the next scheduled trial joins the list; a trial of another site is never on it
    trial_lifecycle.transition(clinic.db, doc, other.id, "schedule", clock=clock)
    assert [r.trial_id for r in pharmacy.pharmacy_work(clinic.db, staff).to_prepare] == [other.id]
    outsider = admin.user_actor(clinic.db, "unblinded_staff_siteb")
    assert pharmacy.pharmacy_work(clinic.db, outsider).to_prepare == []
    for who in ("clinician_sitea", "researcher_sitea", "p_A-001"):
        with pytest.raises(PermissionDenied):
            pharmacy.pharmacy_work(clinic.db, clinic.actors[who])


def test_prepared_and_dispensed_are_recorded_once_with_who_when_and_capsules(
    clinic: Clinic, clock: FixedClock
) -> None:
    staff = clinic.actors["unblinded_staff_sitea"]
    trial = plan_for(clinic, clock)
    code = trial.periods[0].kit_code
    assert code is not None
    with pytest.raises(ConflictError, match="status"):  # not scheduled yet
        pharmacy.record_kit_step(clinic.db, staff, trial.id, "prepared", code, 5, clock=clock)
    trial_lifecycle.transition(
        clinic.db, clinic.actors["clinician_sitea"], trial.id, "schedule", clock=clock
    )
    with pytest.raises(ConflictError, match="not been prepared"):
        pharmacy.record_kit_step(clinic.db, staff, trial.id, "dispensed", code, 5, clock=clock)
    for capsules in (0, 400):
        with pytest.raises(ValidationError, match="capsules"):
            pharmacy.record_kit_step(
                clinic.db, staff, trial.id, "prepared", code, capsules, clock=clock
            )
    with pytest.raises(NotFound):
        pharmacy.record_kit_step(clinic.db, staff, trial.id, "prepared", "ZZZZZZZZ", 5, clock=clock)
    with pytest.raises(ValidationError, match=r"step.*dispensed, prepared"):
        pharmacy.record_kit_step(clinic.db, staff, trial.id, "returned", code, 5, clock=clock)
    with pytest.raises(PermissionDenied):
        pharmacy.record_kit_step(
            clinic.db, clinic.actors["clinician_sitea"], trial.id, "prepared", code, 5
        )
    outsider = admin.user_actor(clinic.db, "unblinded_staff_siteb")
    with pytest.raises(NotFound):
        pharmacy.record_kit_step(clinic.db, outsider, trial.id, "prepared", code, 5, clock=clock)
    # fewer capsules than the period's dose days (5; the label prints them): refused
    with pytest.raises(ValidationError, match=r"needs 5 capsules, one for each dose day"):
        pharmacy.record_kit_step(clinic.db, staff, trial.id, "prepared", code, 4, clock=clock)
    before = audit_count(clinic.db)
    done = pharmacy.record_kit_step(clinic.db, staff, trial.id, "prepared", code, 6, clock=clock)
    assert audit_count(clinic.db) == before + 1
    assert (done.prepared_by, done.prepared_at, done.prepared_capsules) == (
        "unblinded_staff_sitea",
        clock(),
        6,
    )
    with pytest.raises(ConflictError, match="already prepared"):
        pharmacy.record_kit_step(clinic.db, staff, trial.id, "prepared", code, 6, clock=clock)
    with pytest.raises(ValidationError, match="more capsules"):
        pharmacy.record_kit_step(clinic.db, staff, trial.id, "dispensed", code, 7, clock=clock)
    clock.advance(days=1)
    handed = pharmacy.record_kit_step(clinic.db, staff, trial.id, "dispensed", code, 6, clock=clock)
    assert (handed.dispensed_by, handed.dispensed_at, handed.dispensed_capsules) == (
        "unblinded_staff_sitea",
        clock(),
        6,
    )
    with pytest.raises(ConflictError, match="already dispensed"):
        pharmacy.record_kit_step(clinic.db, staff, trial.id, "dispensed", code, 6, clock=clock)
    [first, *_] = trial_allocation.kit_preparation(clinic.db, staff, trial.id, clock=clock).kits
    assert (first.prepared_capsules, first.dispensed_capsules) == (6, 6)
    assert "arm" not in pharmacy.KitRecord.model_fields


def test_the_kit_pack_labels_carry_the_configured_wording_and_one_expiry(
    clinic: Clinic, clock: FixedClock
) -> None:
    admin.set_crisis_lines(clinic.db, system_actor("t"), "SITEA", [("Clinic A", "01632 960000")])
    staff = clinic.actors["unblinded_staff_sitea"]
    trial = plan_for(clinic, clock)
    trial_lifecycle.transition(
        clinic.db, clinic.actors["clinician_sitea"], trial.id, "schedule", clock=clock
    )
    codes = [p.kit_code for p in trial.periods]
    clock.advance(days=-3)  # the second kit was filled three days before the others
    pharmacy.record_kit_step(clinic.db, staff, trial.id, "prepared", str(codes[1]), 5, clock=clock)
    clock.advance(days=3)
    pharmacy.record_kit_step(clinic.db, staff, trial.id, "prepared", str(codes[0]), 5, clock=clock)
    prep = trial_allocation.kit_preparation(clinic.db, staff, trial.id, clock=clock)
    assert prep.emergency_contact == "Clinic A 01632 960000"
    doc = pdfium.PdfDocument(kit_pack_pdf(prep, dt.date(2030, 1, 1)))
    pages = [" ".join(doc[i].get_textpage().get_text_range().split()) for i in range(len(doc))]
    doc.close()
    labels = " ".join(p for p in pages if "UNBLINDED" not in p)
    wording = load_regimen_catalog().kit_labels
    assert wording is not None
    expiry = clock().date() - dt.timedelta(days=3) + dt.timedelta(days=wording.shelf_life_days)
    assert labels.count(f"Expiry: {expiry.isoformat()}") == 6  # the earliest filling, every kit
    assert labels.count("In an emergency: Clinic A 01632 960000") == 6
    assert labels.count(wording.trial_use.upper()) == 6
    assert "active" not in labels.lower()
    assert "placebo" not in labels.lower()
    assert "psilocybin" not in labels.lower()
