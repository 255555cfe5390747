"""Monte-Carlo power of an n-of-1 design, simulated and fitted with the batched engine."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from microtrial.analysis.continuous import FitOptions, fit_arrays
from microtrial.analysis.simulate import simulate_trials
from microtrial.errors import ValidationError


@dataclass(frozen=True)
class PowerResult:
    """Share of simulated trials whose P(benefit) exceeds the threshold, and interval widths."""

    power: float
    power_mc_se: float
    expected_width: float
    mean_p_benefit: float
    n_sim: int
    threshold: float

    def as_dict(self) -> dict[str, float | int]:
        """Plain dict (JSON-ready)."""
        return asdict(self)


def power(
    *,
    effect: float = -1.0,
    sd: float = 1.5,
    rho: float = 0.3,
    run_in: int = 14,
    pairs: int = 3,
    period_length: int = 14,
    wash_in: int = 2,
    missing: float = 0.1,
    threshold: float = 0.95,
    n_sim: int = 2000,
    mcid: float = 1.0,
    trend: bool = True,
    rng: np.random.Generator,
) -> PowerResult:
    """Probability that a trial of this design ends with P(benefit) > ``threshold``.

    Benefit is a negative effect (lower is better); ``expected_width`` is the mean width of the
    95 % credible interval.

    Examples
    --------
    >>> res = power(effect=-2.0, sd=1.0, n_sim=200, rng=np.random.default_rng(0))
    >>> res.power
    1.0
    """
    if n_sim < 1:
        raise ValidationError("n_sim", "must be >= 1", value=n_sim)
    if not 0.0 < threshold < 1.0:
        raise ValidationError("threshold", "must be in (0, 1)", value=threshold)
    sim = simulate_trials(
        n_sim,
        rng=rng,
        effect=effect,
        sd=sd,
        rho=rho,
        run_in=run_in,
        pairs=pairs,
        period_length=period_length,
        wash_in=wash_in,
        missing=missing,
    )
    fit = fit_arrays(sim.values, sim.arm, FitOptions(mcid=mcid, trend=trend), warn=False)
    ok = np.isfinite(fit.p_benefit)
    hits = (fit.p_benefit > threshold) & ok
    p = float(hits.mean())
    return PowerResult(
        power=p,
        power_mc_se=float(np.sqrt(p * (1 - p) / n_sim)),
        expected_width=float(np.nanmean(fit.ci95_high - fit.ci95_low)),
        mean_p_benefit=float(np.nanmean(fit.p_benefit)),
        n_sim=n_sim,
        threshold=threshold,
    )
