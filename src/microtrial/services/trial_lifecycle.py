"""A trial's lifecycle: screening confirmation, scheduling, start, pause, resume, end, unblind."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from microtrial.domain import lifecycle
from microtrial.domain.access import Action, authorize
from microtrial.domain.actors import Actor
from microtrial.domain.inputs import require_text
from microtrial.domain.lifecycle import TrialAction, TrialStatus
from microtrial.domain.screening import CONTRAINDICATED, DO_NOT_START, written_date
from microtrial.domain.trial_plan import TrialPlan
from microtrial.errors import ConflictError, SafetyBlock
from microtrial.services.alerts import ends_trial, mark_paused, start_blockers
from microtrial.services.common import (
    Clock,
    audit_patient,
    check_version,
    patient_today,
    system_clock,
)
from microtrial.services.schemas import ReadModel
from microtrial.services.screening import current_screening, rescreen_for_first_dose
from microtrial.services.trial_loaders import calendar_for, load_trial, read_audited
from microtrial.services.trial_views import TrialRead, read_trial
from microtrial.services.unit import UnitOfWork
from microtrial.store.db import Database
from microtrial.store.models import PatientRow, TrialRow


def transition(
    db: Database,
    actor: Actor,
    trial_id: int,
    action: str,
    *,
    reason: str | None = None,
    expected_version: int | None = None,
    clock: Clock = system_clock,
) -> TrialRead:
    """Move a trial through its lifecycle, with the safety guards of each step."""
    step = lifecycle.transition_for(action)
    work = UnitOfWork(db, actor, Action.MOVE_TRIAL, clock=clock, doing=f"{action} trials")
    if step.needs_reason:
        require_text("reason", reason or "", f"{action} needs a reason")
    with work as (session, now):
        trial, patient = load_trial(session, actor, trial_id)
        check_version(expected_version, trial.lock_version)
        target = lifecycle.next_status(trial.status, step.action)
        if step.needs_cleared_screening:
            _require_cleared_screening(session, trial, patient)
        if step.blocked_by_alerts:
            _require_no_blocking_alerts(session, trial, step.action)
        if step.action in (TrialAction.COMPLETE, TrialAction.RESUME):
            _require_period_timing(session, trial, patient, now, step.action)
        if step.action is TrialAction.RESUME:
            _record_pause(trial, patient, now)
        if step.action is TrialAction.PAUSE:
            mark_paused(trial, (reason or "").strip(), patient_today(patient, now))
        else:
            trial.status = target.value
            trial.status_reason = (reason or "").strip() or None
            trial.lock_version += 1
        return _audited(
            session,
            actor,
            step.action.value,
            trial,
            patient,
            now,
            status=target.value,
            reason=trial.status_reason,
        )


def unblind_trial(
    db: Database,
    actor: Actor,
    trial_id: int,
    reason: str | None = None,
    *,
    clock: Clock = system_clock,
) -> TrialRead:
    """Break the blind: at the end (data locked) or early for safety, with a reason.

    Only a clinician unblinds (unblinded staff prepare kits and never unblind). Before the
    planned end only a clinician of the site may, with a reason, and it is always recorded as
    early: a trial is completed only after its last period (see :func:`transition`), so an
    early unblinding can never pass for a normal one.
    """
    with UnitOfWork(db, actor, Action.UNBLIND_TRIAL, clock=clock) as (session, now):
        trial, patient = load_trial(session, actor, trial_id)
        if trial.status == TrialStatus.UNBLINDED:
            raise ConflictError(f"status: trial {trial_id} is already unblinded")
        if trial.status not in lifecycle.UNBLINDABLE:
            raise ConflictError(f"status: a {trial.status} trial cannot be unblinded")
        early = lifecycle.is_early_unblinding(trial.status)
        if early:
            authorize(actor, Action.UNBLIND_EARLY)
            require_text("reason", reason or "", "emergency unblinding needs a reason")
        trial.plan = TrialPlan.from_json(trial.plan).locked(now).to_json()
        trial.status = TrialStatus.UNBLINDED.value
        trial.unblinded_at = now
        trial.unblinded_early = early
        trial.unblind_reason = (reason or "").strip() or "trial completed; analysis data locked"
        trial.lock_version += 1
        return _audited(
            session, actor, "unblind", trial, patient, now, early=early, reason=trial.unblind_reason
        )


def _audited(
    session: Session,
    actor: Actor,
    action: str,
    trial: TrialRow,
    patient: PatientRow,
    now: dt.datetime,
    **detail: Any,
) -> TrialRead:
    """Audit a lifecycle step of the trial and return the trial as it now reads."""
    audit_patient(session, actor, action, "trial", trial.id, patient, at=now, **detail)
    return read_trial(session, trial, patient)


class StartBlock(ReadModel):
    """An alert that keeps a trial from starting or resuming, and what lifts it."""

    alert_id: int
    code: str
    message: str
    acknowledged: bool
    ends_trial: bool  # a stop for good: acknowledging it does not lift it (withdraw instead)


def start_blocks(
    db: Database, actor: Actor, trial_id: int, *, clock: Clock = system_clock
) -> list[StartBlock]:
    """The alerts that keep the trial from starting or resuming now (none: nothing does)."""
    return read_audited(
        db, actor, trial_id, "start-blocks", lambda s, t, _p: _blocks(s, t), clock=clock
    )


def _blocks(session: Session, trial: TrialRow) -> list[StartBlock]:
    return [
        StartBlock(
            alert_id=a.id,
            code=a.code,
            message=a.message,
            acknowledged=a.acknowledged_at is not None,
            ends_trial=ends_trial(a, trial),
        )
        for a in start_blockers(session, trial)
    ]


def _require_no_blocking_alerts(session: Session, trial: TrialRow, action: TrialAction) -> None:
    """Starting or resuming has the patient take capsules: refused while a hold or urgent alert
    is open (the step acknowledges nothing by itself) and, for good, after a stop-for-good
    alert of this trial (a seizure, say), each named in words with what to do."""
    blocks = _blocks(session, trial)
    ending = [b for b in blocks if b.ends_trial]
    if ending:
        named = "; ".join(f"alert {b.alert_id} ({b.message})" for b in ending)
        raise SafetyBlock(
            f"alert: {named} ended this trial for good: it cannot {action.value} even once the "
            "alert is acknowledged; withdraw the trial (or break the blind early for safety)"
        )
    if blocks:
        named = " and ".join(f"alert {b.alert_id} ({b.message})" for b in blocks)
        raise SafetyBlock(
            f"alert: review and acknowledge {named} first; "
            "starting or resuming a trial never acknowledges an alert"
        )


def _require_period_timing(
    session: Session, trial: TrialRow, patient: PatientRow, now: dt.datetime, step: TrialAction
) -> None:
    """Completing needs the last period ended (the patient's local date after it): ending earlier
    is a withdrawal or an early unblinding, never a completion. Resuming needs a period still to
    run (otherwise the trial is completed instead); its alerts are checked with every step that
    has the patient dose again."""
    last = calendar_for(session, trial, patient).last_date
    today = patient_today(patient, now)
    if step is TrialAction.COMPLETE and today <= last:
        raise ConflictError(
            f"status: the last period of trial {trial.id} ends on {last.isoformat()}; "
            "complete it after that day (to stop sooner, withdraw the trial, or break the "
            "blind early for safety with a reason)"
        )
    since = TrialPlan.from_json(trial.plan).paused_on or today
    if step is TrialAction.RESUME and since > last:
        raise ConflictError(
            f"status: every period of trial {trial.id} ended on {last.isoformat()};"
            " complete the trial instead of resuming it"
        )


def _record_pause(trial: TrialRow, patient: PatientRow, now: dt.datetime) -> None:
    plan = TrialPlan.from_json(trial.plan)
    trial.plan = plan.resumed(patient_today(patient, now)).to_json()


def confirm_screening_if_cleared(
    session: Session, actor: Actor, trial: TrialRow, patient: PatientRow, now: dt.datetime
) -> None:
    """Mark a new trial screened when its patient's current screening is already cleared (once
    re-screened if the trial's first dose changes a stopped medication's wash-out findings)."""
    substance = TrialPlan.from_json(trial.plan).regimen.substance
    rescreen_for_first_dose(session, actor, patient, substance, now)
    screening = current_screening(session, patient.id, substance)
    if screening is not None and screening.cleared:
        trial.status = lifecycle.next_status(trial.status, TrialAction.CONFIRM_SCREENING).value
        trial.lock_version += 1
        audit_patient(
            session,
            actor,
            "confirm-screening",
            "trial",
            trial.id,
            patient,
            at=now,
            screening=screening.record_id,
            version=screening.version,
        )


def _require_cleared_screening(session: Session, trial: TrialRow, patient: PatientRow) -> None:
    substance = TrialPlan.from_json(trial.plan).regimen.substance
    screening = current_screening(session, patient.id, substance)
    if screening is None:
        raise SafetyBlock(f"screening: patient has no {substance} screening")
    if screening.decision == DO_NOT_START:
        # Name what stops it and what to do: "do-not-start" alone leaves the clinician guessing.
        blocking = [
            f
            for f in screening.findings
            if isinstance(f, dict) and f.get("severity") == CONTRAINDICATED
        ]
        why = "; ".join(f"{f.get('title', f.get('code'))} ({f.get('severity')})" for f in blocking)
        ends = [f.get("until") for f in blocking]
        if blocking and all(isinstance(end, str) for end in ends):
            # only stopped medications' wash-outs stop it: say from when a first dose may be
            possible = written_date(dt.date.fromisoformat(max(str(end) for end in ends)))
            raise SafetyBlock(
                f"screening: decision is do-not-start ({why}); the first dose may be on or after "
                f"{possible}, when the wash-out ends: withdraw this trial and plan one that "
                f"starts then (the patient is screened again against its first dose)"
            )
        raise SafetyBlock(
            f"screening: decision is do-not-start{f' ({why})' if why else ''}; this trial "
            f"cannot go ahead: withdraw it, or, if the screening's answers were wrong, correct "
            f"them (the patient is screened again) and confirm again"
        )
    if not screening.cleared:
        raise SafetyBlock("screening: clinician-review screening is not signed off")
