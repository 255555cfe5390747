"""Analysis layer: exact Bayesian n-of-1 analysis, pooling, blinding and power, batched over trials.

Pure numpy/scipy/pandas; no I/O.  The public names are listed in ``__all__``.
"""

from __future__ import annotations

from microtrial.analysis.blinding import (
    BlindingResult,
    blinding,
    blinding_from_self_blinding_study,
    guesses_from_self_blinding_study,
)
from microtrial.analysis.continuous import BatchFit, BetaPrior, FitOptions, fit_arrays
from microtrial.analysis.fit import BACKENDS, OUTCOME_TYPES, RESULT_COLUMNS, fit_trials
from microtrial.analysis.pooling import PoolResult, pool
from microtrial.analysis.posterior_kernel import DEFAULT_RHO_PRIOR, UNIFORM_RHO_PRIOR, RhoPrior
from microtrial.analysis.power import PowerResult, power
from microtrial.analysis.simulate import SimulatedTrials, simulate_trials

__all__ = [
    "BACKENDS",
    "DEFAULT_RHO_PRIOR",
    "OUTCOME_TYPES",
    "RESULT_COLUMNS",
    "UNIFORM_RHO_PRIOR",
    "BatchFit",
    "BetaPrior",
    "BlindingResult",
    "FitOptions",
    "PoolResult",
    "PowerResult",
    "RhoPrior",
    "SimulatedTrials",
    "blinding",
    "blinding_from_self_blinding_study",
    "fit_arrays",
    "fit_trials",
    "guesses_from_self_blinding_study",
    "pool",
    "power",
    "simulate_trials",
]
