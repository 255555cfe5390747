"""The exact posterior density and distribution function of one trial's effect, for plots.

The continuous model's posterior of ``beta`` (active minus placebo) is a mixture of Student-t
distributions over the ``rho`` grid (see :mod:`microtrial.analysis.continuous`).  This module
rebuilds that mixture for a single trial with the engine's own functions (same sufficient
statistics, same grid, same weights) and evaluates its density and CDF anywhere, so that a report
can draw the curve and read off probabilities at thresholds the engine does not summarise
(e.g. a 2-point or a 50 % improvement).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import special

from microtrial.analysis.continuous import BetaPrior, sufficient_statistics
from microtrial.analysis.frames import trials_from_frame
from microtrial.analysis.posterior_kernel import (
    DEFAULT_RHO_PRIOR,
    RhoPrior,
    rho_conditionals,
    rho_grid,
)
from microtrial.errors import ValidationError

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class EffectPosterior:
    """The posterior of one trial's effect as a t mixture: weights, locations, scales, df."""

    weights: FloatArray
    locations: FloatArray
    scales: FloatArray
    df: int

    def pdf(self, x: npt.ArrayLike) -> FloatArray:
        """Posterior density at ``x``."""
        xs = np.asarray(x, dtype=np.float64)
        z = (xs[..., None] - self.locations) / self.scales
        nu = float(self.df)
        log_norm = (
            special.gammaln((nu + 1) / 2) - special.gammaln(nu / 2) - 0.5 * np.log(nu * np.pi)
        )
        dens = np.exp(log_norm - 0.5 * (nu + 1.0) * np.log1p(z * z / nu)) / self.scales
        return np.asarray((self.weights * dens).sum(axis=-1), dtype=np.float64)

    def cdf(self, x: npt.ArrayLike) -> FloatArray:
        """Posterior probability that the effect is at most ``x``."""
        xs = np.asarray(x, dtype=np.float64)
        z = (xs[..., None] - self.locations) / self.scales
        return np.asarray((self.weights * special.stdtr(float(self.df), z)).sum(axis=-1), float)

    def mean(self) -> float:
        """Posterior mean."""
        return float((self.weights * self.locations).sum())

    def grid(self, n: int = 400, *, tail: float = 1e-4) -> tuple[FloatArray, FloatArray]:
        """``n`` points covering all but ``tail`` of the mass at each end, and the density there."""
        lo, hi = self.quantile(tail), self.quantile(1.0 - tail)
        x = np.linspace(lo, hi, n)
        return x, self.pdf(x)

    def quantile(self, p: float) -> float:
        """Equal-tailed quantile by bisection on the CDF."""
        if not 0.0 < p < 1.0:
            raise ValidationError("p", "must be strictly between 0 and 1", value=p)
        spread = 200.0 * float(self.scales.max())
        lo = float(self.locations.min()) - spread
        hi = float(self.locations.max()) + spread
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            if float(self.cdf(mid)) < p:
                lo = mid
            else:
                hi = mid
            if hi - lo < 1e-12 * (1.0 + abs(mid)):
                break
        return 0.5 * (lo + hi)


def effect_posterior(
    frame: pd.DataFrame,
    *,
    trend: bool = True,
    prior: BetaPrior | None = None,
    rho_prior: RhoPrior | None = None,
    rho_nodes: int | None = None,
) -> EffectPosterior:
    """The exact posterior of ``beta`` for the one trial in a long diary frame.

    Takes the same frame and settings as :func:`microtrial.analysis.fit_trials` (one trial, one
    outcome) and returns the t mixture whose mean and quantiles are the engine's ``effect_mean``,
    ``ci95_low`` and ``ci95_high``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(3)
    >>> arm = np.repeat(["active", "placebo", "placebo", "active"], 7)
    >>> y = 6.0 - 1.5 * (arm == "active") + rng.normal(0, 1, arm.size)
    >>> frame = pd.DataFrame({"trial_id": "A", "day": np.arange(28), "arm": arm, "value": y})
    >>> round(effect_posterior(frame).mean(), 3)
    -1.542
    """
    trials = trials_from_frame(frame)
    if trials.values.shape[0] != 1:
        raise ValidationError(
            "frame", "needs exactly one trial and outcome", value=trials.values.shape[0]
        )
    stats, gaps, counts, n = sufficient_statistics(trials.values, trials.arm, trend)
    nodes, log_w = rho_grid(int(n.max(initial=1)), rho_nodes, rho_prior or DEFAULT_RHO_PRIOR)
    cond = rho_conditionals(stats, gaps, counts, n, nodes, log_w, trend, prior)
    if bool(cond.singular[0]) or bool(cond.degenerate[0]):
        raise ValidationError("frame", "the effect has no continuous posterior for this trial")
    lw = cond.log_weight[:, 0] - cond.log_weight[:, 0].max()
    w = np.exp(lw)
    w /= w.sum()
    keep = w > 1e-14
    return EffectPosterior(
        weights=w[keep] / w[keep].sum(),
        locations=np.asarray(cond.b_hat[keep, 0], dtype=np.float64),
        scales=np.asarray(cond.scale[keep, 0], dtype=np.float64),
        df=int(max(int(cond.nu[0]), 1)),
    )
