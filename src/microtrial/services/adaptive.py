"""Adaptive trials: the rule, the blinded view of its looks, the report's looks, the simulation.

The looks themselves run in ``services.adaptive_looks`` (read, fit outside any transaction,
write). While blinded, everyone sees only ``continue`` or
``decision-reached`` (:func:`adaptive_view`); the estimates are read for the report only once
the trial is unblinded (:func:`looks_for_report`).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from microtrial.analysis.adaptive import OperatingCharacteristics, operating_characteristics
from microtrial.domain.access import Action
from microtrial.domain.actors import Actor
from microtrial.domain.adaptive import (
    SIMULATION,
    AdaptiveRule,
    kits_needed_through,
    stop_in_words,
)
from microtrial.domain.lifecycle import TrialStatus
from microtrial.domain.trial_plan import TrialPlan
from microtrial.services.common import Clock, audit_patient, system_clock
from microtrial.services.schemas import ReadModel
from microtrial.services.trial_loaders import load_unblinded_trial
from microtrial.services.unit import UnitOfWork
from microtrial.store.db import Database
from microtrial.store.models import InterimLookRow, TrialRow

MCID_POINTS = 1.0  # the trial analysis's MCID (services/analysis_model.py; REFERENCE.md C.3)
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

    preset: str  # the named rule (domain.adaptive.PRESETS) or "custom"
    title: str  # its name for people ("Standard", "Short", "Custom")
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
        title=rule.title,
        rule=rule.describe(MCID_POINTS),
        looks_done=len(looks),
        state=CONTINUE if stop is None else DECISION_REACHED,
        pairs_run=stop,
    )


def stop_facts_for_patient(session: Session, trial: TrialRow) -> tuple[str, int, int] | None:
    """How an unblinded adaptive trial ended: (decision, pairs run, max pairs); None while
    blinded, for a fixed design, after an early unblinding, or when no look decided."""
    rule = rule_of(trial)
    if rule is None or trial.status != TrialStatus.UNBLINDED or trial.unblinded_early:
        return None
    looks = stored_looks(session, trial)
    last = stopped_after(looks)
    if last is None:
        return None
    decision = next(lk.decision for lk in looks if lk.pair == last)
    return decision, last, rule.max_pairs


def stop_for_patient(session: Session, trial: TrialRow) -> str | None:
    """How an unblinded adaptive trial ended, in plain English words (None: see
    ``stop_facts_for_patient``)."""
    facts = stop_facts_for_patient(session, trial)
    return None if facts is None else stop_in_words(*facts)


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


def interim_looks(
    db: Database, actor: Actor, trial_id: int, *, clock: Clock = system_clock
) -> list[LookRead]:
    """An unblinded trial's interim looks with their estimates (ConflictError while blinded)."""
    with UnitOfWork(db, actor, Action.ANALYSE_TRIAL, clock=clock) as (session, now):
        trial, patient = load_unblinded_trial(session, actor, trial_id, "interim looks are shown")
        audit_patient(session, actor, "read", "interim-looks", trial.id, patient, at=now)
        return looks_for_report(session, trial)


def simulate_rule(
    rule: AdaptiveRule,
    *,
    run_in_days: int,
    period_days: int,
    wash_in_days: int,
    sd: float = SIMULATION.sd,
    rho: float = SIMULATION.rho,
    missing: float = SIMULATION.missing,
    n_sim: int = SIMULATION.n_sim,
    seed: int = 1,
) -> OperatingCharacteristics:
    """The rule's operating characteristics against the fixed 3-pair design, for this design."""
    return operating_characteristics(
        **rule.stopping(),
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
