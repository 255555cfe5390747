"""The posterior kernel of the continuous model: the rho quadrature and the Student-t mixture.

Given the gap-grouped sufficient statistics (``continuous.sufficient_statistics``), each node of a
Gauss–Legendre rule over ``rho`` gives ``beta`` a Student-t conditional posterior
(``rho_conditionals``); the posterior of ``beta`` is their mixture, whose CDF, density and
equal-tailed quantiles are computed here. See ``microtrial.analysis.continuous`` for the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from microtrial.analysis._tdist import TTable, t_cdf, t_pdf
from microtrial.errors import ValidationError

if TYPE_CHECKING:  # continuous imports this module; the prior is only read here
    from microtrial.analysis.continuous import BetaPrior

__all__ = [
    "DEFAULT_RHO_PRIOR",
    "RHO_BOUND",
    "UNIFORM_RHO_PRIOR",
    "RhoConditionals",
    "RhoPrior",
    "mixture_cdf",
    "mixture_pdf",
    "mixture_quantiles",
    "rho_conditionals",
    "rho_grid",
    "unique_entries",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

RHO_BOUND = 0.95


@dataclass(frozen=True)
class RhoPrior:
    """Prior of ``rho`` with density ∝ (1 + rho)^(a - 1) (1 - rho)^(b - 1) on (-0.95, 0.95).

    ``a = b = 1`` is the uniform prior; every exponent gives a proper prior because the range
    stops short of ±1.  See docs/ANALYSIS.md ("Prior of rho") for the default.
    """

    a: float = 1.0
    b: float = -0.25

    def __post_init__(self) -> None:
        for name in ("a", "b"):
            value = getattr(self, name)
            # Steeper densities near ±0.95 would need more nodes than the default grid: at -2 it
            # still agrees with a 400-node rule to < 1e-6, at -5 only to 1e-5.
            if not (np.isfinite(value) and -2.0 <= value <= 50.0):
                raise ValidationError(f"rho_prior.{name}", "must be in [-2, 50]", value=value)

    def log_density(self, rho: FloatArray) -> FloatArray:
        """Log prior density of ``rho`` up to a constant."""
        dens = (self.a - 1.0) * np.log1p(rho) + (self.b - 1.0) * np.log1p(-rho)
        return np.asarray(dens, dtype=np.float64)


UNIFORM_RHO_PRIOR = RhoPrior(1.0, 1.0)
DEFAULT_RHO_PRIOR = RhoPrior()


def rho_grid(
    n_max: int, n_nodes: int | None = None, rho_prior: RhoPrior = DEFAULT_RHO_PRIOR
) -> tuple[FloatArray, FloatArray]:
    """Gauss–Legendre nodes on (-0.95, 0.95), finer for longer trials, and log weights.

    The log weights include the log prior density of ``rho``, so that every later sum over the
    nodes is a posterior expectation under that prior.
    """
    if n_nodes is None:
        # The log posterior of rho is smooth with width ~ 1/sqrt(n), so Gauss-Legendre converges
        # geometrically: 4 sqrt(n) nodes agree with a 400-node rule to < 1e-8 (see the tests).
        n_nodes = int(min(400, max(32, np.ceil(4.0 * np.sqrt(max(n_max, 1))))))
    x, w = np.polynomial.legendre.leggauss(n_nodes)
    nodes = RHO_BOUND * x
    return nodes, np.log(w) + rho_prior.log_density(nodes)


def unique_entries(q: int) -> tuple[dict[tuple[int, int], int], IntArray, IntArray]:
    """The upper-triangle entries of a q x q cross-product matrix: index map and rows, cols."""
    iu, ju = np.triu_indices(q)
    index = {(int(i), int(j)): k for k, (i, j) in enumerate(zip(iu, ju, strict=True))}
    return index, iu.astype(np.int64), ju.astype(np.int64)


@dataclass(frozen=True)
class RhoConditionals:
    """Per (rho node, trial): log posterior weight, and the t location/scale of beta."""

    log_weight: FloatArray  # (R, T) unnormalised
    b_hat: FloatArray  # (R, T)
    scale: FloatArray  # (R, T)
    nu: IntArray  # (T,)
    degenerate: npt.NDArray[np.bool_]  # (T,) zero residual variance
    singular: npt.NDArray[np.bool_]  # (T,) beta not identifiable


def rho_conditionals(
    stats: FloatArray,
    gaps: IntArray,
    counts: IntArray,
    n: IntArray,
    nodes: FloatArray,
    log_w: FloatArray,
    trend: bool,
    prior: BetaPrior | None,
) -> RhoConditionals:
    """Combine the sufficient statistics over the rho grid into conditional posteriors of beta."""
    q = 4 if trend else 3
    index, _, _ = unique_entries(q)
    n_ent = len(index)
    n_stats, _, n_trials = stats.shape
    r = np.power(nodes[:, None], gaps[None, :].astype(np.float64))  # (R, G)
    one_m = 1.0 - r * r
    coef = np.concatenate([np.ones((nodes.size, 1)), r * r / one_m, -r / one_m], axis=1)
    m = (coef @ stats.reshape(n_stats, n_ent * n_trials)).reshape(nodes.size, n_ent, n_trials)
    log_jac = -0.5 * (np.log(one_m) @ counts.astype(np.float64))  # (R, T)

    ent: dict[tuple[int, int], FloatArray] = {key: m[:, k, :] for key, k in index.items()}
    b, yy = q - 2, q - 1  # position of beta and y
    if prior is not None:
        prec = 1.0 / prior.sd_in_sigma**2
        ent[(b, b)] = ent[(b, b)] + prec
        ent[(b, yy)] = ent[(b, yy)] + prec * prior.mean
        ent[(yy, yy)] = ent[(yy, yy)] + prec * prior.mean**2
    scale_ref = np.maximum(ent[(b, b)], 1e-300)
    logdet = np.zeros((nodes.size, n_trials))
    tiny = 1e-300
    with np.errstate(divide="ignore", invalid="ignore"):
        for k in range(b):  # eliminate the nuisance regressors (intercept, trend)
            piv = ent[(k, k)]
            logdet += np.log(np.maximum(piv, tiny))
            inv = 1.0 / np.where(piv > tiny, piv, np.inf)
            for i in range(k + 1, q):
                f = ent[(k, i)] * inv
                for j in range(i, q):
                    ent[(i, j)] = ent[(i, j)] - f * ent[(k, j)]
        a_bb, a_by, a_yy = ent[(b, b)], ent[(b, yy)], ent[(yy, yy)]
        singular_rt = a_bb <= 1e-10 * scale_ref
        a_bb_safe = np.where(singular_rt, 1.0, a_bb)
        b_hat = a_by / a_bb_safe
        ssr = a_yy - a_by * b_hat
        logdet += np.log(a_bb_safe)
        yy_total = stats[0, index[(yy, yy)], :] + (0.0 if prior is None else prior.mean**2)
        zero_var_rt = ssr <= 1e-13 * np.maximum(yy_total, 1e-300)[None, :]
        ssr_safe = np.where(zero_var_rt, 1.0, ssr)
    p = q - 1
    nu = n - p + (1 if prior is not None else 0)
    nu_f = np.maximum(nu, 1).astype(np.float64)
    singular = singular_rt.any(axis=0) | (nu < 1)
    degenerate = zero_var_rt.any(axis=0) & ~singular
    log_weight = -0.5 * logdet - 0.5 * nu_f[None, :] * np.log(ssr_safe) + log_jac + log_w[:, None]
    scale = np.sqrt(np.maximum(ssr_safe, 0.0) / a_bb_safe / nu_f[None, :])
    return RhoConditionals(log_weight, b_hat, scale, nu.astype(np.int64), degenerate, singular)


def mixture_cdf(
    x: FloatArray,
    w: FloatArray,
    b: FloatArray,
    s: FloatArray,
    nu: IntArray,
    row: IntArray,
    tab: TTable,
) -> FloatArray:
    """CDF at ``x`` (..., T) of the t mixture with components (K, T)."""
    z = (x[..., None, :] - b) / s
    return np.asarray((w * t_cdf(z, row, tab, nu)).sum(axis=-2), np.float64)


def mixture_pdf(
    x: FloatArray, w: FloatArray, b: FloatArray, s: FloatArray, nu: IntArray, log_norm: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Density and its derivative at ``x`` of the t mixture."""
    z = (x[..., None, :] - b) / s
    nu_f = nu.astype(np.float64)
    dens = w * t_pdf(z, log_norm, nu) / s
    slope = dens * (-(nu_f + 1.0) * z / (nu_f + z * z)) / s
    return np.asarray(dens.sum(axis=-2), np.float64), np.asarray(slope.sum(axis=-2), np.float64)


