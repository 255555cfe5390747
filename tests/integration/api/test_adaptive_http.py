"""Adaptive trials through the live server (issue 20): a look after each complete pair, made by
the diary writer or the server's daily sweep; only "continue" or "decision reached" while
blinded; unused kits returned; the looks with their estimates only after unblinding."""

from __future__ import annotations

import datetime as dt
import io
import json
import re

import httpx
import numpy as np
from pypdf import PdfReader
from sqlalchemy import select

from helpers import Clinic, FixedClock
from integration.api.live import LiveServer, Login
from integration.api.test_holds_http import _web
from integration.test_safety_services import clear_history
from microtrial.domain.actors import system_actor
from microtrial.services import adaptive_looks, patients, pharmacy, screening, sweeps
from microtrial.store.models import (
    AllocationRow,
    AuditEventRow,
    InterimLookRow,
    KitRow,
    PatientRow,
    TrialRow,
)

DESIGN = {"run_in_days": 0, "period_days": 7, "wash_in_days": 1}
PAIR_DAYS = 14
REGIMEN = {
    "template": "fadiman",
    "substance": "psilocybin",
    "amount": 100,
    "unit": "mg dried material",
}
# Names that would carry an interim estimate or decision; none may appear before unblinding.
ESTIMATES = ("p_mcid", "effect_mean", "ci95", "stop-benefit", "stop-futility", "maximum-reached")


def _plan(
    api: httpx.Client, login: Login, clinic: Clinic, clock: FixedClock, **rule: object
) -> int:
    """Screen A-001, plan an adaptive trial from today through the API, schedule and start it."""
    doc = login("clinician_sitea")
    pid = clinic.patients["A-001"].id
    clear_history(clinic, clinic.actors["clinician_sitea"], pid)
    found = screening.screen_patient(
        clinic.db, clinic.actors["clinician_sitea"], pid, "psilocybin", clock=clock
    )
    assert found.decision == "no-known-issues"
    body = {
        "regimen": REGIMEN,
        "design": DESIGN,
        "start_date": clock().date().isoformat(),
        # A rule field given as None is left out (a preset sets it).
        "adaptive": {
            k: v for k, v in {"min_pairs": 2, "max_pairs": 3, **rule}.items() if v is not None
        },
    }
    made = api.post(f"/patients/{pid}/trials", json=body, headers=doc)
    assert made.status_code == 201, made.text
    trial = made.json()
    assert len(trial["periods"]) == 6  # all 3 pairs allocated at planning
    assert trial["adaptive"]["state"] == "continue"
    for action in ("schedule", "start"):
        etag = api.get(f"/trials/{trial['id']}", headers=doc).headers["etag"]
        moved = api.post(
            f"/trials/{trial['id']}/transitions",
            json={"action": action},
            headers={**doc, "If-Match": etag},
        )
        assert moved.status_code == 200, moved.text
    return int(trial["id"])


def _arms(clinic: Clinic, trial_id: int) -> list[str]:
    with clinic.db.transaction() as session:
        row = session.execute(
            select(AllocationRow).where(AllocationRow.trial_id == trial_id)
        ).scalar_one()
        return [str(a) for a in row.sequence]


