"""MicroTrial: clinician-guided, placebo-controlled, self-blinded n-of-1 trials of microdosing.

The few names a notebook user needs; everything else lives in the layer packages. They are
loaded on first use so that ``import microtrial`` (and the command line) starts quickly.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from microtrial.analysis import blinding, fit_trials, pool, power, simulate_trials
    from microtrial.domain.catalog import load_catalog
    from microtrial.domain.screening import screen

__all__ = ["blinding", "fit_trials", "load_catalog", "pool", "power", "screen", "simulate_trials"]
__version__ = "0.1.0"

_HOMES = {
    "blinding": "microtrial.analysis",
    "fit_trials": "microtrial.analysis",
    "pool": "microtrial.analysis",
    "power": "microtrial.analysis",
    "simulate_trials": "microtrial.analysis",
    "load_catalog": "microtrial.domain.catalog",
    "screen": "microtrial.domain.screening",
}


def __getattr__(name: str) -> Any:
    """Import a public name from its home module on first use (PEP 562)."""
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'microtrial' has no attribute {name!r}")
