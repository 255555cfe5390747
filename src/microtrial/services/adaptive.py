"""Interim looks of adaptive trials: fit after each complete pair, record and act on the decision.

A running trial whose plan has an ``adaptive`` rule is looked at once per complete pair from the
rule's minimum on: when the pair's last day has passed, or its diary for that day is in. The look
fits the trial's days so far (wash-in days left out as in the trial analysis) and decides with
``analysis.adaptive.decide``; the look, its inputs and decision are stored in ``interim_looks``
and in the audit log. A stop for benefit or futility records the kits of the pairs that will not
run as returned, which also ends the trial's calendar after the stopping pair, so the clinician
can complete and unblind it. While blinded, everyone sees only ``continue`` or
``decision-reached`` (:func:`adaptive_view`); the estimates are read for the report only once
the trial is unblinded (:func:`looks_for_report`).

The server's daily sweep runs the looks of each site (``services.sweeps``), and a daily diary
for a pair's last day runs them at once (``services.diary_writer`` in the server,
``services.records.record_diary_entries`` elsewhere).
"""

from __future__ import annotations

import datetime as dt
import logging

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from microtrial.analysis.adaptive import OperatingCharacteristics, decide, operating_characteristics
from microtrial.analysis.continuous import (
    ACTIVE,
    BASELINE,
    EXCLUDED,
    PLACEBO,
    FitOptions,
    fit_arrays,
)
from microtrial.domain.access import Action, authorize
from microtrial.domain.actors import Actor, system_actor
from microtrial.domain.adaptive import AdaptiveRule, kits_needed_through
from microtrial.domain.calendar import Phase, TrialCalendar
from microtrial.domain.lifecycle import TrialStatus
from microtrial.domain.trial_plan import TrialPlan
from microtrial.errors import ConflictError
from microtrial.services.common import Clock, audit_patient, patient_today, system_clock
from microtrial.services.schemas import ReadModel
from microtrial.services.trial_loaders import (
    allocation_of,
    calendar_for,
    load_trial,
    periods_and_kits,
)
from microtrial.store.db import Database
from microtrial.store.models import DiaryEntryRow, InterimLookRow, PatientRow, TrialRow

log = logging.getLogger("microtrial.adaptive")

MCID_POINTS = 1.0  # the trial analysis's MCID (services/analysis.py; REFERENCE.md C.3)
# Outcome -> (daily_diary score, higher is better), as the trial analysis reads them.
_SCORES = {
    "pain": ("average_pain", False),
    "worst_pain": ("worst_pain", False),
    "sleep": ("sleep_quality", True),
}
CONTINUE, DECISION_REACHED = "continue", "decision-reached"
DAILY_DIARY = "daily_diary"


class LookRead(ReadModel):
    """One interim look with its estimate (for the report, after unblinding only)."""

    pair: int
    looked_at: dt.datetime
    through_date: dt.date
    outcome: str
    decision: str
    p_mcid: float | None
    effect_mean: float | None
    ci95_low: float | None
    ci95_high: float | None
    days_active: int
    days_placebo: int


class AdaptiveRead(ReadModel):
    """An adaptive trial's rule and where its looks stand, without any interim estimate."""

    min_pairs: int
    max_pairs: int
    benefit_threshold: float
    futility_threshold: float
    outcome: str
    rule: str
    looks_done: int
    state: str  # "continue" or "decision-reached": the only word on a blinded trial
    pairs_run: int | None  # how many pairs the trial ran, once a decision is reached


def rule_of(trial: TrialRow) -> AdaptiveRule | None:
    """The trial's adaptive rule, or None for a fixed design."""
    return TrialPlan.from_json(trial.plan).adaptive


def stored_looks(session: Session, trial: TrialRow) -> list[InterimLookRow]:
    """The trial's interim looks in pair order."""
    return list(
        session.execute(
            select(InterimLookRow)
            .where(InterimLookRow.trial_id == trial.id)
            .order_by(InterimLookRow.pair)
        ).scalars()
    )


def stopped_after(looks: list[InterimLookRow]) -> int | None:
    """The pair after which the looks ended the trial (any decision but continue), if any."""
    for look in looks:
        if look.decision != CONTINUE:
            return look.pair
    return None


def adaptive_view(
    session: Session, trial: TrialRow, looks: list[InterimLookRow] | None = None
) -> AdaptiveRead | None:
    """The rule and the blinded state of its looks (None for a fixed design).

    ``looks``: the trial's looks in pair order when already read (a bulk load), else read here.
    """
    rule = rule_of(trial)
    if rule is None:
        return None
    if looks is None:
        looks = stored_looks(session, trial)
    stop = stopped_after(looks)
    return AdaptiveRead(
        **rule.to_json(),
        rule=rule.describe(MCID_POINTS),
        looks_done=len(looks),
        state=CONTINUE if stop is None else DECISION_REACHED,
        pairs_run=stop,
    )


