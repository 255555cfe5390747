"""Running the interim looks of adaptive trials: read, fit with no transaction open, then write.

A running trial whose plan has an ``adaptive`` rule is looked at once per complete pair from the
rule's minimum on: when the pair's last day has passed, or its diary for that day is in. A look
reads the trial's days through ``services.analysis_load`` in one transaction, fits them (wash-in
and paused days left out as in the trial analysis) and decides with
``analysis.adaptive.decide`` with no transaction open, then stores the look in a short write
transaction that first re-checks the trial's data version (``services.trial_fits``): a trial
changed meanwhile is left for the next look. The look, its inputs and decision go to
``interim_looks`` and to the audit log. A stop for benefit or futility records the kits of the
pairs that will not run as returned, which also ends the trial's calendar after the stopping
pair, so the clinician can complete and unblind it.

The server's daily sweep runs the looks of each site (``services.sweeps``), and a daily diary
for a pair's last day runs them at once (``services.diary_writer`` in the server,
``services.records.record_diary_entries`` elsewhere).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from microtrial.analysis.adaptive import Decision, decide
from microtrial.analysis.continuous import (
    ACTIVE,
    BASELINE,
    EXCLUDED,
    PLACEBO,
    FitOptions,
    fit_arrays,
)
from microtrial.domain.actors import Actor, system_actor
from microtrial.domain.adaptive import AdaptiveRule
from microtrial.domain.calendar import Phase, TrialCalendar
from microtrial.domain.lifecycle import TrialStatus
from microtrial.domain.trial_plan import TrialPlan
from microtrial.services.adaptive import (
    DAILY_DIARY,
    MCID_POINTS,
    kits_needed,
    rule_of,
    stopped_after,
    stored_looks,
)
from microtrial.services.analysis_load import load_inputs
from microtrial.services.analysis_model import OUTCOMES
from microtrial.services.common import audit_patient, of_day, patient_today
from microtrial.services.trial_fits import data_versions
from microtrial.services.trial_loaders import calendar_for, periods_and_kits
from microtrial.store.db import Database
from microtrial.store.models import DiaryEntryRow, InterimLookRow, PatientRow, TrialRow

log = logging.getLogger("microtrial.adaptive")

# Outcome -> whether higher is better, as the trial analysis reads it.
_HIGHER = {name: higher for name, _, higher in OUTCOMES}


def _pair_ends(calendar: TrialCalendar, n_arms: int) -> dict[int, dt.date]:
    """The last calendar date of each pair (block)."""
    ends: dict[int, dt.date] = {}
    for day in calendar.days:
        if day.period is not None:
            ends[(day.period - 1) // n_arms + 1] = day.date
    return ends


def _codes(days: pd.DataFrame) -> npt.NDArray[np.int8]:
    """The engine's day codes: run-in days as baseline, wash-in and paused days left out."""
    in_period = days["period"].notna().to_numpy()
    active = (days["arm"] == "active").to_numpy()
    paused = (days["phase"] == Phase.PAUSED.value).to_numpy()
    left_out = paused | days["wash_in"].to_numpy(dtype=bool)
    codes = np.where(in_period, np.where(active, ACTIVE, PLACEBO), BASELINE)
    return np.where(left_out, EXCLUDED, codes).astype(np.int8)


def fit_through(
    days: pd.DataFrame, through: dt.date, outcome: str
) -> dict[str, float | int | None]:
    """Fit the loaded days (``analysis_load`` ``TrialInputs.days``) up to ``through`` for
    ``outcome``: P(effect <= -MCID), the estimate and interval, and the observed days per arm.

    No I/O: a look reads in one transaction, fits with none open, then writes in a short one.
    """
    upto = days[(days["date"] <= through).to_numpy()]
    values = pd.to_numeric(upto[outcome], errors="coerce").to_numpy(dtype=float)[None, :]
    codes = _codes(upto)[None, :]
    observed = np.isfinite(values[0])
    options = FitOptions(mcid=MCID_POINTS, higher_is_better=_HIGHER[outcome])
    fit = fit_arrays(values, codes, options, warn=False)

    def num(a: npt.NDArray[np.float64]) -> float | None:
        return float(a[0]) if np.isfinite(a[0]) else None

    return {
        "p_mcid": num(fit.p_mcid),
        "effect_mean": num(fit.effect_mean),
        "ci95_low": num(fit.ci95_low),
        "ci95_high": num(fit.ci95_high),
        "days_active": int((observed & (codes[0] == ACTIVE)).sum()),
        "days_placebo": int((observed & (codes[0] == PLACEBO)).sum()),
    }


@dataclass(frozen=True)
class DueLooks:
    """What the looks due on one trial read in one transaction, to fit after it."""

    trial_id: int
    rule: AdaptiveRule
    pairs: tuple[tuple[int, dt.date], ...]  # each due pair and its last date, in order
    days: pd.DataFrame
    version: str  # the trial's data version (services.trial_fits) when read
    looks_done: int


@dataclass(frozen=True)
class FittedLook:
    """One look fitted outside any transaction: its pair, last date, fit and decision."""

    pair: int
    end: dt.date
    found: dict[str, float | int | None]
    decision: Decision


def _version(session: Session, trial_id: int) -> str:
    return data_versions(session, select(TrialRow.id).where(TrialRow.id == trial_id))[trial_id]


