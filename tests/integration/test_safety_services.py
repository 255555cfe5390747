"""Screening, sign-off, re-screening and alert rules through the services, on both databases."""

from __future__ import annotations

import datetime as dt

import pytest

from helpers import Clinic, FixedClock
from microtrial.domain.actors import Actor
from microtrial.domain.design import DesignSpec
from microtrial.errors import PermissionDenied, SafetyBlock, ValidationError
from microtrial.services import (
    adverse_events,
    alerts,
    dosing,
    patient_chart,
    patients,
    records,
    screening,
    trial_lifecycle,
    trial_planning,
    trial_views,
)
from microtrial.services.records import DiaryInput
from microtrial.services.trial_planning import RegimenChoice

REQUIRED_NO = [f for f in screening.history_flag_ids() if f != "pregnant"]
FADIMAN = RegimenChoice(
    template="fadiman", substance="psilocybin", amount=100, unit="mg dried material"
)


def clear_history(clinic: Clinic, actor: Actor, pid: int) -> None:
    for flag in REQUIRED_NO:
        patients.set_history_flag(clinic.db, actor, pid, flag, False)
    patients.set_history_flag(clinic.db, actor, pid, "pregnant", False)


def planned_and_running(clinic: Clinic, clock: FixedClock) -> tuple[Actor, int, int]:
    """A screened patient whose trial runs from today; returns clinician, patient, trial."""
    doc = clinic.actors["clinician_sitea"]
    pid = clinic.patients["A-001"].id
    clear_history(clinic, doc, pid)
    result = screening.screen_patient(clinic.db, doc, pid, "psilocybin", clock=clock)
    assert result.decision == "no-known-issues", result.findings
    trial = trial_planning.plan_trial(
        clinic.db,
        doc,
        pid,
        FADIMAN,
        DesignSpec(run_in_days=0),
        start_date=clock().date(),
        seed=7,
        clock=clock,
    )
    assert trial.status == "screened"
    trial_lifecycle.transition(clinic.db, doc, trial.id, "schedule", clock=clock)
    trial_lifecycle.transition(clinic.db, doc, trial.id, "start", clock=clock)
    return doc, pid, trial.id


def test_lithium_on_the_record_means_do_not_start_and_blocks_the_trial(
    clinic: Clinic, clock: FixedClock
) -> None:
    doc = clinic.actors["clinician_sitea"]
    pid = clinic.patients["A-001"].id
    clear_history(clinic, doc, pid)
    patients.add_medication(clinic.db, doc, pid, "Lithobid 300 mg ER tab", clock=clock)
    result = screening.screen_patient(clinic.db, doc, pid, "lsd", clock=clock)
    assert result.decision == "do-not-start"
    assert any(f["matched"] and "lithium" in str(f).lower() for f in result.findings)
    with pytest.raises(SafetyBlock, match="do-not-start"):
        screening.sign_off_screening(clinic.db, doc, result.record_id, "I accept the risk")
    lsd = RegimenChoice(template="every_fourth_day", substance="lsd", amount=10, unit="µg")
    trial = trial_planning.plan_trial(
        clinic.db, doc, pid, lsd, DesignSpec(), start_date=clock().date(), clock=clock
    )
    assert trial.status == "draft"
    # The refusal names what stops the trial and what the clinician can do.
    with pytest.raises(
        SafetyBlock, match=r"do-not-start \(Lithium \(contraindicated\)\); .*withdraw"
    ):
        trial_lifecycle.transition(clinic.db, doc, trial.id, "confirm-screening", clock=clock)


def test_clinician_review_needs_a_signed_reason_before_start(
    clinic: Clinic, clock: FixedClock
) -> None:
    doc = clinic.actors["clinician_sitea"]
    pid = clinic.patients["A-001"].id
    clear_history(clinic, doc, pid)
    patients.add_medication(clinic.db, doc, pid, "Sertraline 50 mg", clock=clock)
    result = screening.screen_patient(clinic.db, doc, pid, "psilocybin", clock=clock)
    assert result.decision == "clinician-review"
    trial = trial_planning.plan_trial(
        clinic.db, doc, pid, FADIMAN, DesignSpec(), start_date=clock().date(), clock=clock
    )
    with pytest.raises(SafetyBlock, match="not signed off"):
        trial_lifecycle.transition(clinic.db, doc, trial.id, "confirm-screening", clock=clock)
    with pytest.raises(ValidationError, match="reason"):
        screening.sign_off_screening(clinic.db, doc, result.record_id, "  ")
    with pytest.raises(PermissionDenied):
        screening.sign_off_screening(
            clinic.db, clinic.actors["unblinded_staff_sitea"], result.record_id, "fine"
        )
    signed = screening.sign_off_screening(
        clinic.db, doc, result.record_id, "SSRI blunting discussed; continue", clock=clock
    )
    assert signed.cleared
    assert signed.signed_off_by == "clinician_sitea"
    assert (
        trial_lifecycle.transition(clinic.db, doc, trial.id, "confirm-screening").status
        == "screened"
    )


