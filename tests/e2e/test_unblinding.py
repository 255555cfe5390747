"""The trial page offers breaking the blind to a clinician only (issue 16, finding 3)."""

from __future__ import annotations

from typing import Any

from e2e.conftest import Pages
from e2e.test_patient_plan import axe_violations
from helpers import Clinic
from integration.test_alert_sweep import running_trial
from microtrial.services import trial_views


def test_only_the_clinician_is_offered_emergency_unblinding(
    pages: Pages, clinic: Clinic, clock: Any
) -> None:
    running_trial(clinic, clock, "A-001", run_in=0)
    doc = clinic.actors["clinician_sitea"]
    trial_id = trial_views.list_trials(clinic.db, doc)[-1].id
    pharmacist = pages.open("unblinded_staff_sitea", f"/clinic/trials/{trial_id}")
    assert pharmacist.get_by_role("heading", name="Emergency unblinding").count() == 0
    assert pharmacist.locator(f'form[action="/clinic/trials/{trial_id}/unblind"]').count() == 0
    assert axe_violations(pharmacist) == []
    pages.shot(pharmacist, "trial-unblinded-staff")
    clinician = pages.open("clinician_sitea", f"/clinic/trials/{trial_id}")
    assert clinician.get_by_role("heading", name="Emergency unblinding").count() == 1
    # completing is offered only after the last period (before it, the service refuses it)
    assert clinician.get_by_role("button", name="Complete").count() == 0
    assert clinician.get_by_role("button", name="Withdraw").count() == 1
    assert clinician.get_by_label("Reason (required: the clinical need to know the arm)").count()
    assert axe_violations(clinician) == []
    pages.shot(clinician, "trial-clinician-unblinding")
