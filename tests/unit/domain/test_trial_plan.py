"""The trial plan as stored JSON: the same shape in and out, old plans included."""

from __future__ import annotations

import datetime as dt
import json

from microtrial.domain.design import DesignSpec
from microtrial.domain.trial_plan import PlannedDesign, PlannedRegimen, TrialPlan, new_plan

# A plan as plan_trial stored it before any pause or unblinding (no paused_on, no data_locked_at).
OLD_PLAN = {
    "regimen": {
        "template": "fadiman",
        "substance": "psilocybin",
        "amount": 100,
        "unit": "mg dried material",
        "weekdays": None,
    },
    "design": {"run_in_days": 7, "pairs": 3, "period_days": 14, "wash_in_days": 3, "n_arms": 2},
    "pauses": [],
}


def _text(data: dict[str, object]) -> str:
    return json.dumps(data, ensure_ascii=False)  # key order included, as the JSON column keeps it


def test_an_old_plan_round_trips_byte_for_byte() -> None:
    plan = TrialPlan.from_json(OLD_PLAN)
    assert plan.paused_on is None
    assert plan.data_locked_at is None
    assert plan.pauses == ()
    assert plan.regimen == PlannedRegimen("fadiman", "psilocybin", 100, "mg dried material")
    assert plan.design == PlannedDesign(7, 3, 14, 3, 2)
    assert _text(plan.to_json()) == _text(OLD_PLAN)


def test_a_full_plan_round_trips_byte_for_byte() -> None:
    stored = {
        "regimen": {
            "template": "twice_weekly",
            "substance": "lsd",
            "amount": 10.0,
            "unit": "µg",
            "weekdays": ["mon", "thu"],
        },
        "design": {"run_in_days": 0, "pairs": 2, "period_days": 7, "wash_in_days": 0, "n_arms": 2},
        "pauses": [{"from": "2026-01-05", "to": "2026-01-09"}],
        "paused_on": "2026-02-01",
        "data_locked_at": "2026-03-01T10:30:00.123456+00:00",
    }
    plan = TrialPlan.from_json(stored)
    assert plan.regimen.weekdays == ("mon", "thu")
    assert plan.pauses == ((dt.date(2026, 1, 5), dt.date(2026, 1, 9)),)
    assert plan.paused_on == dt.date(2026, 2, 1)
    assert plan.data_locked_at == dt.datetime(2026, 3, 1, 10, 30, 0, 123456, tzinfo=dt.UTC)
    assert _text(plan.to_json()) == _text(stored)


def test_pausing_and_resuming_record_the_pause_as_before() -> None:
    plan = TrialPlan.from_json(OLD_PLAN)
    paused = plan.paused(dt.date(2026, 1, 5))
    assert paused.to_json()["paused_on"] == "2026-01-05"
    assert list(paused.to_json()) == ["regimen", "design", "pauses", "paused_on"]
    resumed = paused.resumed(dt.date(2026, 1, 9))
    assert resumed.to_json() == {**OLD_PLAN, "pauses": [{"from": "2026-01-05", "to": "2026-01-09"}]}
    # a pause resumed the same day shifts nothing
    assert paused.resumed(dt.date(2026, 1, 5)).to_json() == OLD_PLAN
    # resuming a plan with no open pause changes nothing
    assert plan.resumed(dt.date(2026, 1, 9)) == plan


def test_locking_adds_the_lock_time_last() -> None:
    at = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
    locked = TrialPlan.from_json(OLD_PLAN).paused(dt.date(2026, 2, 1)).locked(at).to_json()
    assert list(locked) == ["regimen", "design", "pauses", "paused_on", "data_locked_at"]
    assert locked["data_locked_at"] == at.isoformat()


def test_a_new_plan_from_the_spec_stores_as_plan_trial_always_has() -> None:
    regimen = PlannedRegimen("fadiman", "psilocybin", 100, "mg dried material")
    plan = new_plan(regimen, DesignSpec(run_in_days=7, pairs=3, period_days=14, wash_in_days=3))
    assert _text(plan.to_json()) == _text(OLD_PLAN)