def test_adding_a_medication_later_rescreens_and_blocks_start(
    clinic: Clinic, clock: FixedClock
) -> None:
    doc = clinic.actors["clinician_sitea"]
    pid = clinic.patients["A-001"].id
    clear_history(clinic, doc, pid)
    first = screening.screen_patient(clinic.db, doc, pid, "psilocybin", clock=clock)
    trial = trial_planning.plan_trial(
        clinic.db, doc, pid, FADIMAN, DesignSpec(), start_date=clock().date(), clock=clock
    )
    trial_lifecycle.transition(clinic.db, doc, trial.id, "schedule", clock=clock)
    patients.add_medication(clinic.db, doc, pid, "lithium carbonate", clock=clock)
    latest = screening.latest_screening(clinic.db, doc, pid, "psilocybin")
    assert latest.record_id == first.record_id
    assert latest.version > first.version
    assert latest.decision == "do-not-start"
    with pytest.raises(SafetyBlock):
        trial_lifecycle.transition(clinic.db, doc, trial.id, "start", clock=clock)


def test_unrecognised_medication_needs_review_and_names_it(
    clinic: Clinic, clock: FixedClock
) -> None:
    doc = clinic.actors["clinician_sitea"]
    pid = clinic.patients["A-001"].id
    clear_history(clinic, doc, pid)
    patients.add_medication(clinic.db, doc, pid, "Zorblaxatin 5 mg", clock=clock)
    result = screening.screen_patient(clinic.db, doc, pid, "psilocybin", clock=clock)
    assert result.decision == "clinician-review"
    assert any("Zorblaxatin" in str(f["matched"]) for f in result.findings)


def test_screening_judges_the_mean_of_recent_clinic_and_home_readings(
    clinic: Clinic, clock: FixedClock
) -> None:
    doc = clinic.actors["clinician_sitea"]
    pid = clinic.patients["A-001"].id
    clear_history(clinic, doc, pid)
    today = clock().date()
    # one clinic reading over 160/90: a recheck that shows the value, not a contraindication
    patient_chart.record_clinic_bp(clinic.db, doc, pid, today, 165, 95, clock=clock)
    first = screening.screen_patient(clinic.db, doc, pid, "lsd", clock=clock)
    assert first.decision == "clinician-review"
    [recheck] = first.findings
    assert (recheck["code"], recheck["severity"]) == ("bp-recheck", "major")
    assert recheck["matched"] == (f"165/95 mmHg (1 reading: {today.isoformat()} 165/95)")
    assert "average at least 2 readings on separate occasions" in recheck["rationale"]
    # a home reading on another day: the mean of the two (163/93) exceeds 160/90
    home = DiaryInput(today - dt.timedelta(days=3), {"systolic": 161, "diastolic": 91}, "home_bp")
    records.record_diary_entry(clinic.db, doc, pid, home, clock=clock)
    second = screening.screen_patient(clinic.db, doc, pid, "lsd", clock=clock)
    assert second.decision == "do-not-start"
    [uncontrolled] = second.findings
    assert uncontrolled["code"] == "bp-uncontrolled"
    assert uncontrolled["title"] == (
        "Uncontrolled blood pressure: 163/93 mmHg (mean of 2 readings on 2 days), above 160/90 mmHg"
    )
    with pytest.raises(SafetyBlock, match="do-not-start"):
        screening.sign_off_screening(clinic.db, doc, second.record_id, "white coat")
    # 4 weeks later both have left the window: one new 132/90 reading raises nothing
    clock.advance(days=28)
    later = clock().date()
    patient_chart.record_clinic_bp(clinic.db, doc, pid, later, 132, 90, clock=clock)
    third = screening.screen_patient(clinic.db, doc, pid, "lsd", clock=clock)
    assert (third.decision, third.findings) == ("no-known-issues", [])
    # with 150/90 the day before, the mean 141/90 is above the strict programmes' 140/90:
    # a moderate finding a clinician may sign off
    yesterday = later - dt.timedelta(days=1)
    patient_chart.record_clinic_bp(clinic.db, doc, pid, yesterday, 150, 90, clock=clock)
    fourth = screening.screen_patient(clinic.db, doc, pid, "lsd", clock=clock)
    assert [(f["code"], f["severity"]) for f in fourth.findings] == [("bp-elevated", "moderate")]
    assert "141/90 mmHg (mean of 2 readings on 2 days)" in fourth.findings[0]["title"]
    signed = screening.sign_off_screening(
        clinic.db, doc, fourth.record_id, "Treated hypertension; GP aware", clock=clock
    )
    assert signed.cleared


