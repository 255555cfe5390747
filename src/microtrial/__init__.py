"""MicroTrial: clinician-guided, placebo-controlled, self-blinded n-of-1 trials of microdosing.

The few names a notebook user needs; everything else lives in the layer packages.
"""

from __future__ import annotations

from microtrial.analysis import blinding, fit_trials, pool, power, simulate_trials
from microtrial.domain.catalog import load_catalog
from microtrial.domain.screening import screen

__all__ = ["blinding", "fit_trials", "load_catalog", "pool", "power", "screen", "simulate_trials"]
__version__ = "0.1.0"
