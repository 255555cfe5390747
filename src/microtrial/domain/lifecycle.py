"""A trial's lifecycle: its statuses, the actions that move it, and what each status allows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from microtrial.errors import ConflictError, ValidationError


class TrialStatus(StrEnum):
    """Where a trial is in its life."""

    DRAFT = "draft"  # planned, screening not yet confirmed for its substance
    SCREENED = "screened"  # screening cleared and signed off
    SCHEDULED = "scheduled"  # kits may be prepared; waits for its start date
    RUNNING = "running"  # capsules are taken; diaries count towards the arms
    PAUSED = "paused"  # dosing stopped (by a clinician or a stop rule) until resumed
    COMPLETED = "completed"  # every period done; still blinded until the data are locked
    UNBLINDED = "unblinded"  # the blind is broken (at the end, or early for safety)
    WITHDRAWN = "withdrawn"  # ended before completion; never unblinded through this status


class TrialAction(StrEnum):
    """What a clinician can do to a trial's status."""

    CONFIRM_SCREENING = "confirm-screening"
    SCHEDULE = "schedule"
    START = "start"
    PAUSE = "pause"
    RESUME = "resume"
    COMPLETE = "complete"
    WITHDRAW = "withdraw"


@dataclass(frozen=True, slots=True)
class Transition:
    """One lifecycle action: the statuses it leaves from, where it leads, what it needs."""

    action: TrialAction
    sources: frozenset[TrialStatus]
    target: TrialStatus
    needs_reason: bool
    needs_cleared_screening: bool = False
    # Refused while an alert stands in the way (an open hold or urgent alert, or one that ends
    # the trial for good): the trial would have the patient take capsules again.
    blocked_by_alerts: bool = False


def _t(
    action: TrialAction,
    sources: tuple[TrialStatus, ...],
    target: TrialStatus,
    *,
    reason: bool = False,
    screening: bool = False,
    alerts: bool = False,
) -> Transition:
    return Transition(action, frozenset(sources), target, reason, screening, alerts)


S = TrialStatus
A = TrialAction
# The one transition table: every status change a clinician makes goes through it.
TRANSITIONS: Mapping[TrialAction, Transition] = {
    t.action: t
    for t in (
        _t(A.CONFIRM_SCREENING, (S.DRAFT,), S.SCREENED, screening=True),
        _t(A.SCHEDULE, (S.SCREENED,), S.SCHEDULED),
        _t(A.START, (S.SCHEDULED,), S.RUNNING, screening=True, alerts=True),
        _t(A.PAUSE, (S.RUNNING,), S.PAUSED, reason=True),
        _t(A.RESUME, (S.PAUSED,), S.RUNNING, reason=True, alerts=True),
        _t(A.COMPLETE, (S.RUNNING, S.PAUSED), S.COMPLETED, reason=True),
        _t(
            A.WITHDRAW,
            (S.DRAFT, S.SCREENED, S.SCHEDULED, S.RUNNING, S.PAUSED),
            S.WITHDRAWN,
            reason=True,
        ),
    )
}

# A patient has at most one open trial: planning another is refused while one is open.
OPEN: frozenset[TrialStatus] = frozenset({S.DRAFT, S.SCREENED, S.SCHEDULED, S.RUNNING, S.PAUSED})
# Open trials before their first dose: screening judges wash-outs against their first capsule day.
NOT_STARTED: frozenset[TrialStatus] = frozenset({S.DRAFT, S.SCREENED, S.SCHEDULED})
# Trials whose diaries, doses and alerts are watched (stop rules may act on them).
ACTIVE: frozenset[TrialStatus] = frozenset({S.SCHEDULED, S.RUNNING, S.PAUSED})
# A dose may be recorded only while the trial runs.
DOSING: frozenset[TrialStatus] = frozenset({S.RUNNING})
# Period guesses are taken from a trial that has started and is not yet unblinded.
GUESSING: frozenset[TrialStatus] = frozenset({S.RUNNING, S.PAUSED, S.COMPLETED})
# Breaking the blind before the end (for safety) is possible from these statuses.
EARLY_UNBLINDING: frozenset[TrialStatus] = frozenset({S.SCHEDULED, S.RUNNING, S.PAUSED})
# Unblinding at all: early from the statuses above, or normally once completed.
UNBLINDABLE: frozenset[TrialStatus] = EARLY_UNBLINDING | {S.COMPLETED}
# The patient's current trial (their Today page): scheduled until the blind is broken.
CURRENT: frozenset[TrialStatus] = ACTIVE | {S.COMPLETED}
# Kits are prepared (sheet, labels) once the trial is screened and scheduled, and read back later.
KIT_PREPARATION: frozenset[TrialStatus] = frozenset(
    {S.SCHEDULED, S.RUNNING, S.PAUSED, S.COMPLETED, S.UNBLINDED}
)
# Trials that have started: doses were due, so adherence is worth showing.
STARTED: frozenset[TrialStatus] = GUESSING | {S.UNBLINDED}


def status_of(value: str) -> TrialStatus:
    """The TrialStatus named ``value``; ValidationError naming the allowed ones otherwise."""
    try:
        return TrialStatus(value)
    except ValueError:
        raise ValidationError(
            "status", f"unknown status {value!r}", value=value, allowed=[s.value for s in S]
        ) from None


def transition_for(action: str) -> Transition:
    """The transition for ``action``; ValidationError naming the allowed actions otherwise."""
    try:
        return TRANSITIONS[TrialAction(action)]
    except ValueError:
        raise ValidationError(
            "action", f"unknown action {action!r}", allowed=sorted(a.value for a in A)
        ) from None


def next_status(status: str, action: str) -> TrialStatus:
    """The status ``action`` leads to from ``status``; ConflictError if it cannot leave it."""
    step = transition_for(action)
    if status_of(status) not in step.sources:
        raise ConflictError(f"status: cannot {step.action.value} a {status} trial")
    return step.target


def next_actions(status: str) -> tuple[TrialAction, ...]:
    """The lifecycle actions open from ``status``, in the table's order."""
    current = status_of(status)
    return tuple(t.action for t in TRANSITIONS.values() if current in t.sources)


def is_early_unblinding(status: str) -> bool:
    """Whether unblinding from ``status`` breaks the blind before the trial's end."""
    return status_of(status) is not TrialStatus.COMPLETED