def looks_for_report(session: Session, trial: TrialRow) -> list[LookRead]:
    """Every look with its estimate; only for an unblinded trial (empty otherwise)."""
    if trial.status != TrialStatus.UNBLINDED:
        return []
    return [LookRead.model_validate(look) for look in stored_looks(session, trial)]


def kits_needed(session: Session, trial: TrialRow, rule: AdaptiveRule) -> int:
    """The last pair whose kits the pharmacy must have ready now (one pair ahead)."""
    looks = stored_looks(session, trial)
    return kits_needed_through(
        rule, max((lk.pair for lk in looks), default=0), stopped_after(looks)
    )


def _pair_ends(calendar: TrialCalendar, n_arms: int) -> dict[int, dt.date]:
    """The last calendar date of each pair (block)."""
    ends: dict[int, dt.date] = {}
    for day in calendar.days:
        if day.period is not None:
            ends[(day.period - 1) // n_arms + 1] = day.date
    return ends


def _fit_through(
    session: Session,
    trial: TrialRow,
    patient: PatientRow,
    calendar: TrialCalendar,
    through: dt.date,
    outcome: str,
) -> dict[str, float | int | None]:
    """Fit the trial's days up to ``through`` for ``outcome``: P(effect <= -MCID) and more."""
    score, higher = _SCORES[outcome]
    arms = allocation_of(session, trial)
    entries = {
        e.local_date: e.scores
        for e in session.execute(
            select(DiaryEntryRow).where(
                DiaryEntryRow.patient_id == patient.id,
                DiaryEntryRow.instrument_id == DAILY_DIARY,
                DiaryEntryRow.is_current.is_(True),
                DiaryEntryRow.local_date >= calendar.first_date,
                DiaryEntryRow.local_date <= through,
            )
        ).scalars()
    }
    days = [d for d in calendar.days if d.date <= through]
    values = np.full((1, len(days)), np.nan)
    codes = np.full((1, len(days)), EXCLUDED, dtype=np.int8)
    for i, day in enumerate(days):
        value = (((entries.get(day.date) or {}).get("scores") or {}).get(score) or {}).get("value")
        values[0, i] = np.nan if value is None else float(value)
        if day.phase == Phase.PAUSED or day.is_wash_in:
            continue  # left out, as in the trial analysis (the gap is kept)
        if day.period is None:
            codes[0, i] = BASELINE
        else:
            codes[0, i] = ACTIVE if arms[day.period - 1] == "active" else PLACEBO
    observed = np.isfinite(values[0])
    fit = fit_arrays(
        values, codes, FitOptions(mcid=MCID_POINTS, higher_is_better=higher), warn=False
    )

    def num(a: np.ndarray) -> float | None:
        return float(a[0]) if np.isfinite(a[0]) else None

    return {
        "p_mcid": num(fit.p_mcid),
        "effect_mean": num(fit.effect_mean),
        "ci95_low": num(fit.ci95_low),
        "ci95_high": num(fit.ci95_high),
        "days_active": int((observed & (codes[0] == ACTIVE)).sum()),
        "days_placebo": int((observed & (codes[0] == PLACEBO)).sum()),
    }


def run_due_looks(
    session: Session,
    actor: Actor,
    trial: TrialRow,
    patient: PatientRow,
    now: dt.datetime,
) -> list[InterimLookRow]:
    """Look at each complete pair not yet looked at (a running adaptive trial only)."""
    rule = rule_of(trial)
    if rule is None or trial.status != TrialStatus.RUNNING:
        return []
    looks = stored_looks(session, trial)
    if stopped_after(looks) is not None:
        return []
    plan = TrialPlan.from_json(trial.plan)
    calendar = calendar_for(session, trial, patient)
    ends = _pair_ends(calendar, plan.design.n_arms)
    today = patient_today(patient, now)
    done = max((lk.pair for lk in looks), default=rule.min_pairs - 1)
    made = []
    for pair in range(done + 1, rule.max_pairs + 1):
        end = ends.get(pair)
        if end is None or not (end < today or (end == today and _diary_on(session, patient, end))):
            break
        look = _look(session, actor, trial, patient, calendar, rule, pair, end, now)
        made.append(look)
        if look.decision != CONTINUE:
            break
    return made


def _diary_on(session: Session, patient: PatientRow, day: dt.date) -> bool:
    return (
        session.execute(
            select(DiaryEntryRow.id).where(
                DiaryEntryRow.patient_id == patient.id,
                DiaryEntryRow.instrument_id == DAILY_DIARY,
                DiaryEntryRow.is_current.is_(True),
                DiaryEntryRow.local_date == day,
            )
        ).first()
        is not None
    )


def _look(
    session: Session,
    actor: Actor,
    trial: TrialRow,
    patient: PatientRow,
    calendar: TrialCalendar,
    rule: AdaptiveRule,
    pair: int,
    end: dt.date,
    now: dt.datetime,
) -> InterimLookRow:
    """Fit through ``end``, decide, store the look, audit it, and return unused kits on a stop."""
    found = _fit_through(session, trial, patient, calendar, end, rule.outcome)
    p = found["p_mcid"]
    decision = decide(
        float("nan") if p is None else float(p),
        pair,
        min_pairs=rule.min_pairs,
        max_pairs=rule.max_pairs,
        benefit=rule.benefit_threshold,
        futility=rule.futility_threshold,
    )
    inputs = {**rule.to_json(), "mcid": MCID_POINTS, "through": end.isoformat()}
    look = InterimLookRow(
        trial_id=trial.id,
        pair=pair,
        looked_at=now,
        through_date=end,
        outcome=rule.outcome,
        decision=decision.value,
        inputs=inputs,
        **found,
    )
    session.add(look)
    session.flush()
    trial.kits_through_pair = kits_needed(session, trial, rule)
    # The audit log keeps the decision with every input it rests on (never shown on a page).
    audit_patient(
        session,
        actor,
        "interim-look",
        "trial",
        trial.id,
        patient,
        at=now,
        pair=pair,
        decision=decision.value,
        **found,
        **inputs,
    )
    if decision.value in ("stop-benefit", "stop-futility"):
        _return_unused_kits(session, actor, trial, patient, pair, now)
    return look


def _return_unused_kits(
    session: Session,
    actor: Actor,
    trial: TrialRow,
    patient: PatientRow,
    pair: int,
    now: dt.datetime,
) -> None:
    """Record the kits of the pairs after ``pair`` as returned unused (audited per kit)."""
    n_arms = TrialPlan.from_json(trial.plan).design.n_arms
    for period, kit in periods_and_kits(session, trial, include_returned=True):
        if (period.number - 1) // n_arms + 1 > pair and kit.returned_at is None:
            kit.returned_at = now
            kit.returned_by = f"{actor.label} (adaptive stop after pair {pair})"
            audit_patient(
                session,
                actor,
                "return",
                "kit",
                kit.code,
                patient,
                at=now,
                reason=f"unused: the trial stopped after pair {pair}",
                dispensed=kit.dispensed_at is not None,
            )


def looks_after_diary(db: Database, patient_id: int, now: dt.datetime) -> int:
    """After a daily diary: run the due looks of the patient's running adaptive trial (a pair
    whose last day's diary is now in, or one that ended unlooked); the number of looks made."""
    actor = system_actor("interim-look")
    with db.transaction() as session:
        trials = [
            t
            for t in session.execute(
                select(TrialRow).where(
                    TrialRow.patient_id == patient_id,
                    TrialRow.status == TrialStatus.RUNNING.value,
                )
            ).scalars()
            if "adaptive" in t.plan
        ]
        made = 0
        for trial in trials:
            patient = session.get_one(PatientRow, trial.patient_id)
            made += len(run_due_looks(session, actor, trial, patient, now))
        return made


def safe_looks_after_diary(db: Database, patient_id: int, now: dt.datetime) -> None:
    """:func:`looks_after_diary`, logging (never raising) a failure: the diary is already saved
    and the daily sweep looks again."""
    try:
        looks_after_diary(db, patient_id, now)
    except Exception:  # the diary stands; the sweep retries the look
        log.exception("interim look after a diary entry failed (patient %s)", patient_id)


def interim_looks(
    db: Database, actor: Actor, trial_id: int, *, clock: Clock = system_clock
) -> list[LookRead]:
    """An unblinded trial's interim looks with their estimates (ConflictError while blinded)."""
    authorize(actor, Action.ANALYSE_TRIAL)
    with db.transaction() as session:
        trial, patient = load_trial(session, actor, trial_id)
        if trial.status != TrialStatus.UNBLINDED:
            raise ConflictError(
                f"status: trial {trial_id} is still blinded ({trial.status}); "
                "interim looks are shown after unblinding"
            )
        audit_patient(session, actor, "read", "interim-looks", trial.id, patient, at=clock())
        return looks_for_report(session, trial)


# Assumptions of the plan form's simulation beyond the design (those of ``microtrial power``).
PLAN_SD, PLAN_RHO, PLAN_MISSING, PLAN_TRIALS = 1.5, 0.3, 0.1, 2000


def simulate_rule(
    rule: AdaptiveRule,
    *,
    run_in_days: int,
    period_days: int,
    wash_in_days: int,
    sd: float = PLAN_SD,
    rho: float = PLAN_RHO,
    missing: float = PLAN_MISSING,
    n_sim: int = PLAN_TRIALS,
    seed: int = 1,
) -> OperatingCharacteristics:
    """The rule's operating characteristics against the fixed 3-pair design, for this design."""
    return operating_characteristics(
        min_pairs=rule.min_pairs,
        max_pairs=rule.max_pairs,
        benefit_threshold=rule.benefit_threshold,
        futility_threshold=rule.futility_threshold,
        sd=sd,
        rho=rho,
        run_in=run_in_days,
        period_length=period_days,
        wash_in=wash_in_days,
        missing=missing,
        mcid=MCID_POINTS,
        n_sim=n_sim,
        rng=np.random.default_rng(seed),
    )
