"""Trials set up through the services, for browser tests that start mid-trial."""

from __future__ import annotations

import datetime as dt

from helpers import Clinic, FixedClock
from microtrial.domain.design import DesignSpec
from microtrial.services import (
    pharmacy,
    screening,
    trial_allocation,
    trial_lifecycle,
    trial_planning,
    trial_views,
)


def plan_for(clinic: Clinic, clock: FixedClock, code: str = "A-001") -> trial_views.TrialRead:
    """A screened, signed-off, planned trial for a clinic patient (through the services)."""
    clinician = clinic.actors["clinician_sitea"]
    pid = clinic.patients[code].id
    result = screening.screen_patient(clinic.db, clinician, pid, "psilocybin", clock=clock)
    screening.sign_off_screening(clinic.db, clinician, result.record_id, "reviewed", clock=clock)
    return trial_planning.plan_trial(
        clinic.db,
        clinician,
        pid,
        trial_planning.RegimenChoice("fadiman", "psilocybin", 100, "mg dried material"),
        DesignSpec(),
        start_date=clock().date(),
        seed=11,
        clock=clock,
    )


def running_trial(clinic: Clinic, clock: FixedClock) -> trial_views.TrialRead:
    """A trial for A-001 that started a week ago, so that today is period 1's first (dose) day."""
    today = clock.now
    clock.now = today - dt.timedelta(days=7)
    try:
        trial = plan_for(clinic, clock)
        for action in ("schedule", "start"):
            trial_lifecycle.transition(
                clinic.db, clinic.actors["clinician_sitea"], trial.id, action, clock=clock
            )
    finally:
        clock.now = today
    return trial


def hand_out(clinic: Clinic, clock: FixedClock, trial_id: int, kit_code: str) -> None:
    """The pharmacist fills a kit with one capsule per dose day and hands it out (services)."""
    staff = clinic.actors["unblinded_staff_sitea"]
    prep = trial_allocation.kit_preparation(clinic.db, staff, trial_id, clock=clock)
    [kit] = [k for k in prep.kits if k.code == kit_code]
    for step in ("prepared", "dispensed"):
        pharmacy.record_kit_step(
            clinic.db, staff, trial_id, step, kit.code, len(kit.dose_days), clock=clock
        )
