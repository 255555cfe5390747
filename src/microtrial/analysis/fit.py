"""``fit_trials``: the frame-level entry point of the n-of-1 engine, with backend dispatch."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import pandas as pd

from microtrial.analysis.continuous import BatchFit, BetaPrior, FitOptions, fit_arrays
from microtrial.analysis.discrete import fit_discrete_arrays
from microtrial.analysis.frames import trials_from_frame
from microtrial.analysis.posterior_kernel import RhoPrior
from microtrial.errors import ValidationError

Backend = Literal["numpy", "jax", "dask"]
OutcomeType = Literal["continuous", "binary", "count"]
BACKENDS: tuple[str, ...] = ("numpy", "jax", "dask")
DISCRETE_BACKENDS: tuple[str, ...] = ("numpy",)
OUTCOME_TYPES: tuple[str, ...] = ("continuous", "binary", "count")

RESULT_COLUMNS = [
    "trial_id",
    "outcome",
    "n_active",
    "n_placebo",
    "effect_mean",
    "effect_sd",
    "ci95_low",
    "ci95_high",
    "p_benefit",
    "p_mcid",
    "rho_mean",
    "warning",
]
EXTRA_COLUMNS = ["n_baseline", "baseline_mean", "p_mcid_rel"]
DISCRETE_COLUMNS = [
    "difference_mean",
    "difference_sd",
    "p_ratio_reduction",
    "p_log_ratio_mcid",
    "extra_variation_mean",
]


def fit_batch(
    values: np.ndarray[Any, np.dtype[np.float64]],
    arm: np.ndarray[Any, np.dtype[np.int8]],
    options: FitOptions,
    *,
    outcome_type: str = "continuous",
    backend: str = "numpy",
    serial: str = "periods",
    progress: Callable[[int], None] | None = None,
    client: Any = None,
    warn: bool = True,
) -> BatchFit:
    """Fit ``(trials, days)`` arrays with the chosen model and backend (backends agree).

    Binary and count outcomes return a ``DiscreteFit`` (a ``BatchFit`` with the difference on
    the natural scale); they run on numpy only, and an option their model lacks is refused.
    ``serial`` is their model of day-to-day dependence (``periods`` or ``none``). ``warn=False``:
    no StatisticalWarning for flagged trials (the flags stay in the result).
    """
    if outcome_type not in OUTCOME_TYPES:
        raise ValidationError(
            "outcome_type", "unknown outcome type", value=outcome_type, allowed=OUTCOME_TYPES
        )
    if backend not in BACKENDS:
        raise ValidationError("backend", "unknown backend", value=backend, allowed=BACKENDS)
    if outcome_type != "continuous":
        if options.rho_prior is not None:
            raise ValidationError(
                "rho_prior",
                f"not supported for {outcome_type} outcomes (no autocorrelation)",
                value=repr(options.rho_prior),
                allowed="None (unset)",
            )
        if backend != "numpy":
            raise ValidationError(
                "backend",
                f"{outcome_type} outcomes are fitted with numpy only",
                value=backend,
                allowed=DISCRETE_BACKENDS,
            )
        return fit_discrete_arrays(
            values, arm, options, kind=outcome_type, serial=serial, progress=progress, warn=warn
        )
    if backend == "numpy":
        return fit_arrays(values, arm, options, progress=progress, warn=warn)
    if backend == "jax":
        from microtrial.analysis import backend_jax

        fit: BatchFit = backend_jax.fit_arrays_jax(
            values, arm, options, progress=progress, warn=warn
        )
        return fit
    from microtrial.analysis import backend_dask

    fit = backend_dask.fit_arrays_dask(
        values, arm, options, client=client, progress=progress, warn=warn
    )
    return fit


def fit_trials(
    frame: pd.DataFrame,
    *,
    mcid: float = 1.0,
    relative_mcid: float = 0.3,
    trend: bool = True,
    higher_is_better: bool = False,
    outcome_type: str = "continuous",
    prior: BetaPrior | None = None,
    rho_prior: RhoPrior | None = None,
    backend: str = "numpy",
    serial: str = "periods",
    progress: Callable[[int], None] | None = None,
    client: Any = None,
    warn: bool = True,
) -> pd.DataFrame:
    """Fit every trial (and outcome) of a long diary frame; one result row per trial and outcome.

    Parameters
    ----------
    frame
        Long format: ``trial_id``, ``day``, ``arm`` (active/placebo/baseline), ``value``, optional
        ``exclude`` and ``outcome``.
    mcid
        Minimal clinically important difference (points) for ``p_mcid``.
    relative_mcid
        Relative threshold (share of the baseline mean) for ``p_mcid_rel``.
    trend
        Include a linear time trend.
    higher_is_better
        Benefit means ``beta > 0`` instead of ``beta < 0``.
    outcome_type
        ``continuous``, ``binary`` or ``count``.
    prior
        Optional informative prior on ``beta`` (continuous model only; refused otherwise).
    rho_prior
        Prior of the autocorrelation ``rho`` (continuous model only; refused otherwise); None
        uses ``DEFAULT_RHO_PRIOR``, ``UNIFORM_RHO_PRIOR`` the uniform prior of earlier versions.
    backend
        ``numpy`` (default), ``jax`` or ``dask`` (binary and count outcomes: ``numpy`` only).
    serial
        Binary/count outcomes: ``periods`` (default; period totals with extra variation between
        periods, for days that cluster) or ``none`` (days independent).
    warn
        Warn (``StatisticalWarning``) when trials are flagged; ``False`` leaves the flags to the
        ``warning`` column only. For services, which cannot silence warnings with
        ``warnings.catch_warnings`` safely: its filter list is global to the process.

    Returns
    -------
    pandas.DataFrame
        Columns ``trial_id, outcome, n_active, n_placebo, effect_mean, effect_sd, ci95_low,
        ci95_high, p_benefit, p_mcid, rho_mean, warning`` then ``n_baseline, baseline_mean,
        p_mcid_rel``; effect = active minus placebo.  Binary/count outcomes: the effect is the log
        odds / rate ratio, ``p_mcid``, ``p_mcid_rel`` and ``rho_mean`` are left out and
        ``difference_mean, difference_sd, p_ratio_reduction, p_log_ratio_mcid`` follow.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(3)
    >>> arm = np.repeat(["active", "placebo", "placebo", "active"], 7)
    >>> y = 6.0 - 1.5 * (arm == "active") + rng.normal(0, 1, arm.size)
    >>> frame = pd.DataFrame({"trial_id": "A", "day": np.arange(28), "arm": arm, "value": y})
    >>> res = fit_trials(frame)
    >>> res[["trial_id", "n_active", "effect_mean", "p_benefit"]].round(3).to_string(index=False)
    'trial_id  n_active  effect_mean  p_benefit\\n       A        14       -1.542      0.994'
    """
    options = FitOptions(
        mcid=mcid,
        relative_mcid=relative_mcid,
        trend=trend,
        higher_is_better=higher_is_better,
        prior=prior,
        rho_prior=rho_prior,
    )
    if outcome_type not in OUTCOME_TYPES:
        raise ValidationError(
            "outcome_type", "unknown outcome type", value=outcome_type, allowed=OUTCOME_TYPES
        )
    trials = trials_from_frame(frame)
    fit = fit_batch(
        trials.values,
        trials.arm,
        options,
        outcome_type=outcome_type,
        backend=backend,
        serial=serial,
        progress=progress,
        client=client,
        warn=warn,
    )
    out = fit.to_frame()
    out.insert(0, "outcome", trials.outcome)
    out.insert(0, "trial_id", trials.trial_id)
    if outcome_type == "continuous":
        return pd.DataFrame(out[RESULT_COLUMNS + EXTRA_COLUMNS])
    columns = [c for c in RESULT_COLUMNS + EXTRA_COLUMNS if c in out.columns] + DISCRETE_COLUMNS
    return pd.DataFrame(out[columns])