def _diaries(
    api: httpx.Client,
    login: Login,
    clinic: Clinic,
    clock: FixedClock,
    trial_id: int,
    days: range,
    effect: float,
) -> None:
    """The patient's daily pain for ``days`` (day 0 = start), ``effect`` lower when active."""
    arms = _arms(clinic, trial_id)
    rng = np.random.default_rng(trial_id)
    patient = login("p_A-001")
    trial = api.get(f"/trials/{trial_id}", headers=patient).json()
    start = dt.date.fromisoformat(trial["start_date"])
    pid = clinic.patients["A-001"].id
    for day in days:
        active = arms[day // DESIGN["period_days"]] == "active"
        pain = int(np.clip(round(5 + (effect if active else 0) + rng.normal(0, 0.6)), 0, 10))
        date = start + dt.timedelta(days=day)
        clock.now = dt.datetime.combine(date, dt.time(20), tzinfo=dt.UTC)
        sent = api.post(
            f"/patients/{pid}/diary-entries",
            json={"local_date": date.isoformat(), "answers": {"average_pain": pain}},
            headers=patient,
        )
        assert sent.status_code == 201, sent.text


def _looks(clinic: Clinic, trial_id: int) -> list[tuple[int, str]]:
    with clinic.db.transaction() as session:
        return [
            (look.pair, look.decision)
            for look in session.execute(
                select(InterimLookRow)
                .where(InterimLookRow.trial_id == trial_id)
                .order_by(InterimLookRow.pair)
            ).scalars()
        ]


def _complete_and_unblind(
    api: httpx.Client, doc: dict[str, str], clock: FixedClock, trial_id: int
) -> None:
    """The next day: complete the trial whose rule reached a decision, and unblind it."""
    clock.advance(days=1)
    etag = api.get(f"/trials/{trial_id}", headers=doc).headers["etag"]
    done = api.post(
        f"/trials/{trial_id}/transitions",
        json={"action": "complete", "reason": "adaptive rule: decision reached"},
        headers={**doc, "If-Match": etag},
    )
    assert done.status_code == 200, done.text
    assert api.post(f"/trials/{trial_id}/unblind", json={}, headers=doc).status_code == 200


def _blinded(text: str, clinic: Clinic | None = None) -> None:
    """No estimate's name, decision or (with ``clinic``) any look's estimate in ``text``."""
    for word in ESTIMATES:
        assert word not in text, word
    if clinic is not None:
        with clinic.db.transaction() as session:
            for look in session.execute(select(InterimLookRow)).scalars():
                for value in (look.p_mcid, look.effect_mean, look.ci95_low, look.ci95_high):
                    assert value is not None
                    assert f"{value:.2f}" not in text
                    assert f"{value:.3f}" not in text


def test_a_clear_benefit_stops_after_the_second_pair_on_the_diary_of_its_last_day(
    api: httpx.Client, login: Login, server: LiveServer, clinic: Clinic, clock: FixedClock
) -> None:
    trial_id = _plan(api, login, clinic, clock)
    doc = login("clinician_sitea")
    _diaries(api, login, clinic, clock, trial_id, range(PAIR_DAYS), effect=-3)
    assert _looks(clinic, trial_id) == []  # before the minimum of 2 pairs: no look
    _diaries(api, login, clinic, clock, trial_id, range(PAIR_DAYS, 2 * PAIR_DAYS - 1), -3)
    assert _looks(clinic, trial_id) == []  # pair 2 is not complete yet
    _diaries(api, login, clinic, clock, trial_id, range(2 * PAIR_DAYS - 1, 2 * PAIR_DAYS), -3)
    assert _looks(clinic, trial_id) == [(2, "stop-benefit")]  # the last day's diary looked
    read = api.get(f"/trials/{trial_id}", headers=doc)
    assert read.json()["adaptive"]["state"] == "decision-reached"
    assert read.json()["adaptive"]["pairs_run"] == 2
    assert len(read.json()["periods"]) == 4  # the third pair will not run
    _blinded(read.text, clinic)
    _blinded(api.get(f"/trials/{trial_id}/calendar", headers=doc).text)
    assert api.get(f"/trials/{trial_id}/result", headers=doc).status_code == 409
    with _web(server, "clinician_sitea") as web:
        page = web.get(f"/clinic/trials/{trial_id}").text
    assert "A decision has been reached: complete and unblind" in page
    _blinded(page, clinic)
    with _web(server, "p_A-001") as web:
        today = web.get("/today").text
    assert "A decision has been reached" in today
    _blinded(today, clinic)
    # Before unblinding nobody is told how or why it stopped (that is the decision itself).
    patient = login("p_A-001")
    for text in (today, api.get("/me/status", headers=patient).text):
        assert "adaptive-stop" not in text
        assert "stopped early" not in text
        assert "sign that the microdose helped" not in text
    # The audit log holds the decision with its inputs; the pair-3 kits are returned unused.
    with clinic.db.transaction() as session:
        audited = [
            json.loads(e.detail) if isinstance(e.detail, str) else e.detail
            for e in session.execute(
                select(AuditEventRow).where(AuditEventRow.action == "interim-look")
            ).scalars()
        ]
        returned = session.execute(
            select(KitRow).where(KitRow.trial_id == trial_id, KitRow.returned_at.is_not(None))
        ).all()
    assert audited[0]["decision"] == "stop-benefit"
    assert audited[0]["pair"] == 2
    assert audited[0]["p_mcid"] >= audited[0]["benefit_threshold"]
    assert audited[0]["days_active"] == audited[0]["days_placebo"] == 12
    assert len(returned) == 2
    # Completed the next day and unblinded: the result shows the look and its estimate.
    _complete_and_unblind(api, doc, clock, trial_id)
    result = api.get(f"/trials/{trial_id}/result", headers=doc)
    assert result.status_code == 200, result.text
    (look,) = result.json()["interim_looks"]
    assert look["decision"] == "stop-benefit"
    assert look["effect_mean"] < -2
    report = api.get(f"/trials/{trial_id}/report", params={"format": "html"}, headers=doc).text
    assert "Adaptive design: looks and operating characteristics" in report
    assert "stop for benefit" in report
    # After unblinding the patient is told, in words and without an interim estimate, that the
    # trial stopped early after 2 pairs and why: on Today and in the report (HTML and PDF).
    said = "Your trial stopped early, after 2 of up to 3 pairs of periods"
    why = "found enough sign that the microdose helped to stop there"
    with _web(server, "p_A-001") as web:
        today = web.get("/today").text
    assert 'id="adaptive-stop"' in today
    assert said in today
    assert why in today
    own = api.get(f"/trials/{trial_id}/report", params={"format": "html"}, headers=patient)
    assert own.status_code == 200, own.text
    assert "Your trial result" in own.text  # the patient's version
    assert said in own.text
    assert why in own.text
    assert f"{look['p_mcid']:.3f}" not in own.text  # the look's own number is not shown
    pdf = api.get(f"/trials/{trial_id}/report", params={"format": "pdf"}, headers=patient)
    assert pdf.status_code == 200
    text = re.sub(
        r"\s+", " ", " ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
    )
    assert said in text


def test_no_effect_stops_for_futility_at_the_servers_sweep_and_the_pharmacy_is_told(
    api: httpx.Client, login: Login, clinic: Clinic, clock: FixedClock
) -> None:
    trial_id = _plan(api, login, clinic, clock)
    staff = clinic.actors["unblinded_staff_sitea"]
    (work,) = pharmacy.pharmacy_work(clinic.db, staff, clock=clock).to_prepare
    assert (work.kits, work.not_yet_needed, work.needed_through_pair) == (6, 0, 3)
    # Every diary of pair 2 but its last day: the pair ends unlooked until the sweep.
    _diaries(api, login, clinic, clock, trial_id, range(2 * PAIR_DAYS - 1), effect=0)
    assert _looks(clinic, trial_id) == []
    clock.advance(days=2)  # the day after the pair's last day
    results = sweeps.run_daily_sweeps(clinic.db, clock=clock)
    assert sum(r.looks for r in results) == 1
    assert _looks(clinic, trial_id) == [(2, "stop-futility")]
    doc = login("clinician_sitea")
    read = api.get(f"/trials/{trial_id}", headers=doc)
    assert read.json()["adaptive"]["state"] == "decision-reached"
    _blinded(read.text)
    work = pharmacy.pharmacy_work(clinic.db, staff, clock=clock).to_prepare[0]
    assert (work.kits, work.returned) == (4, 2)
    # A second sweep the same day, or another diary, looks no more.
    assert sum(r.looks for r in sweeps.run_daily_sweeps(clinic.db, clock=clock)) == 0


def test_an_unclear_answer_continues_to_the_maximum(
    api: httpx.Client, login: Login, clinic: Clinic, clock: FixedClock
) -> None:
    # Thresholds no trial of this size reaches: every look continues, the last reaches the max.
    trial_id = _plan(api, login, clinic, clock, benefit_threshold=0.99, futility_threshold=0.0)
    staff = clinic.actors["unblinded_staff_sitea"]
    _diaries(api, login, clinic, clock, trial_id, range(2 * PAIR_DAYS), effect=-1)
    assert _looks(clinic, trial_id) == [(2, "continue")]
    work = pharmacy.pharmacy_work(clinic.db, staff, clock=clock).to_prepare[0]
    assert work.needed_through_pair == 3
    _diaries(api, login, clinic, clock, trial_id, range(2 * PAIR_DAYS, 3 * PAIR_DAYS), -1)
    assert _looks(clinic, trial_id) == [(2, "continue"), (3, "maximum-reached")]
    doc = login("clinician_sitea")
    read = api.get(f"/trials/{trial_id}", headers=doc).json()
    assert read["adaptive"]["state"] == "decision-reached"
    assert len(read["periods"]) == 6  # nothing returned: every pair ran


def test_a_bad_rule_is_refused_naming_the_field(
    api: httpx.Client, login: Login, clinic: Clinic, clock: FixedClock
) -> None:
    doc = login("clinician_sitea")
    pid = clinic.patients["A-001"].id
    body = {
        "regimen": REGIMEN,
        "start_date": clock().date().isoformat(),
        "adaptive": {"benefit_threshold": 0.6, "futility_threshold": 0.7},
    }
    refused = api.post(f"/patients/{pid}/trials", json=body, headers=doc)
    assert refused.status_code == 422, refused.text
    assert "futility_threshold" in refused.text
    body["adaptive"] = {"outcome": "mood"}
    refused = api.post(f"/patients/{pid}/trials", json=body, headers=doc)
    assert refused.status_code == 422
    assert "outcome" in refused.text
    assert "pain" in refused.text
    body["adaptive"] = {"max_pairs": 4}
    body["design"] = {"pairs": 3}
    refused = api.post(f"/patients/{pid}/trials", json=body, headers=doc)
    assert refused.status_code == 422
    assert "pairs" in refused.text
    assert api.get(f"/patients/{pid}/trials", headers=doc).json()["items"] == []


def test_a_look_fitted_while_the_trial_changed_is_not_stored_and_is_made_again(
    api: httpx.Client, login: Login, clinic: Clinic, clock: FixedClock
) -> None:
    trial_id = _plan(api, login, clinic, clock)
    _diaries(api, login, clinic, clock, trial_id, range(2 * PAIR_DAYS - 1), effect=0)
    clock.advance(days=2)  # pair 2 has ended without its last diary: a look is due
    actor = system_actor("interim-look")
    with clinic.db.transaction() as session:
        trial = session.get_one(TrialRow, trial_id)
        due = adaptive_looks.read_due(
            session, trial, session.get_one(PatientRow, trial.patient_id), clock()
        )
    assert due is not None
    assert [pair for pair, _ in due.pairs] == [2]
    fitted = adaptive_looks.fit_due(due)  # no transaction open
    # Meanwhile the clinician adds a diagnosis: the trial's data version is no longer the one read.
    patients.add_condition(
        clinic.db, clinic.actors["clinician_sitea"], clinic.patients["A-001"].id, "G43.909"
    )
    with clinic.db.transaction() as session:
        assert adaptive_looks.write_looks(session, actor, due, fitted, clock()) == []
    assert _looks(clinic, trial_id) == []  # nothing stored from the stale read
    # The next look reads again and stores it.
    assert adaptive_looks.run_looks(clinic.db, actor, trial_id, clock()) == 1
    assert _looks(clinic, trial_id) == [(2, "stop-futility")]
    assert adaptive_looks.run_looks(clinic.db, actor, trial_id, clock()) == 0