def test_phq9_item9_raises_an_urgent_alert_and_holds_dosing(
    clinic: Clinic, clock: FixedClock
) -> None:
    doc, pid, trial_id = planned_and_running(clinic, clock)
    me = clinic.actors["p_A-001"]
    answers = {f"q{i}": 0 for i in range(1, 10)} | {"q9": 1}
    entry = records.record_diary_entry(
        clinic.db, me, pid, DiaryInput(clock().date(), answers, instrument_id="phq9"), clock=clock
    )
    assert entry.scores["scores"]["total"]["value"] == 1
    open_alerts = alerts.list_alerts(clinic.db, doc)
    assert [(a.code, a.severity) for a in open_alerts] == [("phq9-item9", "urgent")]
    kit = trial_views.get_trial(clinic.db, me, trial_id).periods[0].kit_code
    # A dose reported during the hold is a fact: stored, a deviation, an urgent alert.
    held = dosing.record_dose(clinic.db, me, trial_id, taken_at=clock(), kit_code=kit, clock=clock)
    assert "dose-during-hold" in (held.deviation or "")
    raised = {(a.code, a.severity) for a in alerts.list_alerts(clinic.db, doc)}
    assert ("dose-during-hold", "urgent") in raised
    assert [d.record_id for d in dosing.list_doses(clinic.db, doc, trial_id)] == [held.record_id]
    kinds = [
        d["kind"] for d in dosing.adherence(clinic.db, doc, trial_id, clock=clock)["deviations"]
    ]
    assert "dose-during-hold" in kinds
    for alert in alerts.list_alerts(clinic.db, doc):
        alerts.acknowledge_alert(clinic.db, doc, alert.id, "called patient; safe", clock=clock)
    clock.advance(days=1)
    dose = dosing.record_dose(clinic.db, me, trial_id, taken_at=clock(), kit_code=kit, clock=clock)
    assert dose.local_date == clock().date()
    assert dose.deviation is None or "dose-during-hold" not in dose.deviation


def test_grade3_adverse_event_pauses_trial_until_clinician_resumes(
    clinic: Clinic, clock: FixedClock
) -> None:
    doc, pid, trial_id = planned_and_running(clinic, clock)
    me = clinic.actors["p_A-001"]
    adverse_events.record_adverse_event(
        clinic.db,
        me,
        pid,
        term="vomiting",
        grade=3,
        serious=False,
        onset_date=clock().date(),
        clock=clock,
    )
    trial = trial_views.get_trial(clinic.db, doc, trial_id)
    assert trial.status == "paused"
    assert "ae-grade-3-or-serious" in (trial.status_reason or "")
    kit = trial.periods[0].kit_code
    with pytest.raises(PermissionDenied):
        trial_lifecycle.transition(clinic.db, me, trial_id, "resume", reason="I feel fine")
    clock.advance(days=2)
    # resuming never acknowledges an alert: the clinician acknowledges first
    with pytest.raises(SafetyBlock, match="acknowledge alert"):
        trial_lifecycle.transition(
            clinic.db, doc, trial_id, "resume", reason="resolved; reviewed", clock=clock
        )
    for alert in alerts.list_alerts(clinic.db, doc):
        alerts.acknowledge_alert(clinic.db, doc, alert.id, "resolved; reviewed", clock=clock)
    resumed = trial_lifecycle.transition(
        clinic.db, doc, trial_id, "resume", reason="resolved; reviewed", clock=clock
    )
    assert resumed.status == "running"
    assert resumed.pauses == [
        {
            "from": (clock().date() - dt.timedelta(days=2)).isoformat(),
            "to": clock().date().isoformat(),
        }
    ]
    assert alerts.list_alerts(clinic.db, doc) == []
    calendar = trial_views.trial_calendar(clinic.db, doc, trial_id)
    today = calendar.on(clock().date())
    assert today is not None
    assert today.trial_day == 0
    assert today.is_dose_day
    dosing.record_dose(clinic.db, me, trial_id, taken_at=clock(), kit_code=kit, clock=clock)