def mixture_quantiles(
    probs: FloatArray,
    start: FloatArray,
    w: FloatArray,
    b: FloatArray,
    s: FloatArray,
    nu: IntArray,
    tab: TTable,
) -> FloatArray:
    """Solve ``F(x) = p`` for each prob (P,) and trial (T,) by Halley steps kept in a bracket.

    Each iteration works only on the problems not yet converged, so the few trials whose rho
    posterior is spread out (heavy-tailed mixtures) fall back to bisection without slowing the rest.
    """
    n_p, n_t = start.shape
    row_all = tab.index_of(nu)
    lo = np.tile((b - 200.0 * s).min(axis=0), n_p)
    hi = np.tile((b + 200.0 * s).max(axis=0), n_p)
    x = np.clip(start.ravel(), lo, hi)
    target = np.repeat(probs, n_t)
    active = np.arange(n_p * n_t)
    for _ in range(200):
        if active.size == 0:
            break
        t = active % n_t
        wa, ba, sa, nua, rowa = w[:, t], b[:, t], s[:, t], nu[t], row_all[t]
        xa = x[active]
        f = mixture_cdf(xa, wa, ba, sa, nua, rowa, tab) - target[active]
        lo_a = np.where(f < 0, xa, lo[active])
        hi_a = np.where(f >= 0, xa, hi[active])
        lo[active], hi[active] = lo_a, hi_a
        done = (np.abs(f) < 1e-9) | (hi_a - lo_a < 1e-10 * (1.0 + np.abs(xa)))
        dens, slope = mixture_pdf(xa, wa, ba, sa, nua, tab.log_norm[rowa])
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            step = xa - 2.0 * f * dens / (2.0 * dens * dens - f * slope)  # Halley
        ok = np.isfinite(step) & (step > lo_a) & (step < hi_a)
        x[active] = np.where(done, xa, np.where(ok, step, 0.5 * (lo_a + hi_a)))
        active = active[~done]
    return x.reshape(n_p, n_t)
