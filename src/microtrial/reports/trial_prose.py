"""The trial report's clinical prose: methods, caveats, evidence notes and the blinding verdict.

The words are fixed here; every number in them comes from the analysis already formatted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from microtrial import i18n
from microtrial.analysis import DEFAULT_RHO_PRIOR
from microtrial.domain.catalog import Catalog
from microtrial.reports import formatting as f
from microtrial.services.analysis import MCID_POINTS, RELATIVE_MCID, TrialAnalysis

__all__ = ["CENT_2015", "blinding_meaning", "caveats", "evidence", "methods"]

# REFERENCE.md C.4: CONSORT extension for N-of-1 trials.
CENT_2015 = (
    "Vohra S, Shamseer L, Sampson M, et al. CONSORT extension for reporting N-of-1 trials "
    "(CENT) 2015 Statement. BMJ 2015;350:h1738"
)


def blinding_meaning(n: int, named: int, right: int, wrong: int, chance: float) -> tuple[str, str]:
    """What the period guesses say about the blind: (clinician sentence, patient sentence, in
    the current language: i18n.speaking)."""
    if n == 0:
        meaning = "No period guesses were recorded, so the blind cannot be checked."
        plain = i18n.N_("You did not record any guesses, so we cannot check this.")
    elif named == 0:
        meaning = (
            "The patient answered \u201cdon't know\u201d every time: no sign that the blind was "
            "broken."
        )
        plain = i18n.N_("You always said you did not know, which is what a good blind looks like.")
    elif chance < 0.05:
        meaning = (
            f"{right} of {named} named guesses were right; chance alone would give this many "
            f"or more with probability {f.percent(chance)}. The patient could probably tell the "
            "capsules apart, so part of the difference in pain may come from expectation "
            "rather than from the substance."
        )
        plain = i18n.N_(
            "You guessed right more often than luck would explain. Knowing (or believing) which "
            "capsules you had can change how pain feels, so part of the difference may come "
            "from that."
        )
    elif right > wrong:
        meaning = (
            f"{right} of {named} named guesses were right; with so few periods chance alone "
            f"gives this many or more with probability {f.percent(chance)}, so there is "
            "little evidence that the blind was broken, but expectation cannot be ruled out."
        )
        plain = i18n.N_(
            "You guessed right a bit more often than wrong, but with so few periods that can "
            "easily happen by luck."
        )
    else:
        meaning = (
            f"{right} of {named} named guesses were right, no more than chance: no sign that "
            "the blind was broken, so expectation is an unlikely explanation of the result."
        )
        plain = i18n.N_("You guessed no better than luck, which is what a good blind looks like.")
    return meaning, i18n.gettext(plain)


def methods(analysis: TrialAnalysis) -> dict[str, Any]:
    """The methods section: design, individual choices, outcomes, model and the CENT items."""
    trial = analysis.trial
    pairs = len(trial.periods) // 2
    kept = trial.period_days - trial.wash_in_days
    design = (
        f"Randomised, placebo-controlled, self-blinded n-of-1 trial (multiple crossover) in one "
        f"patient: a {trial.run_in_days}-day run-in without capsules, then {pairs} pairs of "
        f"{trial.period_days}-day periods ({len(trial.periods)} periods), the order of active "
        f"and placebo randomised within each pair and concealed (kits identified only by code). "
        f"Active and placebo capsules looked identical and followed the same calendar: "
        f"{trial.regimen}. The first {trial.wash_in_days} days of every period were treated as "
        f"wash-in/wash-out and left out of the analysis ({kept} analysed days per period); "
        f"days while the trial was paused were left out as well."
    )
    individual = (
        f"Individualised choices: substance and regimen ({trial.regimen_name}, "
        f"{'sub-perceptual' if trial.sub_perceptual else 'perceptible'} dose) chosen by the "
        f"clinician with the patient; period length and number of pairs set at planning."
    )
    outcome = (
        "Primary outcome: daily 'average pain in the last 24 h' on a 0–10 numeric rating scale, "
        "from the patient's electronic diary. Secondary: worst pain and sleep quality from the "
        "same diary, responder status at 30 % and 50 % of baseline (IMMPACT), PHQ-9, GAD-7 and "
        "PGIC where collected, adverse events with CTCAE v5.0 grades, and the patient's guess "
        "of the arm at the end of each period."
    )
    model = (
        "Analysis: a Bayesian linear model per outcome, y_t = mu + beta·active_t + delta·trend_t "
        "+ e_t, with AR(1) errors over calendar days (a gap of g days correlates days by rho^g, "
        "so missing days are handled exactly and not imputed). Reference prior p(mu, beta, "
        "delta, sigma²) ∝ 1/sigma², a prior for rho on (−0.95, 0.95) with density ∝ "
        f"(1 − rho)^−{1 - DEFAULT_RHO_PRIOR.b:g} (a modelling choice leaning to positive "
        "day-to-day correlation, so "
        "that short trials are not overconfident) and a stationary start; the posterior of beta "
        "(active minus placebo) is exact, a mixture of Student-t distributions over a quadrature "
        "grid in rho. Reported: posterior mean, sd, "
        f"equal-tailed 95 % credible interval, P(beta < 0) and P(beta ≤ −{MCID_POINTS:g}) with "
        f"a minimal clinically important difference of {MCID_POINTS:g} point (IMMPACT; Salaffi "
        f"2004), and P(beta ≤ −{round(RELATIVE_MCID * 100)} % of the run-in mean). Blinding: "
        "Bang's index per arm and James' index from the period guesses."
    )
    e = analysis.endpoint
    endpoint_item = (
        f"; condition primary endpoint {e.endpoint_id} ({e.outcome_type} model)" if e else ""
    )
    cent = [
        ("Design and rationale", "n-of-1, multiple crossover, randomised within pairs"),
        (
            "Periods",
            f"{len(trial.periods)} periods of {trial.period_days} days in {pairs} pairs; "
            f"run-in {trial.run_in_days} days; wash-in {trial.wash_in_days} days",
        ),
        ("Intervention", trial.regimen),
        ("Allocation", "random order within each pair; concealed kit codes"),
        ("Blinding", "identical capsules; patient guesses recorded each period"),
        ("Outcomes", "daily average pain (primary); see secondary outcomes" + endpoint_item),
        ("Statistical methods", "exact Bayesian AR(1) model with linear trend; no imputation"),
        (
            "Participant flow",
            f"{sum(1 for p in trial.periods if p.arm)} periods allocated; status "
            f"{trial.status}" + (f" ({trial.status_reason})" if trial.status_reason else ""),
        ),
        ("Harms", "adverse events with CTCAE v5.0 grade and seriousness"),
    ]
    return {
        "design": design,
        "individual": individual,
        "outcome": outcome,
        "model": model,
        "endpoint": _endpoint_method(analysis),
        "cent": cent,
    }


def _endpoint_method(analysis: TrialAnalysis) -> str:
    """How the condition's primary endpoint was analysed ("" when the group has none here)."""
    e = analysis.endpoint
    if e is None:
        return ""
    if e.outcome_type == "binary":
        what = "1 = yes, by the catalog's operational rule) as a binary outcome in the logistic"
        ratio, scale = "odds ratio", "4 weeks (migraine days per 4 weeks)"
    else:
        what = "attacks that day) as a count in the Poisson"
        ratio, scale = "rate ratio", "a week (attacks per week)"
    # The model's own structure and priors are the engine's (docs/ANALYSIS.md): named, not
    # restated here, so that this text stays true when the discrete model changes.
    return (
        f"Condition primary endpoint ({e.endpoint_id}): each day's '{e.score}' score of the "
        f"{e.instrument} ({what} model of the analysis engine (Bayesian), with an active-arm "
        "effect and a linear trend, wash-in and paused days left out. A day with the daily "
        f"diary kept but no {e.instrument} entry counts as 0 (entries are written when an "
        "attack is logged); a day with neither is missing, not imputed; a trial without any "
        f"{e.instrument} entry is not analysed. Reported: the {ratio} (exp of the log-ratio "
        f"effect) with its 95 % credible interval, P({ratio} < 1) and P({ratio} ≤ "
        f"{1 - RELATIVE_MCID:g}), and the difference per day at the trial's centre scaled to "
        f"{scale}."
    )


