"""The adaptive section of a trial report: the rule, each look and its decision, and the rule's
simulated operating characteristics beside the posterior, so a reader can judge an estimate
from a trial that stopped early (docs/ANALYSIS.md "Adaptive trials")."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from microtrial import i18n
from microtrial.domain.adaptive import CUSTOM, SIMULATION, AdaptiveRule, stop_in_words
from microtrial.reports.formatting import local
from microtrial.services.adaptive import AdaptiveRead, LookRead, simulate_rule
from microtrial.services.trial_views import TrialRead

# Per effect; a fixed seed: the same report every time (noise as the plan form assumes it).
OC_TRIALS, OC_SEED = 1000, 20


def _decision(decision: str) -> str:
    """A look's decision in the current language (unknown ones as stored)."""
    words = {
        "continue": i18n.pgettext("clinician report", "continue"),
        "stop-benefit": i18n.gettext("stop for benefit"),
        "stop-futility": i18n.gettext("stop for futility"),
        "maximum-reached": i18n.gettext("maximum reached"),
    }
    return words.get(decision, decision)


def _num(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


ADAPTIVE_SECTION = ("adaptive", "Adaptive design: looks and operating characteristics")


def rule_words(rule: AdaptiveRead) -> str:
    """The rule in one sentence: as the service recorded it in English, else in the reader's
    language from its numbers (the same sentence as ``AdaptiveRule.describe``)."""
    if i18n.current() == i18n.DEFAULT:
        return rule.rule
    return i18n.gettext(
        "after each pair from pair %(min_pairs)s on: stop for benefit when P(effect ≤ −1) ≥ "
        "%(benefit)s, for futility when it is ≤ %(futility)s; at most %(max_pairs)s pairs "
        "(%(outcome)s)"
    ) % {
        "min_pairs": rule.min_pairs,
        "benefit": local(f"{rule.benefit_threshold:g}"),
        "futility": local(f"{rule.futility_threshold:g}"),
        "max_pairs": rule.max_pairs,
        "outcome": rule.outcome,
    }


def stop_sentence(trial: TrialRead, looks: Sequence[LookRead]) -> str | None:
    """How the trial ended by its rule, in plain words (None: fixed design, no decision, or an
    early unblinding, which the report's own banner explains). ``looks`` are read only once
    the trial is unblinded (``services.adaptive.looks_for_report``)."""
    rule = trial.adaptive
    if rule is None or trial.unblinded_early:
        return None
    decided = [look for look in looks if look.decision != "continue"]
    if not decided:
        return None
    # In the reader's language (i18n.speaking: the patient's report is built in theirs).
    return stop_in_words(decided[0].decision, decided[0].pair, rule.max_pairs, i18n.gettext)


def adaptive_for(
    trial: TrialRead, looks: Sequence[LookRead], audience: str
) -> dict[str, Any] | None:
    """The adaptive section of the clinician's report, or for the patient only how the trial
    ended (None: a fixed design, or nothing to say)."""
    if audience == "clinician":
        return adaptive_context(trial, looks)
    stop = stop_sentence(trial, looks)
    return None if stop is None else {"stop": stop}


def with_adaptive(context: dict[str, Any], adaptive: dict[str, Any] | None) -> None:
    """Add the adaptive section to a clinician report's context, after the posterior; for
    either audience, the sentence saying how the trial ended (``adaptive_stop``)."""
    context["adaptive_stop"] = adaptive.get("stop") if adaptive else None
    context["adaptive"] = adaptive if context["audience"] == "clinician" else None
    if context["adaptive"] is None:
        return
    names = [name for name, _ in context["sections"]]
    at = names.index("posterior") + 1 if "posterior" in names else len(names)
    context["sections"] = (*context["sections"][:at], ADAPTIVE_SECTION, *context["sections"][at:])


def adaptive_context(trial: TrialRead, looks: Sequence[LookRead]) -> dict[str, Any] | None:
    """The rule, the looks and the simulated operating characteristics (None: fixed design)."""
    rule = trial.adaptive
    if rule is None:
        return None
    oc = simulate_rule(
        AdaptiveRule(
            min_pairs=rule.min_pairs,
            max_pairs=rule.max_pairs,
            benefit_threshold=rule.benefit_threshold,
            futility_threshold=rule.futility_threshold,
            outcome=rule.outcome,
        ),
        run_in_days=trial.run_in_days,
        period_days=trial.period_days,
        wash_in_days=trial.wash_in_days,
        n_sim=OC_TRIALS,
        seed=OC_SEED,
    )
    return {
        "stop": stop_sentence(trial, looks),
        "rule": rule_words(rule),
        "rule_name": i18n.gettext(rule.title)
        + (
            ""
            if rule.preset == CUSTOM
            else " (" + i18n.gettext("the named rule “%(name)s”") % {"name": rule.preset} + ")"
        ),
        "pairs_run": rule.pairs_run,
        "max_pairs": rule.max_pairs,
        "looks": [
            {
                "pair": look.pair,
                "through": look.through_date.isoformat(),
                "days": i18n.pgettext("clinician report", "%(active)s active, %(placebo)s placebo")
                % {"active": look.days_active, "placebo": look.days_placebo},
                "p_mcid": _num(look.p_mcid, 3),
                "estimate": i18n.gettext("%(mean)s (%(low)s to %(high)s)")
                % {
                    "mean": _num(look.effect_mean),
                    "low": _num(look.ci95_low),
                    "high": _num(look.ci95_high),
                },
                "decision": _decision(look.decision),
            }
            for look in looks
        ],
        "oc": [
            {
                "effect": row.effect,
                "p_benefit": f"{row.p_benefit:.1%}",
                "p_futility": f"{row.p_futility:.1%}",
                "pairs": f"{row.expected_pairs:.2f}",
                "days": f"{row.expected_days:.0f}",
                "coverage": f"{row.coverage:.1%}",
                "bias": f"{row.bias:+.2f}",
                "fixed_benefit": f"{row.fixed_p_benefit:.1%}",
            }
            for row in oc.rows
        ],
        "oc_note": i18n.gettext(
            "%(trials)s simulated trials per true effect with this trial's design (%(run_in)s-day "
            "run-in, %(period_days)s-day periods, %(wash_in)s wash-in days), residual sd "
            "%(sd)s, day-to-day autocorrelation %(rho)s, %(missing)s missing days; the fixed "
            "design is 3 pairs judged with the same benefit threshold. An estimate from a trial "
            "stopped for benefit tends to overstate the effect (the mean error column)."
        )
        % {
            "trials": f"{OC_TRIALS:,}"
            if i18n.current() == i18n.DEFAULT
            else i18n.format_number(OC_TRIALS),
            "run_in": trial.run_in_days,
            "period_days": trial.period_days,
            "wash_in": trial.wash_in_days,
            "sd": local(str(SIMULATION.sd)),
            "rho": local(str(SIMULATION.rho)),
            "missing": f"{SIMULATION.missing:.0%}",
        },
    }
