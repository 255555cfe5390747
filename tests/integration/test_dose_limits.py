"""Issue 14, deliverable 1: a plan's dose must lie in the catalog's sourced microdose range.

Refused through the service (ValidationError naming the field) and the CLI (one line, exit 2);
nothing is stored either way. A dose inside the range is sub-perceptual; the kit sheet prints it.
"""

from __future__ import annotations

import datetime as dt

import pytest

from helpers import Clinic, FixedClock, cli_patient, run_cli
from microtrial.domain.design import DesignSpec
from microtrial.errors import ValidationError
from microtrial.services import (
    patients,
    screening,
    trial_allocation,
    trial_lifecycle,
    trial_planning,
    trial_views,
)
from microtrial.services.trial_planning import RegimenChoice

SPEC = DesignSpec(run_in_days=7, pairs=2, period_days=14, wash_in_days=3)


def screened_for_lsd(clinic: Clinic, clock: FixedClock) -> None:
    """Patient A-001 screened for LSD with every history question answered no."""
    doc = clinic.actors["clinician_sitea"]
    pid = clinic.patients["A-001"].id
    for flag in screening.history_flag_ids():
        patients.set_history_flag(clinic.db, doc, pid, flag, False, clock=clock)
    result = screening.screen_patient(clinic.db, doc, pid, "lsd", clock=clock)
    assert result.decision == "no-known-issues", result.findings


# (substance, amount, unit) -> the field named and the text of the refusal
REFUSED = [
    (("psilocybin", 1e9, "mg"), "unit", "(allowed: mg dried material)"),
    (("psilocybin", 5000, "mg dried material"), "amount", "allowed: 50–500 mg dried material"),
    (("lsd", 100, "µg"), "amount", "100 µg is outside the microdose range for lsd"),
    (("lsd", 10, "mg dried material"), "unit", "(allowed: µg)"),
]


@pytest.mark.parametrize(("dose", "field", "message"), REFUSED)
def test_plan_outside_the_sourced_range_is_refused_and_nothing_stored(
    clinic: Clinic,
    clock: FixedClock,
    dose: tuple[str, float, str],
    field: str,
    message: str,
) -> None:
    doc = clinic.actors["clinician_sitea"]
    pid = clinic.patients["A-001"].id
    with pytest.raises(ValidationError) as err:
        trial_planning.plan_trial(
            clinic.db,
            doc,
            pid,
            RegimenChoice("fadiman", *dose),
            SPEC,
            start_date=clock().date(),
            clock=clock,
        )
    assert err.value.field == field
    assert message in str(err.value)
    assert trial_views.list_trials(clinic.db, doc, patient_id=pid, clock=clock) == []


def test_plan_inside_the_range_is_sub_perceptual_and_printed_on_the_kit_sheet(
    clinic: Clinic, clock: FixedClock
) -> None:
    screened_for_lsd(clinic, clock)
    doc = clinic.actors["clinician_sitea"]
    pid = clinic.patients["A-001"].id
    # the headache-pulse schedule is not sub-perceptual in the published trials, but this dose is
    trial = trial_planning.plan_trial(
        clinic.db,
        doc,
        pid,
        RegimenChoice("headache_pulse", "lsd", 20, "µg"),
        SPEC,
        start_date=clock().date(),
        clock=clock,
    )
    assert trial.sub_perceptual
    # kits are prepared once a trial is scheduled
    trial_lifecycle.transition(clinic.db, doc, trial.id, "schedule", clock=clock)
    prep = trial_allocation.kit_preparation(
        clinic.db, clinic.actors["unblinded_staff_sitea"], trial.id, clock=clock
    )
    assert {k.regimen_text.split(",")[0] for k in prep.kits} == {"lsd 20 µg"}


def test_kit_sheet_refuses_a_stored_dose_outside_the_range(
    clinic: Clinic, clock: FixedClock
) -> None:
    """A plan stored before the ranges existed still reads, but no kit sheet prints its dose."""
    screened_for_lsd(clinic, clock)
    doc = clinic.actors["clinician_sitea"]
    pid = clinic.patients["A-001"].id
    trial = trial_planning.plan_trial(
        clinic.db,
        doc,
        pid,
        RegimenChoice("fadiman", "lsd", 10, "µg"),
        SPEC,
        start_date=clock().date(),
        clock=clock,
    )
    from microtrial.store.models import TrialRow

    with clinic.db.transaction() as session:
        row = session.get(TrialRow, trial.id)
        assert row is not None
        row.plan = {**row.plan, "regimen": {**row.plan["regimen"], "amount": 100}}
    shown = trial_views.get_trial(clinic.db, doc, trial.id, clock=clock)
    assert not shown.sub_perceptual
    trial_lifecycle.transition(clinic.db, doc, trial.id, "schedule", clock=clock)
    with pytest.raises(ValidationError, match="amount: 100 µg is outside"):
        trial_allocation.kit_preparation(
            clinic.db, clinic.actors["unblinded_staff_sitea"], trial.id, clock=clock
        )


def test_cli_refuses_a_dose_outside_the_range_in_one_line(database_url: str) -> None:
    url = cli_patient(database_url)
    start = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    for (substance, amount, unit), field, message in REFUSED:
        code, out, err = run_cli(
            "trial",
            "plan",
            "--patient",
            "P-9",
            "--regimen",
            "fadiman",
            "--substance",
            substance,
            "--amount",
            str(amount),
            "--unit",
            unit,
            "--start",
            start,
            *url,
        )
        assert code == 2, (out, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        assert lines[0].startswith(("error: " + field, field)), err
        assert message in lines[0]
    code, out, err = run_cli("trial", "list", "--json", *url)
    assert code == 0, err
    assert out.strip() == "[]"
