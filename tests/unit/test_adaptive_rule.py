"""The adaptive rule (domain), its decisions and its batched simulation (analysis)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from microtrial.analysis.adaptive import (
    Decision,
    apply_rule,
    decide,
    decide_many,
    fit_looks,
    operating_characteristics,
)
from microtrial.analysis.continuous import FitOptions, fit_arrays
from microtrial.analysis.simulate import simulate_trials
from microtrial.domain.adaptive import (
    ADAPTIVE_OUTCOMES,
    PRESETS,
    AdaptiveRule,
    kits_needed_through,
    preset,
    preset_with,
    stop_in_words,
)
from microtrial.domain.trial_plan import PlannedDesign, PlannedRegimen, TrialPlan
from microtrial.errors import ValidationError
from microtrial.services.analysis import OUTCOMES

PLAN = TrialPlan(
    regimen=PlannedRegimen("fadiman", "psilocybin", 100, "mg dried material"),
    design=PlannedDesign(run_in_days=7, pairs=5, period_days=14, wash_in_days=3, n_arms=2),
)


@pytest.mark.parametrize(
    ("change", "field", "allowed"),
    [
        ({"max_pairs": 7}, "max_pairs", "2-6"),
        ({"min_pairs": 4, "max_pairs": 3}, "min_pairs", "1-3"),
        ({"min_pairs": 2.5}, "min_pairs", "1-5"),
        ({"min_pairs": 0}, "min_pairs", "1-5"),
        ({"benefit_threshold": 0.3}, "benefit_threshold", "0.5-0.99"),
        ({"benefit_threshold": "high"}, "benefit_threshold", "0.5-0.99"),
        ({"futility_threshold": 0.6}, "futility_threshold", "< 0.6"),
        ({"futility_threshold": -0.1}, "futility_threshold", "0 <="),
        ({"outcome": "mood"}, "outcome", "pain"),
    ],
)
def test_a_bad_rule_names_its_field_and_what_is_allowed(
    change: dict[str, object], field: str, allowed: str
) -> None:
    with pytest.raises(ValidationError) as err:
        AdaptiveRule(**change)  # type: ignore[arg-type]
    assert err.value.field == field
    assert allowed in str(err.value)


def test_the_rule_round_trips_in_the_plan_and_old_plans_are_unchanged() -> None:
    assert "adaptive" not in PLAN.to_json()
    assert TrialPlan.from_json(PLAN.to_json()) == PLAN
    rule = AdaptiveRule(min_pairs=3, max_pairs=5, benefit_threshold=0.8, futility_threshold=0.1)
    adaptive = TrialPlan(PLAN.regimen, PLAN.design, adaptive=rule)
    assert adaptive.to_json()["adaptive"]["benefit_threshold"] == 0.8
    assert TrialPlan.from_json(adaptive.to_json()).adaptive == rule


def test_the_looks_read_outcomes_the_trial_analysis_fits() -> None:
    assert set(ADAPTIVE_OUTCOMES) <= {name for name, _, _ in OUTCOMES}
    assert AdaptiveRule().outcome == "pain"  # the primary outcome


def test_decisions() -> None:
    rule = {"min_pairs": 2, "max_pairs": 4, "benefit": 0.6, "futility": 0.2}
    assert decide(0.99, 1, **rule) is Decision.CONTINUE  # before the minimum: no decision
    assert decide(0.6, 2, **rule) is Decision.BENEFIT
    assert decide(0.2, 3, **rule) is Decision.FUTILITY
    assert decide(0.4, 3, **rule) is Decision.CONTINUE
    assert decide(0.4, 4, **rule) is Decision.MAXIMUM
    assert decide(math.nan, 2, **rule) is Decision.CONTINUE  # a failed fit decides nothing
    assert decide(math.nan, 4, **rule) is Decision.MAXIMUM
    codes = decide_many(np.array([0.1, 0.5, 0.9]), 2, **rule)
    assert codes.tolist() == [2, 0, 1]


def test_kits_are_asked_for_one_pair_ahead() -> None:
    rule = AdaptiveRule(min_pairs=2, max_pairs=5)
    assert kits_needed_through(rule, 0, None) == 3  # before any look
    assert kits_needed_through(rule, 2, None) == 4  # pair 3 runs after a continue at 2
    assert kits_needed_through(rule, 4, None) == 5
    assert kits_needed_through(rule, 2, 2) == 2  # stopped: nothing more


def test_fitting_only_running_trials_decides_as_fitting_every_trial() -> None:
    rng = np.random.default_rng(4)
    effect = rng.normal(-0.8, 0.8, 400)
    sim = simulate_trials(
        400, rng=rng, effect=effect, run_in=7, pairs=4, period_length=7, wash_in=1
    )
    args = {"looks": (2, 3, 4), "run_in": 7, "period_length": 7, "options": FitOptions()}
    every = fit_looks(sim.values, sim.arm, effect, **args)  # type: ignore[arg-type]
    running = fit_looks(
        sim.values,
        sim.arm,
        effect,
        running=(2, 0.6, 0.2),
        always=3,
        **args,  # type: ignore[arg-type]
    )
    rule = {"min_pairs": 2, "max_pairs": 4, "benefit": 0.6, "futility": 0.2}
    a, b = apply_rule(every, **rule), apply_rule(running, **rule)
    assert np.array_equal(a.code, b.code)
    assert np.array_equal(a.stop_index, b.stop_index)
    np.testing.assert_allclose(a.mean, b.mean)
    # The interval is computed only where a look stops, and is the same there.
    np.testing.assert_allclose(a.low, b.low)
    np.testing.assert_allclose(a.high, b.high)
    assert not np.isnan(b.low).any()
    assert np.isnan(running.p_mcid[2]).sum() > 100  # trials that had stopped were not refitted
    assert not np.isnan(running.p_mcid[1]).any()  # the fixed design's look: every trial


def test_operating_characteristics_tell_no_effect_from_a_large_one() -> None:
    oc = operating_characteristics(
        benefit_threshold=0.6,
        futility_threshold=0.2,
        effects=(0.0, -3.0),
        spread=None,
        n_sim=300,
        rng=np.random.default_rng(2),
    )
    zero, three = oc.rows
    assert zero.p_benefit < 0.1 < 0.9 < three.p_benefit
    assert zero.p_benefit + zero.p_futility + zero.p_maximum == pytest.approx(1.0)
    assert three.expected_pairs == pytest.approx(2.0, abs=0.1)
    assert three.expected_days == 14 + 2 * 14 * three.expected_pairs
    assert three.fixed_days == 14 + 3 * 2 * 14
    assert 0.85 < three.coverage <= 1.0
    assert oc.spread_shortening is None
    with pytest.raises(ValidationError):
        operating_characteristics(
            benefit_threshold=0.6, futility_threshold=0.7, n_sim=10, rng=np.random.default_rng(1)
        )


def test_a_rule_may_look_after_the_first_pair_and_presets_are_named_rules() -> None:
    rule = AdaptiveRule(min_pairs=1, max_pairs=5, benefit_threshold=0.9, futility_threshold=0.4)
    assert kits_needed_through(rule, 0, None) == 2  # before the first look: pair 2 ready
    assert decide(0.95, 1, min_pairs=1, max_pairs=5, benefit=0.9, futility=0.4) is (
        Decision.BENEFIT
    )
    assert preset("short") == rule
    assert preset("default") == AdaptiveRule()
    assert preset("short", max_pairs=4).max_pairs == 4
    with pytest.raises(ValidationError) as err:
        preset("quick")
    assert err.value.field == "preset"
    assert "short" in str(err.value)
    oc = operating_characteristics(
        min_pairs=1,
        benefit_threshold=0.9,
        futility_threshold=0.4,
        effects=(0.0, -3.0),
        spread=None,
        n_sim=200,
        rng=np.random.default_rng(3),
    )
    zero, three = oc.rows
    assert zero.expected_pairs < 2  # most no-effect trials stop at the first look
    assert zero.p_benefit < 0.1 < 0.8 < three.p_benefit


def test_a_rule_is_named_by_its_numbers_and_the_name_is_stored_in_the_plan() -> None:
    assert [AdaptiveRule().preset_name, preset("short").preset_name] == ["default", "short"]
    assert [AdaptiveRule().title, preset("short").title] == ["Standard", "Short"]
    # The maximum and the outcome are the clinician's: the rule keeps its name.
    assert preset("short", max_pairs=3, outcome="sleep").preset_name == "short"
    changed = preset("short", futility_threshold=0.3)
    assert (changed.preset_name, changed.title) == ("custom", "Custom")
    plan = TrialPlan(PLAN.regimen, PLAN.design, adaptive=preset("short", max_pairs=4))
    stored = plan.to_json()["adaptive"]
    assert stored["preset"] == "short"
    assert TrialPlan.from_json(plan.to_json()).adaptive == preset("short", max_pairs=4)
    for named in PRESETS.values():
        assert named.trade_off.endswith(".")
        assert "futility" in named.trade_off


def test_a_preset_with_a_number_it_sets_is_refused_naming_that_field() -> None:
    assert preset_with("short", {"max_pairs": 3}) == preset("short", max_pairs=3)
    with pytest.raises(ValidationError) as err:
        preset_with("short", {"min_pairs": 2, "max_pairs": 3}, prefix="adaptive.")
    assert err.value.field == "adaptive.min_pairs"
    assert "preset 'short'" in str(err.value)
    with pytest.raises(ValidationError) as err:
        preset_with("brisk", {}, prefix="adaptive.")
    assert err.value.field == "adaptive.preset"
    assert err.value.allowed == "default, short"


def test_the_patient_is_told_how_the_trial_ended_in_words_without_a_number() -> None:
    said = stop_in_words("stop-futility", 1, 5)
    assert said is not None
    assert "after 1 of up to 5 pairs" in said
    assert "unlikely" in said
    assert not any(ch.isdigit() for ch in said.replace("1 of up to 5", ""))
    assert "ran all 5 pairs" in (stop_in_words("maximum-reached", 5, 5) or "")
    assert stop_in_words("continue", 2, 5) is None


def test_the_engine_computes_the_interval_only_outside_the_band_asked() -> None:
    sim = simulate_trials(300, rng=np.random.default_rng(5), effect=-1.0, run_in=7, pairs=2)
    every = fit_arrays(sim.values, sim.arm, FitOptions(), warn=False)
    some = fit_arrays(sim.values, sim.arm, FitOptions(interval_outside=(0.2, 0.6)), warn=False)
    inside = (every.p_mcid > 0.2) & (every.p_mcid < 0.6)
    assert 0 < inside.sum() < 300
    assert np.isnan(some.ci95_low[inside]).all()
    np.testing.assert_array_equal(some.ci95_low[~inside], every.ci95_low[~inside])
    np.testing.assert_array_equal(some.ci95_high[~inside], every.ci95_high[~inside])
    np.testing.assert_array_equal(some.p_mcid, every.p_mcid)
    np.testing.assert_array_equal(some.effect_mean, every.effect_mean)


def test_the_stop_sentence_is_worded_in_the_readers_language() -> None:
    from microtrial import i18n

    german = stop_in_words("stop-benefit", 2, 3, lambda m: i18n.gettext(m, "de"))
    assert german is not None
    assert german.startswith("Ihre Studie endete vorzeitig, nach 2 von bis zu 3 Periodenpaaren: ")
    assert "Mikrodosis half" in german
    dutch = stop_in_words("maximum-reached", 4, 4, lambda m: i18n.gettext(m, "nl"))
    assert dutch is not None
    assert dutch.startswith("Uw studie liep alle 4 paren")
    assert stop_in_words("stop-benefit", 2, 3) == (
        "Your trial stopped early, after 2 of up to 3 pairs of periods: the check made after "
        "each pair found enough sign that the microdose helped to stop there, as the rule set "
        "before your trial began."
    )