def test_seizure_symptom_is_urgent_stop(clinic: Clinic, clock: FixedClock) -> None:
    doc, pid, trial_id = planned_and_running(clinic, clock)
    adverse_events.record_adverse_event(
        clinic.db,
        doc,
        pid,
        term="seizure",
        grade=2,
        serious=False,
        onset_date=clock().date(),
        symptoms=["seizure"],
        clock=clock,
    )
    codes = {(a.code, a.action) for a in alerts.list_alerts(clinic.db, doc)}
    assert ("seizure", "stop") in codes
    assert trial_views.get_trial(clinic.db, doc, trial_id).status == "paused"


def test_new_interacting_medication_during_trial_alerts(clinic: Clinic, clock: FixedClock) -> None:
    doc, pid, _ = planned_and_running(clinic, clock)
    patients.add_medication(clinic.db, doc, pid, "Tramadol 50 mg", clock=clock)
    codes = [a.code for a in alerts.list_alerts(clinic.db, doc)]
    assert "new-medication-interaction" in codes


def test_mid_trial_misspelt_maoi_in_a_combined_entry_alerts(
    clinic: Clinic, clock: FixedClock
) -> None:
    doc, pid, _ = planned_and_running(clinic, clock)
    patients.add_medication(clinic.db, doc, pid, "ibuprofen + Nardl", clock=clock)
    raised = alerts.list_alerts(clinic.db, doc)
    assert [(a.code, a.action) for a in raised] == [("new-medication-interaction", "hold-dosing")]
    assert "Nardl" in raised[0].message


def test_mid_trial_combination_alerts_when_its_second_drug_is_added(
    clinic: Clinic, clock: FixedClock
) -> None:
    doc, pid, _ = planned_and_running(clinic, clock)
    patients.add_medication(clinic.db, doc, pid, "DHE 45 injection", clock=clock)
    before = {a.id for a in alerts.list_alerts(clinic.db, doc)}
    assert before  # the ergot itself has major findings (interaction, 24 h timing)
    patients.add_medication(clinic.db, doc, pid, "Imitrex 50 mg", clock=clock)
    raised = [a for a in alerts.list_alerts(clinic.db, doc) if a.id not in before]
    combined = [a for a in raised if "Triptan together with an ergot" in a.message]
    assert combined == raised
    assert len(combined) == 1  # the triptan alone (moderate) would raise nothing
    assert combined[0].action == "hold-dosing"
    assert (
        "Imitrex 50 mg (sumatriptan) + DHE 45 injection (dihydroergotamine)" in combined[0].message
    )


def test_acknowledgement_is_audited_and_scoped(clinic: Clinic, clock: FixedClock) -> None:
    doc, pid, _ = planned_and_running(clinic, clock)
    adverse_events.record_adverse_event(
        clinic.db,
        doc,
        pid,
        term="syncope",
        grade=3,
        serious=True,
        onset_date=clock().date(),
        clock=clock,
    )
    alert = alerts.list_alerts(clinic.db, doc)[0]
    other_site = clinic.actors["clinician_siteb"]
    assert alerts.list_alerts(clinic.db, other_site) == []
    from microtrial.errors import NotFound

    with pytest.raises(NotFound):
        alerts.acknowledge_alert(clinic.db, other_site, alert.id, "not mine")
    with pytest.raises(ValidationError, match="note"):
        alerts.acknowledge_alert(clinic.db, doc, alert.id, "")
    done = alerts.acknowledge_alert(clinic.db, doc, alert.id, "reviewed", clock=clock)
    assert done.acknowledged_by == "clinician_sitea"
    assert done.acknowledgement_note == "reviewed"


def test_adverse_events_during_a_trial_are_linked_to_it(clinic: Clinic, clock: FixedClock) -> None:
    doc, pid, trial_id = planned_and_running(clinic, clock)
    event = adverse_events.record_adverse_event(
        clinic.db,
        doc,
        pid,
        term="nausea",
        grade=1,
        serious=False,
        onset_date=clock().date(),
        clock=clock,
    )
    from microtrial.store.models import AdverseEventRow

    with clinic.db.transaction() as session:
        row = session.get(AdverseEventRow, event.id)
        assert row is not None
        assert row.trial_id == trial_id
