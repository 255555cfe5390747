"""Migraine and cluster trials: the primary endpoint (migraine days, attacks) through the
discrete model, from logged attacks to the analysis service, the reports and their PDF.

Trials are walked through the real services: the daily diary, attacks logged with
``services.attacks`` (which writes the day's migraine_diary / cluster_attack_log entry), then
completion and unblinding. The expected fit is the engine's own, on a frame this test builds
from what it logged, so the service's day -> arm mapping and 0-day rule are checked, not copied.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

import numpy as np
import pandas as pd
import pytest

from helpers import Clinic, FixedClock, after_last_period
from integration.test_reports import REGIMEN, SPEC, pct, pdf_pages, sections_of
from microtrial import i18n
from microtrial.analysis import fit_trials
from microtrial.analysis.continuous import FLAG_TEXT
from microtrial.domain.actors import Actor, system_actor
from microtrial.errors import StatisticalWarning
from microtrial.reports.endpoint_patient import INTERVAL, PATIENT_ENDPOINT, SUMMARY
from microtrial.reports.trial_report import render_trial_report
from microtrial.services import (
    admin,
    analysis,
    patients,
    records,
    screening,
    trial_allocation,
    trial_lifecycle,
    trial_planning,
    trial_views,
)
from microtrial.services.analysis import EndpointAnalysis, TrialAnalysis
from microtrial.services.attacks import AttackInput, log_attack
from microtrial.services.records import DiaryInput

PASSWORD = "correct horse battery"


def patient(clinic: Clinic, clock: FixedClock, condition: str) -> tuple[int, Actor]:
    """A screened patient with a login: A-001 (migraine), or a new one with ``condition``."""
    doc = clinic.actors["clinician_sitea"]
    if condition.startswith("G43"):
        pid, me = clinic.patients["A-001"].id, clinic.actors["p_A-001"]
    else:
        system = system_actor("test")
        pid = patients.enrol_patient(
            clinic.db, system, site_code="SITEA", study_code="A-020", birth_year=1975,
            sex="male", time_zone="Europe/London", conditions=[condition],
            clock=lambda: clinic.enrolled_at,
        ).id  # fmt: skip
        admin.add_user(
            clinic.db, system, site_code="SITEA", role="patient", username="p_A-020",
            password=PASSWORD, patient_code="A-020", clock=clock,
        )  # fmt: skip
        me = admin.user_actor(clinic.db, "p_A-020")
    for flag in screening.history_flag_ids():
        patients.set_history_flag(clinic.db, doc, pid, flag, False, clock=clock)
    assert screening.screen_patient(clinic.db, doc, pid, "psilocybin").decision == (
        "no-known-issues"
    )
    return pid, me


def walk_headache_trial(
    clinic: Clinic,
    clock: FixedClock,
    *,
    condition: str,
    rates: dict[str, float],
    seed: int,
    diary_share: float = 0.85,
) -> tuple[int, pd.DataFrame]:
    """Run a trial with the daily diary on a share of days and attacks at ``rates`` per arm.

    Migraine: ``rates`` is the chance of a (triptan-treated) migraine attack on a day of that
    arm; cluster: the Poisson mean of attacks per day. Returns the trial id and, per calendar
    day, what was logged: ``arm``, ``wash_in``, ``diary`` (daily diary kept), ``attacks``.
    """
    rng = np.random.default_rng(seed)
    doc = clinic.actors["clinician_sitea"]
    pid, me = patient(clinic, clock, condition)
    instrument = "migraine_diary" if condition.startswith("G43") else "cluster_attack_log"
    trial = trial_planning.plan_trial(
        clinic.db, doc, pid, REGIMEN, SPEC, start_date=clock().date(), seed=seed, clock=clock
    )
    for step in ("schedule", "start"):
        trial_lifecycle.transition(clinic.db, doc, trial.id, step, clock=clock)
    prep = trial_allocation.kit_preparation(
        clinic.db, clinic.actors["unblinded_staff_sitea"], trial.id
    )
    arms = {k.period: k.arm for k in prep.kits}
    logged = []
    for day in trial_views.trial_calendar(clinic.db, me, trial.id).days:
        clock.now = dt.datetime.combine(day.date, dt.time(20), tzinfo=dt.UTC)
        arm = "baseline" if day.period is None else arms[day.period]
        kept = bool(rng.random() < diary_share)
        if kept:
            answers = {"average_pain": int(rng.integers(3, 8)), "worst_pain": 8}
            records.record_diary_entry(
                clinic.db, me, pid, DiaryInput(day.date, answers), clock=clock
            )
        if instrument == "migraine_diary":
            count = int(rng.random() < rates[arm])
        else:
            count = int(rng.poisson(rates[arm]))
        for k in range(count):
            start = dt.datetime.combine(day.date, dt.time(1 + 3 * k))
            log_attack(
                clinic.db, me, pid,
                AttackInput(instrument, start, start + dt.timedelta(minutes=90), 3,
                            frozenset({"migraine_specific_medication"})
                            if instrument == "migraine_diary" else frozenset()),
                clock=clock,
            )  # fmt: skip
        logged.append({"arm": arm, "wash_in": day.is_wash_in, "diary": kept, "attacks": count})
    clock.advance(days=1)
    after_last_period(clinic, clock, trial.id)
    trial_lifecycle.transition(clinic.db, doc, trial.id, "complete", reason="done", clock=clock)
    trial_lifecycle.unblind_trial(clinic.db, doc, trial.id, clock=clock)
    return trial.id, pd.DataFrame(logged)


def expected_values(logged: pd.DataFrame) -> pd.Series:
    """The documented rule: a logged day counts, a kept diary without one is 0, else missing."""
    return pd.Series(
        np.where(logged["attacks"] > 0, logged["attacks"], np.where(logged["diary"], 0.0, np.nan))
    )


def direct_fit(trial_id: int, logged: pd.DataFrame, kind: str) -> dict[str, float]:
    """The engine called directly on what the test logged (day numbers from the run-in start)."""
    frame = pd.DataFrame(
        {
            "trial_id": str(trial_id),
            "day": np.arange(len(logged)),
            "arm": logged["arm"],
            "value": expected_values(logged),
            "exclude": logged["wash_in"],
        }
    )
    row = fit_trials(frame, relative_mcid=0.3, outcome_type=kind).iloc[0]
    return {str(k): v for k, v in row.to_dict().items()}


def analysed(clinic: Clinic, clock: FixedClock, trial_id: int) -> TrialAnalysis:
    return analysis.analyse_trial(
        clinic.db, clinic.actors["clinician_sitea"], trial_id, clock=clock
    )


def endpoint_trial(
    clinic: Clinic, clock: FixedClock, **walk: Any
) -> tuple[int, pd.DataFrame, TrialAnalysis, EndpointAnalysis]:
    """A headache trial walked (``walk_headache_trial``'s arguments) and analysed: its id, what
    was logged, the analysis and its primary endpoint."""
    trial_id, logged = walk_headache_trial(clinic, clock, **walk)
    result = analysed(clinic, clock, trial_id)
    assert result.endpoint is not None
    return trial_id, logged, result, result.endpoint


def arm_detail(logged: pd.DataFrame, arm: str) -> tuple[int, int]:
    """(days with the outcome or attacks in total, observed days) on the arm's analysed days."""
    values = expected_values(logged)[(logged["arm"] == arm) & ~logged["wash_in"]].dropna()
    return int(values.sum()), len(values)


def test_migraine_trial_reports_migraine_days_through_the_binary_model(
    clinic: Clinic, clock: FixedClock
) -> None:
    rates = {"baseline": 0.4, "active": 0.1, "placebo": 0.55}
    trial_id, logged, result, e = endpoint_trial(
        clinic, clock, condition="G43.909", rates=rates, seed=3
    )
    assert (e.endpoint_id, e.instrument, e.score, e.outcome_type) == (
        "monthly-migraine-days",
        "migraine_diary",
        "migraine_day",
        "binary",
    )
    assert e.days["value"].tolist() == pytest.approx(expected_values(logged).tolist(), nan_ok=True)
    want = direct_fit(trial_id, logged, "binary")
    for key in ("effect_mean", "ci95_low", "ci95_high", "p_benefit", "p_ratio_reduction"):
        assert math.isclose(e.result[key], want[key], rel_tol=1e-9, abs_tol=1e-12), key
    assert math.exp(e.result["effect_mean"]) < 1  # fewer migraine days on active
    assert e.result["p_benefit"] > 0.9
    assert e.result["difference_mean"] < 0
    assert not result.results.empty  # the continuous pain analysis is still there

    entries = records.list_diary_entries(
        clinic.db, clinic.actors["clinician_sitea"], result.trial.patient_id, clock=clock
    )
    html = render_trial_report(result, audience="clinician", fmt="html", entries=entries)
    found = sections_of(html)
    ratio = f"{math.exp(e.result['effect_mean']):.2f}"
    low, high = (f"{math.exp(e.result[k]):.2f}" for k in ("ci95_low", "ci95_high"))
    fewer = f"{abs(e.result['difference_mean']) * 28:.1f}"
    p_fewer = pct(e.result["p_benefit"])
    summary = found["summary"]
    assert "Condition primary endpoint: migraine days (binary (logistic) model)" in summary
    assert f"odds ratio {ratio} (95 % credible interval {low} to {high})" in summary
    assert f"about {fewer} fewer migraine days per 4 weeks" in summary
    assert f"probability of fewer migraine days {p_fewer}" in summary
    for arm in ("active", "placebo"):
        days, observed = arm_detail(logged, arm)
        assert f"{days} of {observed} days" in summary, arm
    assert "average pain was" in summary  # the pain result is kept alongside
    assert (
        f"analysed (binary (logistic) model): odds ratio {ratio} (95 % CrI {low} to {high})"
        in (found["secondary"])
    )
    assert "Condition primary endpoint (monthly-migraine-days)" in found["methods"]

    plain = render_trial_report(result, audience="patient", fmt="html", entries=entries)
    text = sections_of(plain)["summary"]
    assert f"you had about {fewer} fewer migraine days per 4 weeks than in the periods" in text
    assert f"were {ratio} times those in the dummy-capsule periods" in text
    assert f"between {low} and {high} times" in text
    assert f"fewer migraine days at all: {p_fewer}" in text
    for jargon in ("credible", "posterior", "odds ratio", "binary"):
        assert jargon not in plain, jargon
    assert "logged no migraine counted as a day without migraine" in plain

    pages = pdf_pages(render_trial_report(result, fmt="pdf", entries=entries))
    text_pdf = re.sub(r"\s+", " ", " ".join(pages))
    assert f"Odds ratio (active vs placebo) {ratio}" in text_pdf
    assert f"{low} to {high}" in text_pdf


def test_cluster_trial_reports_attacks_through_the_count_model(
    clinic: Clinic, clock: FixedClock
) -> None:
    rates = {"baseline": 2.0, "active": 0.7, "placebo": 2.2}
    trial_id, logged, result, e = endpoint_trial(
        clinic, clock, condition="G44.019", rates=rates, seed=4
    )
    assert (e.endpoint_id, e.score, e.outcome_type) == (
        "weekly-attack-frequency",
        "attacks",
        "count",
    )
    want = direct_fit(trial_id, logged, "count")
    for key in ("effect_mean", "ci95_low", "ci95_high", "p_benefit", "difference_mean"):
        assert math.isclose(e.result[key], want[key], rel_tol=1e-9, abs_tol=1e-12), key
    assert math.exp(e.result["effect_mean"]) < 1
    assert e.result["p_benefit"] > 0.9

    html = render_trial_report(result, audience="clinician", fmt="html", entries=[])
    found = sections_of(html)
    ratio = f"{math.exp(e.result['effect_mean']):.2f}"
    per_week = f"{abs(e.result['difference_mean']) * 7:.1f}"
    assert "Condition primary endpoint: cluster attacks (count (Poisson) model)" in found["summary"]
    assert f"rate ratio {ratio} (95 % credible interval" in found["summary"]
    assert f"about {per_week} fewer attacks per week" in found["summary"]
    attacks, observed = arm_detail(logged, "active")
    assert f"{attacks} attacks in {observed} days" in found["summary"]
    assert f"analysed (count (Poisson) model): rate ratio {ratio}" in found["secondary"]
    plain = render_trial_report(result, audience="patient", fmt="html", entries=[])
    assert (
        f"about {per_week} fewer attacks per week than in the periods"
        in (sections_of(plain)["summary"])
    )
    assert "rate ratio" not in plain
    pdf_pages(render_trial_report(result, audience="patient", fmt="pdf", entries=[]))


def test_a_migraine_trial_without_migraine_diary_entries_is_not_given_a_result(
    clinic: Clinic, clock: FixedClock
) -> None:
    no_attacks = {"baseline": 0.0, "active": 0.0, "placebo": 0.0}
    _, _, result, e = endpoint_trial(
        clinic, clock, condition="G43.909", rates=no_attacks, seed=5, diary_share=1.0
    )
    assert (e.entries, e.result) == (0, {})
    assert e.reason == "no migraine-diary entries during the trial"
    assert e.days["value"].isna().all()  # a kept diary is not read as 0 from an unused log
    assert (
        "monthly-migraine-days: no migraine-diary entries during the trial; not analysed"
        in result.warnings
    )
    html = render_trial_report(result, audience="clinician", fmt="html", entries=[])
    found = sections_of(html)
    assert (
        "The migraine days endpoint (migraine_diary) was not analysed: no migraine-diary "
        "entries during the trial." in found["summary"]
    )
    assert "not analysed: no migraine-diary entries during the trial" in found["secondary"]
    assert "odds ratio" not in found["summary"].lower()
    plain = render_trial_report(result, audience="patient", fmt="html", entries=[])
    assert (
        "We could not work out a result for your migraine days: there were no entries in "
        "your migraine diary during your trial." in sections_of(plain)["summary"]
    )
    pdf_pages(render_trial_report(result, fmt="pdf", entries=[]))


def test_the_models_warning_reaches_both_reports(clinic: Clinic, clock: FixedClock) -> None:
    rates = {"baseline": 0.0, "active": 0.05, "placebo": 0.1}
    trial_id, logged, result, e = endpoint_trial(
        clinic, clock, condition="G43.909", rates=rates, seed=7, diary_share=0.12
    )
    observed = [arm_detail(logged, arm)[1] for arm in ("active", "placebo")]
    assert 0 < min(observed) < 5  # fewer observed days in an arm than the engine trusts
    warning = e.result["warning"]
    with pytest.warns(StatisticalWarning):  # the service keeps it off the caller: text only
        want = direct_fit(trial_id, logged, "binary")
    assert warning == want["warning"] != ""
    assert f"monthly-migraine-days: model warning ({warning})" in result.warnings
    html = render_trial_report(result, audience="clinician", fmt="html", entries=[])
    assert f"Model warning: {warning}" in sections_of(html)["summary"]
    plain = render_trial_report(result, audience="patient", fmt="html", entries=[])
    assert (
        f"Please note: {warning}, so this part of the result is less certain."
        in (sections_of(plain)["summary"])
    )
    # and in the patient's language, each flag worded from the catalogs
    parts = e.result["warning"].split("; ")
    assert set(parts) <= set(FLAG_TEXT.values())  # every flag the model can raise is worded
    with i18n.speaking("de"):
        plain = render_trial_report(result, audience="patient", fmt="html", entries=[])
        worded = [i18n.gettext(part) for part in parts]
    text = sections_of(plain)["summary"]
    assert "Bitte beachten Sie:" in text
    for english, german in zip(parts, worded, strict=True):
        assert german != english
        assert german in text
        assert english not in text


def english_pieces(message: str) -> list[str]:
    """The literal words of a message id between its placeholders (longer than one word)."""
    return [p.strip(" .,:()") for p in re.split(r"%\([a-z_]+\)s", message) if " " in p.strip()]


@pytest.mark.parametrize("language", [c for c in i18n.LANGUAGES if c != i18n.DEFAULT])
def test_the_patients_endpoint_section_speaks_their_language(
    clinic: Clinic, clock: FixedClock, language: str
) -> None:
    rates = {"baseline": 2.0, "active": 0.7, "placebo": 2.2}
    _, logged, result, e = endpoint_trial(clinic, clock, condition="G44.019", rates=rates, seed=4)
    assert e.result
    with i18n.speaking(language):
        plain = render_trial_report(result, audience="patient", fmt="html", entries=[])
        words = PATIENT_ENDPOINT["cluster_attack_log"]
        heading = i18n.gettext(words.heading)
        ratio = i18n.format_number(round(math.exp(e.result["effect_mean"]), 2), digits=2)
        english = [  # pieces the translation does not share (Dutch says "per week" too)
            piece
            for message in (words.ratio, words.p_fewer, words.zero, words.rate, SUMMARY, INTERVAL)
            for piece in english_pieces(message)
            if piece in plain and piece not in i18n.gettext(message)
        ]
    summary = sections_of(plain)["summary"]
    assert heading != "Your cluster attacks"
    assert heading in summary
    attacks, observed = arm_detail(logged, "active")
    assert str(attacks) in summary
    assert str(observed) in summary
    assert ratio in summary  # in the reader's number format (2,10 in German, 2.10 in English)
    assert not english, english
    assert "<b>" in plain[plain.index('id="endpoint"') :]  # the figures still stand out
