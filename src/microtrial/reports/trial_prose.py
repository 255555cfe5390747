"""The trial report's clinical prose: methods, caveats, evidence notes and the blinding verdict.

The words are fixed here; every number in them comes from the analysis already formatted.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from microtrial import i18n
from microtrial.analysis import DEFAULT_RHO_PRIOR, completeness
from microtrial.domain.catalog import Catalog
from microtrial.reports import formatting as f
from microtrial.reports.trial_endpoint import MODELS
from microtrial.services.analysis import MCID_POINTS, RELATIVE_MCID, TrialAnalysis

__all__ = ["CENT_2015", "blinding_meaning", "caveats", "evidence", "methods"]

# REFERENCE.md C.4: CONSORT extension for N-of-1 trials.
CENT_2015 = (
    "Vohra S, Shamseer L, Sampson M, et al. CONSORT extension for reporting N-of-1 trials "
    "(CENT) 2015 Statement. BMJ 2015;350:h1738"
)


# The analysis service's notes (services/analysis_fit.py): an outcome's model flags and an
# endpoint left unanalysed, reworded in the reader's language from their parts.
FLAGGED = re.compile(
    r"^(?P<outcome>\S+): 1 of 1 trial\(s\) flagged \((?P<flags>.*)\); see the 'warning' column$"
)
NOT_ANALYSED = re.compile(r"^(?P<endpoint>\S+): (?P<reason>.*); not analysed$")

# Each completeness warning's template and the pattern its English wording follows.
_COMPLETENESS = tuple(
    (t, re.compile("^" + re.sub(r"%\\\((\w+)\\\)s", r"(?P<\1>\\d+)", re.escape(t)) + "$"))
    for t in completeness.WARNINGS
)


def analysis_note(note: str) -> str:
    """One of the analysis service's notes: as recorded in English, else in the reader's
    language (its flags and reasons are catalog messages)."""
    if i18n.current() == i18n.DEFAULT:
        return note
    flagged = FLAGGED.match(note)
    if flagged:
        return i18n.gettext("%(outcome)s: the model flagged this trial (%(flags)s)") % {
            "outcome": flagged["outcome"],
            "flags": f.model_warning(flagged["flags"]),
        }
    for template, pattern in _COMPLETENESS:
        found = pattern.match(note)
        if found:
            return i18n.gettext(template) % found.groupdict()
    unanalysed = NOT_ANALYSED.match(note)
    if unanalysed:
        return i18n.gettext("%(endpoint)s: %(reason)s; not analysed") % {
            "endpoint": unanalysed["endpoint"],
            "reason": f.model_warning(unanalysed["reason"]),
        }
    return f.model_warning(note)


def blinding_meaning(n: int, named: int, right: int, wrong: int, chance: float) -> tuple[str, str]:
    """What the period guesses say about the blind: (clinician sentence, patient sentence, in
    the current language: i18n.speaking)."""
    values = {"right": right, "named": named, "p": f.percent(chance)}
    if n == 0:
        meaning = i18n.gettext("No period guesses were recorded, so the blind cannot be checked.")
        plain = i18n.N_("You did not record any guesses, so we cannot check this.")
    elif named == 0:
        meaning = i18n.gettext(
            "The patient answered \u201cdon't know\u201d every time: no sign that the blind was "
            "broken."
        )
        plain = i18n.N_("You always said you did not know, which is what a good blind looks like.")
    elif chance < 0.05:
        meaning = (
            i18n.gettext(
                "%(right)s of %(named)s named guesses were right; chance alone would give this "
                "many or more with probability %(p)s. The patient could probably tell the capsules "
                "apart, so part of the difference in pain may come from expectation rather than "
                "from the substance."
            )
            % values
        )
        plain = i18n.N_(
            "You guessed right more often than luck would explain. Knowing (or believing) which "
            "capsules you had can change how pain feels, so part of the difference may come "
            "from that."
        )
    elif right > wrong:
        meaning = (
            i18n.gettext(
                "%(right)s of %(named)s named guesses were right; with so few periods chance alone "
                "gives this many or more with probability %(p)s, so there is little evidence that "
                "the blind was broken, but expectation cannot be ruled out."
            )
            % values
        )
        plain = i18n.N_(
            "You guessed right a bit more often than wrong, but with so few periods that can "
            "easily happen by luck."
        )
    else:
        meaning = (
            i18n.gettext(
                "%(right)s of %(named)s named guesses were right, no more than chance: no sign "
                "that the blind was broken, so expectation is an unlikely explanation of the "
                "result."
            )
            % values
        )
        plain = i18n.N_("You guessed no better than luck, which is what a good blind looks like.")
    return meaning, i18n.gettext(plain)


def methods(analysis: TrialAnalysis) -> dict[str, Any]:
    """The methods section: design, individual choices, outcomes, model and the CENT items."""
    trial = analysis.trial
    pairs = len(trial.periods) // 2
    kept = trial.period_days - trial.wash_in_days
    design = i18n.gettext(
        "Randomised, placebo-controlled, self-blinded n-of-1 trial (multiple crossover) in one "
        "patient: a %(run_in)s-day run-in without capsules, then %(pairs)s pairs of "
        "%(period_days)s-day periods (%(periods)s periods), the order of active and placebo "
        "randomised within each pair and concealed (kits identified only by code). Active and "
        "placebo capsules looked identical and followed the same calendar: %(regimen)s. The "
        "first %(wash_in)s days of every period were treated as wash-in/wash-out and left out "
        "of the analysis (%(kept)s analysed days per period); days while the trial was paused "
        "were left out as well."
    ) % {
        "run_in": trial.run_in_days,
        "pairs": pairs,
        "period_days": trial.period_days,
        "periods": len(trial.periods),
        "regimen": trial.regimen,
        "wash_in": trial.wash_in_days,
        "kept": kept,
    }
    individual = (
        i18n.gettext(
            "Individualised choices: substance and regimen (%(regimen)s, sub-perceptual dose) "
            "chosen by the clinician with the patient; period length and number of pairs set at "
            "planning."
        )
        if trial.sub_perceptual
        else i18n.gettext(
            "Individualised choices: substance and regimen (%(regimen)s, perceptible dose) "
            "chosen by the clinician with the patient; period length and number of pairs set at "
            "planning."
        )
    ) % {"regimen": trial.regimen_name}
    outcome = (
        i18n.gettext(
            "Primary outcome: daily 'average pain in the last 24 h' on a 0–10 numeric rating "
            "scale, from the patient's electronic diary. Secondary: worst pain and sleep quality "
            "from the same diary, responder status at 30 %% and 50 %% of baseline (IMMPACT), "
            "PHQ-9, GAD-7 and PGIC where collected, adverse events with CTCAE v5.0 grades, and the "
            "patient's guess of the arm at the end of each period."
        )
        % {}
    )
    model = i18n.gettext(
        "Analysis: a Bayesian linear model per outcome, y_t = mu + beta·active_t + delta·trend_t "
        "+ e_t, with AR(1) errors over calendar days (a gap of g days correlates days by rho^g, "
        "so missing days are handled exactly and not imputed). Reference prior p(mu, beta, "
        "delta, sigma²) ∝ 1/sigma², a prior for rho on (−0.95, 0.95) with density ∝ "
        "(1 − rho)^−%(rho_power)s (a modelling choice leaning to positive day-to-day "
        "correlation, so that short trials are not overconfident) and a stationary start; the "
        "posterior of beta (active minus placebo) is exact, a mixture of Student-t "
        "distributions over a quadrature grid in rho. Reported: posterior mean, sd, "
        "equal-tailed 95 %% credible interval, P(beta < 0) and P(beta ≤ −%(mcid)s) with a "
        "minimal clinically important difference of %(mcid)s point (IMMPACT; Salaffi 2004), and "
        "P(beta ≤ −%(relative)s %% of the run-in mean). Blinding: Bang's index per arm and "
        "James' index from the period guesses."
    ) % {
        "rho_power": f.local(f"{1 - DEFAULT_RHO_PRIOR.b:g}"),
        "mcid": f"{MCID_POINTS:g}",
        "relative": round(RELATIVE_MCID * 100),
    }
    e = analysis.endpoint
    outcomes = (
        i18n.pgettext(
            "clinician report",
            "daily average pain (primary); see secondary outcomes; condition primary endpoint "
            "%(endpoint)s (%(model)s model)",
        )
        % {"endpoint": e.endpoint_id, "model": _model_word(e.outcome_type)}
        if e
        else i18n.pgettext(
            "clinician report", "daily average pain (primary); see secondary outcomes"
        )
    )
    flow = i18n.gettext("%(allocated)s periods allocated; status %(status)s") % {
        "allocated": sum(1 for p in trial.periods if p.arm),
        "status": f.stored_word(trial.status),
    }
    cent = [
        (
            i18n.gettext("Design and rationale"),
            i18n.gettext("n-of-1, multiple crossover, randomised within pairs"),
        ),
        (
            i18n.pgettext("clinician report", "Periods"),
            i18n.pgettext(
                "clinician report",
                "%(periods)s periods of %(days)s days in %(pairs)s pairs; run-in %(run_in)s "
                "days; wash-in %(wash_in)s days",
            )
            % {
                "periods": len(trial.periods),
                "days": trial.period_days,
                "pairs": pairs,
                "run_in": trial.run_in_days,
                "wash_in": trial.wash_in_days,
            },
        ),
        (i18n.pgettext("clinician report", "Intervention"), trial.regimen),
        (
            i18n.pgettext("clinician report", "Allocation"),
            i18n.gettext("random order within each pair; concealed kit codes"),
        ),
        (
            i18n.pgettext("clinician report", "Blinding"),
            i18n.gettext("identical capsules; patient guesses recorded each period"),
        ),
        (i18n.pgettext("clinician report", "Outcomes"), outcomes),
        (
            i18n.gettext("Statistical methods"),
            i18n.gettext("exact Bayesian AR(1) model with linear trend; no imputation"),
        ),
        (
            i18n.gettext("Participant flow"),
            flow + (f" ({trial.status_reason})" if trial.status_reason else ""),
        ),
        (
            i18n.pgettext("clinician report", "Harms"),
            i18n.gettext("adverse events with CTCAE v5.0 grade and seriousness"),
        ),
    ]
    return {
        "design": design,
        "individual": individual,
        "outcome": outcome,
        "model": model,
        "endpoint": _endpoint_method(analysis),
        "cent": cent,
    }


def _model_word(outcome_type: str) -> str:
    """The endpoint model's name: as stored in English (``binary``), else the reader's words."""
    if i18n.current() == i18n.DEFAULT:
        return outcome_type
    return i18n.gettext(MODELS["binary" if outcome_type == "binary" else "count"])


def _endpoint_method(analysis: TrialAnalysis) -> str:
    """How the condition's primary endpoint was analysed ("" when the group has none here)."""
    e = analysis.endpoint
    if e is None:
        return ""
    values = {
        "endpoint": e.endpoint_id,
        "score": e.score,
        "instrument": e.instrument,
        "relative": f.local(f"{1 - RELATIVE_MCID:g}"),
    }
    # The model's own structure and priors are the engine's (docs/ANALYSIS.md): named, not
    # restated here, so that this text stays true when the discrete model changes.
    if e.outcome_type == "binary":
        return (
            i18n.gettext(
                "Condition primary endpoint (%(endpoint)s): each day's '%(score)s' score of the "
                "%(instrument)s (1 = yes, by the catalog's operational rule) as a binary outcome "
                "in the logistic model of the analysis engine (Bayesian), with an active-arm "
                "effect and a linear trend, wash-in and paused days left out. A day with the daily "
                "diary kept but no %(instrument)s entry counts as 0 (entries are written when an "
                "attack is logged); a day with neither is missing, not imputed; a trial without "
                "any %(instrument)s entry is not analysed. Reported: the odds ratio (exp of the "
                "log-ratio effect) with its 95 %% credible interval, P(odds ratio < 1) and P(odds "
                "ratio ≤ %(relative)s), and the difference per day at the trial's centre scaled to "
                "4 weeks (migraine days per 4 weeks)."
            )
            % values
        )
    return (
        i18n.gettext(
            "Condition primary endpoint (%(endpoint)s): each day's '%(score)s' score of the "
            "%(instrument)s (attacks that day) as a count in the Poisson model of the analysis "
            "engine (Bayesian), with an active-arm effect and a linear trend, wash-in and paused "
            "days left out. A day with the daily diary kept but no %(instrument)s entry counts as "
            "0 (entries are written when an attack is logged); a day with neither is missing, not "
            "imputed; a trial without any %(instrument)s entry is not analysed. Reported: the rate "
            "ratio (exp of the log-ratio effect) with its 95 %% credible interval, P(rate ratio < "
            "1) and P(rate ratio ≤ %(relative)s), and the difference per day at the trial's centre "
            "scaled to a week (attacks per week)."
        )
        % values
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
        i18n.gettext(
            "This result describes one patient, on this regimen, over these weeks; it is not "
            "evidence about other patients or other doses."
        ),
        i18n.gettext(
            "Carry-over: the first %(wash_in)s days of each period were left out; an effect "
            "that outlasts this would make active and placebo periods look more alike."
        )
        % {"wash_in": analysis.trial.wash_in_days},
        i18n.gettext(
            "Missing diary days: %(missing)s of the analysable days have no entry. The model "
            "uses the days as they fall (no imputation); if days were missed because of pain or "
            "side effects, the result may be biased."
        )
        % {"missing": adherence["diary_missing_share"]},
        i18n.pgettext("clinician report", "Expectation: %(meaning)s")
        % {"meaning": blind["meaning"]},
        i18n.gettext(
            "A slow change over time is modelled as a straight-line trend; other changes "
            "(seasons, co-medication, life events) are not."
        ),
    ]
    if status["unblinded_early"]:
        out.insert(
            0,
            i18n.gettext(
                "The blind was broken early for safety (%(reason)s). Data after that point are "
                "not blinded, and the trial did not run its planned course."
            )
            % {"reason": status["unblind_reason"]},
        )
    elif status["stopped_early"]:
        values = {
            "reason": status["status_reason"],
            "reached": status["periods_reached"],
            "planned": len(analysis.trial.periods),
        }
        out.insert(
            0,
            (
                i18n.gettext(
                    "The trial stopped before its planned end (%(reason)s); %(reached)s of "
                    "%(planned)s periods were reached, so the result rests on fewer days than "
                    "planned."
                )
                if status["status_reason"]
                else i18n.gettext(
                    "The trial stopped before its planned end; %(reached)s of %(planned)s "
                    "periods were reached, so the result rests on fewer days than planned."
                )
            )
            % values,
        )
    out += [
        i18n.gettext("Analysis note: %(note)s") % {"note": analysis_note(w)}
        for w in analysis.warnings
    ]
    out.append(
        i18n.gettext(
            "Microdosing for pain is unproven: no controlled trial has shown that it relieves "
            "pain, and one patient's result does not change that. This report is not medical "
            "advice."
        )
    )
    out.append(
        i18n.gettext(
            "MicroTrial supports the clinician's judgement; it does not make a diagnosis or a "
            "treatment decision."
        )
    )
    return out