def read_due(
    session: Session, trial: TrialRow, patient: PatientRow, now: dt.datetime
) -> DueLooks | None:
    """The pairs due for a look and the trial's loaded days (None: nothing due)."""
    rule = rule_of(trial)
    if rule is None or trial.status != TrialStatus.RUNNING:
        return None
    looks = stored_looks(session, trial)
    if stopped_after(looks) is not None:
        return None
    plan = TrialPlan.from_json(trial.plan)
    ends = _pair_ends(calendar_for(session, trial, patient), plan.design.n_arms)
    today = patient_today(patient, now)
    done = max((lk.pair for lk in looks), default=rule.min_pairs - 1)
    due = []
    for pair in range(done + 1, rule.max_pairs + 1):
        end = ends.get(pair)
        if end is None or not (end < today or (end == today and _diary_on(session, patient, end))):
            break
        due.append((pair, end))
    if not due:
        return None
    days = load_inputs(session, trial, patient, now).days
    return DueLooks(trial.id, rule, tuple(due), days, _version(session, trial.id), len(looks))


def fit_due(due: DueLooks) -> list[FittedLook]:
    """Fit and decide each due pair in order, up to the first decision that stops (no I/O)."""
    out = []
    for pair, end in due.pairs:
        found = fit_through(due.days, end, due.rule.outcome)
        p = found["p_mcid"]
        decision = decide(
            float("nan") if p is None else float(p),
            pair,
            min_pairs=due.rule.min_pairs,
            max_pairs=due.rule.max_pairs,
            benefit=due.rule.benefit_threshold,
            futility=due.rule.futility_threshold,
        )
        out.append(FittedLook(pair, end, found, decision))
        if decision != Decision.CONTINUE:
            break
    return out


def write_looks(
    session: Session,
    actor: Actor,
    due: DueLooks,
    fitted: list[FittedLook],
    now: dt.datetime,
) -> list[InterimLookRow]:
    """Store the fitted looks if the trial is as it was read (else none: the next look retries)."""
    trial = session.get(TrialRow, due.trial_id)
    if (
        trial is None
        or trial.status != TrialStatus.RUNNING
        or len(stored_looks(session, trial)) != due.looks_done
        or _version(session, trial.id) != due.version
    ):
        log.info("trial %s changed while its look was fitted; looking again later", due.trial_id)
        return []
    patient = session.get_one(PatientRow, trial.patient_id)
    return [_look(session, actor, trial, patient, due.rule, f, now) for f in fitted]


def run_looks(db: Database, actor: Actor, trial_id: int, now: dt.datetime) -> int:
    """Run one trial's due looks: read in one transaction, fit with none open, then write in a
    short one that re-checks the trial did not change meanwhile; the number of looks stored."""
    with db.transaction() as session:
        trial = session.get(TrialRow, trial_id)
        if trial is None:
            return 0
        due = read_due(session, trial, session.get_one(PatientRow, trial.patient_id), now)
    if due is None:
        return 0
    fitted = fit_due(due)
    with db.transaction() as session:
        return len(write_looks(session, actor, due, fitted, now))


def _running_adaptive(session: Session, where: ColumnElement[bool]) -> list[int]:
    return [
        trial.id
        for trial in session.execute(
            select(TrialRow)
            .join(PatientRow, PatientRow.id == TrialRow.patient_id)
            .where(where, TrialRow.status == TrialStatus.RUNNING.value)
            .order_by(TrialRow.id)
        ).scalars()
        if "adaptive" in trial.plan
    ]


def looks_for_site(db: Database, actor: Actor, site_id: int, now: dt.datetime) -> int:
    """The daily sweep's looks: every running adaptive trial of the site, one at a time (a
    failed look is logged, not raised: the site's alerts are already committed)."""
    with db.transaction() as session:
        ids = _running_adaptive(session, PatientRow.site_id == site_id)
    made = 0
    for trial_id in ids:
        try:
            made += run_looks(db, actor, trial_id, now)
        except Exception:  # e.g. a diary's look stored the same pair first: the next sweep looks
            log.exception("interim look of trial %s failed in the sweep", trial_id)
    return made


def _diary_on(session: Session, patient: PatientRow, day: dt.date) -> bool:
    query = of_day(DiaryEntryRow, patient.id, DAILY_DIARY, day)
    return session.execute(query.limit(1)).first() is not None


def _look(
    session: Session,
    actor: Actor,
    trial: TrialRow,
    patient: PatientRow,
    rule: AdaptiveRule,
    fitted: FittedLook,
    now: dt.datetime,
) -> InterimLookRow:
    """Store one fitted look, audit it, and return the unused kits on a stop."""
    pair, decision = fitted.pair, fitted.decision
    inputs = {**rule.to_json(), "mcid": MCID_POINTS, "through": fitted.end.isoformat()}
    look = InterimLookRow(
        trial_id=trial.id,
        pair=pair,
        looked_at=now,
        through_date=fitted.end,
        outcome=rule.outcome,
        decision=decision.value,
        inputs=inputs,
        **fitted.found,
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
        **fitted.found,
        **inputs,
    )
    if decision in (Decision.BENEFIT, Decision.FUTILITY):
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
        ids = _running_adaptive(session, TrialRow.patient_id == patient_id)
    return sum(run_looks(db, actor, trial_id, now) for trial_id in ids)


def safe_looks_after_diary(db: Database, patient_id: int, now: dt.datetime) -> None:
    """:func:`looks_after_diary`, logging (never raising) a failure: the diary is already saved
    and the daily sweep looks again."""
    try:
        looks_after_diary(db, patient_id, now)
    except Exception:  # the diary stands; the sweep retries the look
        log.exception("interim look after a diary entry failed (patient %s)", patient_id)