def evidence(catalog: Catalog, codes: Sequence[str]) -> list[dict[str, Any]]:
    """The catalog's evidence notes for the trial's conditions, with their citations."""
    notes: dict[str, list[str]] = {}
    for code in codes:
        condition = catalog.condition_by_code(code)
        if condition is not None:
            notes.setdefault(condition.evidence_note, []).append(condition.title)
    out = []
    for note_id, titles in notes.items():
        note = catalog.evidence_notes[note_id]
        out.append(
            {
                "conditions": ", ".join(titles),
                "known": note.known,
                "unknown": note.unknown,
                "sources": list(catalog.cite(note.sources)),
            }
        )
    return out


def caveats(analysis: TrialAnalysis, context: dict[str, Any]) -> list[str]:
    """What the result can and cannot tell, from the report context already built."""
    status = context["status"]
    adherence = context["adherence"]
    blind = context["blinding"]
    out = [
        "This result describes one patient, on this regimen, over these weeks; it is not "
        "evidence about other patients or other doses.",
        f"Carry-over: the first {analysis.trial.wash_in_days} days of each period were left out; "
        "an effect that outlasts this would make active and placebo periods look more alike.",
        f"Missing diary days: {adherence['diary_missing_share']} of the analysable days have no "
        "entry. The model uses the days as they fall (no imputation); if days were missed "
        "because of pain or side effects, the result may be biased.",
        "Expectation: " + blind["meaning"],
        "A slow change over time is modelled as a straight-line trend; other changes (seasons, "
        "co-medication, life events) are not.",
    ]
    if status["unblinded_early"]:
        out.insert(
            0,
            f"The blind was broken early for safety ({status['unblind_reason']}). Data after "
            "that point are not blinded, and the trial did not run its planned course.",
        )
    elif status["stopped_early"]:
        out.insert(
            0,
            "The trial stopped before its planned end"
            + (f" ({status['status_reason']})" if status["status_reason"] else "")
            + f"; {status['periods_reached']} of {len(analysis.trial.periods)} periods were "
            "reached, so the result rests on fewer days than planned.",
        )
    out += [f"Analysis note: {w}" for w in analysis.warnings]
    out.append(
        "Microdosing for pain is unproven: no controlled trial has shown that it relieves pain, "
        "and one patient's result does not change that. This report is not medical advice."
    )
    out.append(
        "MicroTrial supports the clinician's judgement; it does not make a diagnosis or a "
        "treatment decision."
    )
    return out
