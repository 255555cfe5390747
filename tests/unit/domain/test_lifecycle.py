"""The trial lifecycle table: statuses, transitions and what each status opens."""

from __future__ import annotations

import pytest

from microtrial.domain import lifecycle
from microtrial.domain.lifecycle import TrialAction, TrialStatus
from microtrial.errors import ConflictError, ValidationError

S, A = TrialStatus, TrialAction


@pytest.mark.parametrize(
    ("status", "action", "target"),
    [
        (S.DRAFT, A.CONFIRM_SCREENING, S.SCREENED),
        (S.SCREENED, A.SCHEDULE, S.SCHEDULED),
        (S.SCHEDULED, A.START, S.RUNNING),
        (S.RUNNING, A.PAUSE, S.PAUSED),
        (S.PAUSED, A.RESUME, S.RUNNING),
        (S.RUNNING, A.COMPLETE, S.COMPLETED),
        (S.PAUSED, A.COMPLETE, S.COMPLETED),
        (S.SCHEDULED, A.WITHDRAW, S.WITHDRAWN),
    ],
)
def test_each_allowed_step_leads_where_the_table_says(
    status: TrialStatus, action: TrialAction, target: TrialStatus
) -> None:
    assert lifecycle.next_status(status.value, action.value) is target


@pytest.mark.parametrize(
    ("status", "action"),
    [(S.DRAFT, A.START), (S.COMPLETED, A.RESUME), (S.UNBLINDED, A.WITHDRAW), (S.RUNNING, A.RESUME)],
)
def test_a_step_from_the_wrong_status_is_a_conflict(
    status: TrialStatus, action: TrialAction
) -> None:
    with pytest.raises(ConflictError, match=f"cannot {action.value} a {status.value} trial"):
        lifecycle.next_status(status.value, action.value)


def test_unknown_actions_and_statuses_name_the_allowed_values() -> None:
    with pytest.raises(ValidationError, match="allowed: complete, confirm-screening"):
        lifecycle.transition_for("finish")
    with pytest.raises(ValidationError, match="status: unknown status 'done'"):
        lifecycle.next_actions("done")


def test_next_actions_follow_the_table() -> None:
    assert lifecycle.next_actions("draft") == (A.CONFIRM_SCREENING, A.WITHDRAW)
    assert lifecycle.next_actions("running") == (A.PAUSE, A.COMPLETE, A.WITHDRAW)
    assert lifecycle.next_actions("paused") == (A.RESUME, A.COMPLETE, A.WITHDRAW)
    assert lifecycle.next_actions("unblinded") == ()
    assert lifecycle.next_actions("withdrawn") == ()


def test_status_sets_agree_with_the_table() -> None:
    # every open status can be withdrawn, and nothing else can
    assert lifecycle.TRANSITIONS[A.WITHDRAW].sources == lifecycle.OPEN
    assert lifecycle.DOSING <= lifecycle.ACTIVE <= lifecycle.OPEN
    assert lifecycle.EARLY_UNBLINDING | {S.COMPLETED} == lifecycle.UNBLINDABLE
    assert not lifecycle.is_early_unblinding("completed")
    assert lifecycle.is_early_unblinding("running")
    reasons = {a for a, t in lifecycle.TRANSITIONS.items() if t.needs_reason}
    assert reasons == {A.PAUSE, A.RESUME, A.COMPLETE, A.WITHDRAW}


def test_shown_and_started_sets() -> None:
    assert lifecycle.ACTIVE | {S.COMPLETED} == lifecycle.CURRENT
    assert {S.RUNNING, S.PAUSED, S.COMPLETED, S.UNBLINDED} == lifecycle.STARTED
    assert lifecycle.GUESSING < lifecycle.STARTED
