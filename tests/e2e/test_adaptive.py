"""Adaptive trials in Chromium (issue 20): the clinician simulates the rule on the plan form and
plans it; while blinded the trial page and the patient's Today page say only "continue" or
"a decision has been reached", never an estimate."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import numpy as np
from sqlalchemy import select

from e2e.conftest import Pages
from e2e.test_patient_plan import axe_violations
from helpers import Clinic
from integration.test_safety_services import clear_history
from microtrial.services import records, screening, trial_lifecycle, trial_views
from microtrial.services.records import DiaryInput
from microtrial.store.models import AllocationRow, InterimLookRow


def _diaries_through_pair_two(clinic: Clinic, clock: Any, trial_id: int, start: dt.date) -> None:
    """Two pairs of 7-day periods of diaries with a clear benefit on the active periods."""
    with clinic.db.transaction() as session:
        arms = session.execute(
            select(AllocationRow.sequence).where(AllocationRow.trial_id == trial_id)
        ).scalar_one()
    rng = np.random.default_rng(5)
    patient = clinic.actors["p_A-001"]
    pid = clinic.patients["A-001"].id
    for day in range(28):
        date = start + dt.timedelta(days=day)
        clock.now = dt.datetime.combine(date, dt.time(20), tzinfo=dt.UTC)
        pain = round(5 - (3 if arms[day // 7] == "active" else 0) + float(rng.normal(0, 0.5)))
        records.record_diary_entry(
            clinic.db, patient, pid, DiaryInput(date, {"average_pain": pain}), clock=clock
        )


def _plan_form(pages: Pages, clinic: Clinic, clock: Any) -> tuple[Any, int, Any]:
    """A-001 screened, and the clinician's plan form with the regimen's amount and unit."""
    doc = clinic.actors["clinician_sitea"]
    pid = clinic.patients["A-001"].id
    clear_history(clinic, doc, pid)
    assert screening.screen_patient(clinic.db, doc, pid, "psilocybin", clock=clock).decision
    page = pages.open("clinician_sitea", f"/clinic/patients/{pid}/trials/new")
    page.get_by_label("Amount per dose").fill("100")
    page.get_by_label("Unit").select_option("mg dried material")
    return doc, pid, page


def test_the_rule_is_simulated_planned_and_stays_blinded(
    pages: Pages, clinic: Clinic, clock: Any
) -> None:
    doc, pid, page = _plan_form(pages, clinic, clock)
    page.get_by_text("Design (defaults").click()
    page.get_by_label("Run-in days").fill("0")
    page.get_by_label("Days per period").fill("7")
    page.get_by_label("Wash-in days left out of the analysis").fill("1")
    page.get_by_text("Adaptive trial (optional)").click()
    page.get_by_label("Make this an adaptive trial").check()
    page.get_by_label("Maximum pairs", exact=True).fill("3")
    page.get_by_role("button", name="Simulate operating characteristics").click()
    page.wait_for_load_state()
    table = page.locator("#operating-characteristics")
    assert table.locator("tbody tr").count() == 6  # five true effects and the spread
    assert "Stop for futility" in table.inner_text()
    assert trial_views.list_trials(clinic.db, doc, patient_id=pid) == []  # nothing planned
    assert axe_violations(page) == []
    pages.shot(page, "plan-adaptive-simulated")
    # The typed values survived the simulation: plan it.
    page.get_by_role("button", name="Plan trial").click()
    page.wait_for_load_state()
    (trial,) = trial_views.list_trials(clinic.db, doc, patient_id=pid)
    assert trial.adaptive is not None
    assert (trial.adaptive.max_pairs, len(trial.periods)) == (3, 6)
    for action in ("schedule", "start"):
        trial_lifecycle.transition(clinic.db, doc, trial.id, action, clock=clock)
    clinician = pages.open("clinician_sitea", f"/clinic/trials/{trial.id}")
    assert clinician.locator("#adaptive-state").get_attribute("data-state") == "continue"
    pages.shot(clinician, "trial-adaptive-continue")
    _diaries_through_pair_two(clinic, clock, trial.id, trial.start_date)
    with clinic.db.transaction() as session:
        look = session.execute(select(InterimLookRow)).scalar_one()
        estimates = [look.p_mcid, look.effect_mean, look.ci95_low, look.ci95_high]
    assert look.decision == "stop-benefit"
    # four weeks on, the earlier session has expired: sign in again
    clinician = pages.open("clinician_sitea", f"/clinic/trials/{trial.id}")
    state = clinician.locator("#adaptive-state")
    assert state.get_attribute("data-state") == "decision-reached"
    assert "A decision has been reached: complete and unblind" in state.inner_text()
    patient = pages.open("p_A-001", "/today")
    assert "A decision has been reached" in patient.locator("#adaptive-state").inner_text()
    for shown in (clinician.content(), patient.content()):
        assert "benefit" not in shown.replace("stop for benefit when", "")  # no decision word
        for value in estimates:
            assert value is not None
            assert f"{value:.2f}" not in shown
    assert axe_violations(clinician) == []
    assert axe_violations(patient) == []
    pages.shot(clinician, "trial-adaptive-decision")
    pages.shot(patient, "today-adaptive-decision")


def test_the_clinician_chooses_the_short_rule_and_the_trial_page_names_it(
    pages: Pages, clinic: Clinic, clock: Any
) -> None:
    doc, pid, page = _plan_form(pages, clinic, clock)
    page.get_by_text("Adaptive trial (optional)").click()
    page.get_by_label("Make this an adaptive trial").check()
    rules = page.get_by_role("group", name="Stopping rule")
    assert "stops more patients who truly benefit for futility" in rules.inner_text()
    assert page.get_by_role("radio", name=re.compile("^Standard")).is_checked()
    short = page.get_by_role("radio", name=re.compile("^Short"))
    short.check()
    page.get_by_role("button", name="Simulate operating characteristics").click()
    page.wait_for_load_state()
    table = page.locator("#operating-characteristics")
    assert table.get_attribute("data-rule") == "short"
    assert "the Short rule (1–5 pairs" in table.inner_text()
    assert page.get_by_role("radio", name=re.compile("^Short")).is_checked()
    assert axe_violations(page) == []
    pages.shot(page, "plan-adaptive-short")
    page.get_by_role("button", name="Plan trial").click()
    page.wait_for_load_state()
    (trial,) = trial_views.list_trials(clinic.db, doc, patient_id=pid)
    assert trial.adaptive is not None
    assert (trial.adaptive.preset, trial.adaptive.min_pairs) == ("short", 1)
    assert page.url.endswith(f"/clinic/trials/{trial.id}")
    rule = page.locator("#adaptive-rule")
    assert rule.get_attribute("data-rule") == "short"
    assert "Rule: Short (the named rule “short”)" in rule.inner_text()
    assert axe_violations(page) == []
    pages.shot(page, "trial-adaptive-short")
