"""Trials set up through the services, for browser tests that start mid-trial."""

from __future__ import annotations

import datetime as dt

from helpers import Clinic, FixedClock
from microtrial.domain.design import DesignSpec
from microtrial.services import screening, trials


def plan_for(clinic: Clinic, clock: FixedClock, code: str = "A-001") -> trials.TrialRead:
    """A screened, signed-off, planned trial for a clinic patient (through the services)."""
    clinician = clinic.actors["clinician_sitea"]
    pid = clinic.patients[code].id
    result = screening.screen_patient(clinic.db, clinician, pid, "psilocybin", clock=clock)
    screening.sign_off_screening(clinic.db, clinician, result.record_id, "reviewed", clock=clock)
    return trials.plan_trial(
        clinic.db,
        clinician,
        pid,
        trials.RegimenChoice("fadiman", "psilocybin", 100, "mg dried material"),
        DesignSpec(),
        start_date=clock().date(),
        seed=11,
        clock=clock,
    )


def running_trial(clinic: Clinic, clock: FixedClock) -> trials.TrialRead:
    """A trial for A-001 that started a week ago, so that today is period 1's first (dose) day."""
    today = clock.now
    clock.now = today - dt.timedelta(days=7)
    try:
        trial = plan_for(clinic, clock)
        for action in ("schedule", "start"):
            trials.transition(
                clinic.db, clinic.actors["clinician_sitea"], trial.id, action, clock=clock
            )
    finally:
        clock.now = today
    return trial
