"""Per-trial and cohort results: the entry points of the analysis service.

A trial is analysed only after unblinding (its analysis data are locked then). A single trial
is loaded and fitted on demand (``analyse_trial``: one trial costs milliseconds); the cohort is
never fitted per request: ``cohort_analysis`` pools the fits stored by
``trial_fits.refresh_fits`` and says when they were computed and how many are stale. Cohort
results are de-identified: trials appear under a sequence label, with condition group but no
patient code, site, dates or free text.

The work is split by capability: ``analysis_model`` (constants and result types),
``analysis_load`` (database to engine input), ``analysis_fit`` (the batched engine calls),
``trial_fits`` (stored fits, data versions, the refresh) and ``cohort_results`` (the cohort
from stored fits).
"""

from __future__ import annotations

from microtrial.domain.access import Action
from microtrial.domain.actors import Actor
from microtrial.services.analysis_fit import fit_loaded
from microtrial.services.analysis_load import load_inputs
from microtrial.services.analysis_model import (
    DISCRETE_ENDPOINTS,
    MCID_POINTS,
    OFF_PROTOCOL,
    OUTCOMES,
    RELATIVE_MCID,
    CohortAnalysis,
    EndpointAnalysis,
    FitStatus,
    TrialAnalysis,
)
from microtrial.services.cohort_results import read_cohort
from microtrial.services.common import Clock, audit_patient, system_clock
from microtrial.services.trial_fits import RefreshReport, refresh_fits
from microtrial.services.trial_loaders import load_unblinded_trial
from microtrial.services.unit import UnitOfWork
from microtrial.store.db import Database

__all__ = [
    "DISCRETE_ENDPOINTS",
    "MCID_POINTS",
    "OFF_PROTOCOL",
    "OUTCOMES",
    "RELATIVE_MCID",
    "CohortAnalysis",
    "EndpointAnalysis",
    "FitStatus",
    "RefreshReport",
    "TrialAnalysis",
    "analyse_trial",
    "cohort_analysis",
    "refresh_fits",
]


def analyse_trial(
    db: Database, actor: Actor, trial_id: int, *, clock: Clock = system_clock
) -> TrialAnalysis:
    """Analyse one unblinded trial (refused while the trial is still blinded)."""
    with UnitOfWork(db, actor, Action.ANALYSE_TRIAL, clock=clock) as (session, now):
        trial, patient = load_unblinded_trial(session, actor, trial_id, "results are available")
        stored = load_inputs(session, trial, patient, now)
        audit_patient(session, actor, "analyse", "trial", trial.id, patient, at=now)
    # Fitted after the commit: the engine never runs inside the write transaction.
    return fit_loaded([stored])[0]


# The cohort from the stored fits (the actor's site for clinicians; all for researchers): the
# entry point's name for ``cohort_results.read_cohort`` itself, not a second signature to keep.
cohort_analysis = read_cohort
