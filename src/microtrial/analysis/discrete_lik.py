"""Likelihoods and the batched integrated-nested-Laplace machinery of the discrete models.

Two likelihoods share one computation: days independent given the linear predictor
(Bernoulli / Poisson per day, ``DayLikelihood``) and period totals with extra variation between
periods (beta-binomial / negative-binomial per period, ``PeriodLikelihood``).  Rows are trials
(or trial x overdispersion-node pairs); the last axis is days or periods.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt
from scipy import special

FloatArray = npt.NDArray[np.float64]

PRIOR_SD = np.array([10.0, 2.5, 2.5])  # mu, beta, delta
AGHQ_NODES = 3
HESSIAN = "fdk,fd,fdl->fkl"  # einsum of X' W X per row


@dataclass(frozen=True)
class Design:
    """One chunk's model inputs: masked outcome, in-model mask and design matrix."""

    y: FloatArray  # (R, D) outcome (a day's value or a period's total), 0 where not in the model
    m: FloatArray  # (R, D) 1.0 where in the model
    x: FloatArray  # (R, D, q) columns mu, beta[, delta]


class Likelihood(Protocol):
    """Log-likelihood of the rows, with the score and a positive weight per unit of ``eta``."""

    def loglik(self, y: FloatArray, eta: FloatArray, m: FloatArray) -> FloatArray:
        """Sum over the last axis of ``m * log p(y | eta)``; rows broadcast from the left."""
        ...

    def score_weight(
        self, y: FloatArray, eta: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray | None]:
        """``d log p / d eta``, the observed and the (positive) expected information.

        The expected information is None where it equals the observed (a canonical link).
        """
        ...

    def start(self, d: Design) -> FloatArray:
        """Starting value of ``mu`` per row."""
        ...

    def rows(self, index: npt.NDArray[np.intp]) -> Likelihood:
        """The likelihood of the rows ``index`` only (for per-row parameters)."""
        ...


def _rows(a: FloatArray, ndim: int, last: bool) -> FloatArray:
    """``a`` (R[, D]) reshaped to broadcast against an array of ``ndim`` axes (R, ..., D)."""
    if last:
        return a.reshape(a.shape[0], *([1] * (ndim - 2)), a.shape[1])
    return a.reshape(a.shape[0], *([1] * (ndim - 1)))


def _rising_sums(a: FloatArray, k: FloatArray) -> tuple[FloatArray, FloatArray]:
    """``sum_{i<k} 1/(a+i)`` and ``sum_{i<k} 1/(a+i)^2`` for whole ``k``.

    These are ``digamma(k + a) - digamma(a)`` and ``trigamma(a) - trigamma(k + a)``; summing the
    few terms (k is at most a period's length) is exact where ``a`` is tiny and faster than
    scipy's polygamma.
    """
    shape = np.broadcast_shapes(a.shape, k.shape)
    s1, s2 = np.zeros(shape), np.zeros(shape)
    for i in range(int(k.max(initial=0.0))):
        t = np.where(k > i, 1.0 / (a + i), 0.0)
        s1 += t
        s2 += t * t
    return s1, s2


@dataclass(frozen=True)
class DayLikelihood:
    """Bernoulli (binary) or Poisson (count) days, independent given ``eta``."""

    kind: str

    def loglik(self, y: FloatArray, eta: FloatArray, m: FloatArray) -> FloatArray:
        """Sum over days of ``m * log p(y | eta)``."""
        if self.kind == "binary":
            return np.asarray((m * (y * eta - np.logaddexp(0.0, eta))).sum(axis=-1), np.float64)
        return np.asarray((m * (y * eta - np.exp(np.minimum(eta, 50.0)))).sum(axis=-1), np.float64)

    def score_weight(
        self, y: FloatArray, eta: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray | None]:
        """Canonical link: score ``y - mean``, information the variance (no separate expected)."""
        if self.kind == "binary":
            p = special.expit(eta)
            return y - p, p * (1.0 - p), None
        lam = np.exp(np.minimum(eta, 50.0))
        return y - lam, lam, None

    def start(self, d: Design) -> FloatArray:
        """Log of the mean count (counts) or 0 (binary)."""
        if self.kind == "binary":
            return np.zeros(d.y.shape[0])
        rate = (d.m * d.y).sum(axis=1) / np.maximum(d.m.sum(axis=1), 1.0)
        return np.asarray(np.log(np.maximum(rate, 0.05)), np.float64)

    def rows(self, index: npt.NDArray[np.intp]) -> Likelihood:  # noqa: ARG002 (protocol)
        """No per-row parameters: the same likelihood."""
        return self


@dataclass(frozen=True)
class PeriodLikelihood:
    """Period totals: beta-binomial (binary days) or negative-binomial (counts).

    ``eta`` is the per-day logit (log rate).  ``days`` (R, P) are the observed days per period;
    ``dispersion`` (R,) is the beta-binomial intra-period correlation ``rho`` or the
    negative-binomial ``phi`` (variance ``M + phi M^2`` for a period mean ``M``).
    """

    kind: str
    days: FloatArray
    dispersion: FloatArray

    def loglik(self, y: FloatArray, eta: FloatArray, m: FloatArray) -> FloatArray:
        """Sum over periods of ``m * log p(total | eta)`` (terms free of ``eta`` included)."""
        n = _rows(self.days, eta.ndim, last=True)
        od = _rows(self.dispersion, eta.ndim, last=False)
        if self.kind == "binary":
            s = (1.0 - od) / od
            a = special.expit(np.clip(eta, -35.0, 35.0)) * s  # a, b > 0: gammaln stays finite
            b = s - a
            ll = (
                special.gammaln(y + a)
                - special.gammaln(a)
                + special.gammaln(n - y + b)
                - special.gammaln(b)
                - special.gammaln(n + s)
                + special.gammaln(s)
            )
        else:
            r = 1.0 / od
            mean = n * np.exp(np.minimum(eta, 50.0))
            ll = (
                special.gammaln(y + r)
                - special.gammaln(r)
                + r * (np.log(r) - np.log(r + mean))
                + y * (np.log(np.maximum(mean, 1e-300)) - np.log(r + mean))
            )
        return np.asarray((m * ll).sum(axis=-1), np.float64)

    def score_weight(
        self, y: FloatArray, eta: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray | None]:
        """Exact score, observed information and the quasi-likelihood (expected) information."""
        n = _rows(self.days, eta.ndim, last=True)
        od = _rows(self.dispersion, eta.ndim, last=False)
        if self.kind == "binary":
            p = special.expit(np.clip(eta, -35.0, 35.0))
            s = (1.0 - od) / od
            a, b = p * s, (1.0 - p) * s
            d1a, d2a = _rising_sums(a, y)
            d1b, d2b = _rising_sums(b, n - y)
            dpsi = d1a - d1b  # digamma(y+a) - digamma(a) - digamma(n-y+b) + digamma(b)
            g = s * p * (1.0 - p)
            observed = g**2 * (d2a + d2b) - g * (1.0 - 2.0 * p) * dpsi
            expected = n * p * (1.0 - p) / (1.0 + (n - 1.0) * od)
            return g * dpsi, observed, expected
        r = 1.0 / od
        mean = n * np.exp(np.minimum(eta, 50.0))
        observed = (y + r) * mean * r / (r + mean) ** 2
        return r * (y - mean) / (r + mean), observed, mean * r / (r + mean)

    def start(self, d: Design) -> FloatArray:
        """Logit of the overall share (binary) or log of the overall daily rate (counts)."""
        total = (d.m * d.y).sum(axis=1)
        days = np.maximum((d.m * self.days).sum(axis=1), 1.0)
        share = np.clip(total / days, 0.02, 0.98)
        if self.kind == "binary":
            return np.asarray(special.logit(share), np.float64)
        return np.asarray(np.log(np.maximum(total / days, 0.05)), np.float64)

    def rows(self, index: npt.NDArray[np.intp]) -> Likelihood:
        """The period sizes and dispersion of the rows ``index``."""
        return PeriodLikelihood(self.kind, self.days[index], self.dispersion[index])


def _newton_hessian(
    x: FloatArray,
    m: FloatArray,
    w_obs: FloatArray,
    w_exp: FloatArray | None,
    prec: FloatArray,
    spec: str,
) -> FloatArray:
    """The observed negative Hessian where it is positive definite, else the expected one."""
    obs = np.einsum(spec, x, m * w_obs, x) + np.diag(prec)
    if w_exp is None:  # canonical link: the observed information is positive
        return np.asarray(obs, np.float64)
    exp = np.einsum(spec, x, m * w_exp, x) + np.diag(prec)
    pd = np.linalg.eigvalsh(obs)[..., 0] > 0.0
    return np.asarray(np.where(pd[..., None, None], obs, exp), np.float64)


Evaluate = Callable[[FloatArray, npt.NDArray[np.intp]], tuple[FloatArray, FloatArray, FloatArray]]


def _maximise(
    start: FloatArray, evaluate: Evaluate, iterations: int
) -> tuple[FloatArray, FloatArray]:
    """Batched Newton ascent with a per-row trust radius; returns the maxima and Hessians.

    ``start`` is (N, k); ``evaluate(p, index)`` gives, for the rows ``index`` at ``p``, the
    objective, gradient and negative Hessian.  A step that lowers a row's objective is refused
    and the row's radius shrinks, so rows whose objective is not concave far from the mode (the
    beta-binomial) still climb to it; rows that have converged are no longer evaluated.
    """
    p = start.copy()
    f, g, h = evaluate(p, np.arange(p.shape[0]))
    radius = np.full(f.shape, 3.0)
    active = np.arange(p.shape[0])
    for _ in range(iterations):
        step = np.linalg.solve(h[active], g[active][..., None])[..., 0]
        size = np.abs(step).max(axis=-1)
        step *= np.minimum(1.0, radius[active] / np.maximum(size, 1e-300))[..., None]
        f_new, g_new, h_new = evaluate(p[active] + step, active)
        ok = np.isfinite(f_new) & (f_new >= f[active] - 1e-9 * np.maximum(np.abs(f[active]), 1.0))
        moved = active[ok]
        p[moved] += step[ok]
        f[moved], g[moved], h[moved] = f_new[ok], g_new[ok], h_new[ok]
        rad = radius[active]
        radius[active] = np.where(ok, np.minimum(2.0 * rad, 3.0), 0.25 * np.minimum(rad, size))
        done = np.where(ok, size, radius[active]) < 1e-10
        active = active[~done]
        if active.size == 0:
            break
    return p, h


def joint_mode(lik: Likelihood, d: Design) -> tuple[FloatArray, FloatArray]:
    """Posterior mode and covariance of (mu, beta[, delta]) per row."""
    y, x, m = d.y, d.x, d.m
    n_rows, q = y.shape[0], x.shape[2]
    prec = 1.0 / PRIOR_SD[:q] ** 2
    theta = np.zeros((n_rows, q))
    theta[:, 0] = lik.start(d)

    def evaluate(
        t: FloatArray, idx: npt.NDArray[np.intp]
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        xi, yi, mi, li = x[idx], y[idx], m[idx], lik.rows(idx)
        eta = np.einsum("fdk,fk->fd", xi, t)
        score, w_obs, w_exp = li.score_weight(yi, eta)
        objective = li.loglik(yi, eta, mi) - 0.5 * (prec * t**2).sum(axis=-1)
        grad = np.einsum("fdk,fd->fk", xi, mi * score) - prec * t
        return objective, grad, _newton_hessian(xi, mi, w_obs, w_exp, prec, HESSIAN)

    theta, hess = _maximise(theta, evaluate, 100)
    return theta, np.asarray(np.linalg.inv(hess), dtype=np.float64)


def conditional_modes(
    lik: Likelihood,
    d: Design,
    theta: FloatArray,
    cov: FloatArray,
    grid: FloatArray,
    nuis: list[int],
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Mode and Hessian of the nuisance parameters at each beta on the grid (batched)."""
    pn = 1.0 / PRIOR_SD[nuis] ** 2
    c_nb = cov[:, nuis][:, :, [1]][:, :, 0]  # cov(nuisance, beta)
    start = (
        theta[:, nuis][:, None, :]
        + (grid - theta[:, 1:2])[:, :, None] * (c_nb / cov[:, 1, 1][:, None])[:, None, :]
    )  # (T, G, k)
    n_rows, n_grid, k = start.shape
    xn = d.x[:, :, nuis]  # (T, D, k)

    def evaluate(
        e: FloatArray, idx: npt.NDArray[np.intp]
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        t = idx // n_grid
        xi, yi, mi, li = xn[t], d.y[t], d.m[t], lik.rows(t)
        eta = np.einsum("fdk,fk->fd", xi, e) + grid.ravel()[idx][:, None] * d.x[t, :, 1]
        score, w_obs, w_exp = li.score_weight(yi, eta)
        objective = li.loglik(yi, eta, mi) - 0.5 * (pn * e**2).sum(axis=-1)
        grad = np.einsum("fdk,fd->fk", xi, mi * score) - pn * e
        return objective, grad, _newton_hessian(xi, mi, w_obs, w_exp, pn, HESSIAN)

    eta_n, h = _maximise(start.reshape(n_rows * n_grid, k), evaluate, 40)
    off = grid[:, :, None] * d.x[:, None, :, 1]  # (T, G, D)
    return eta_n.reshape(n_rows, n_grid, k), h.reshape(n_rows, n_grid, k, k), off


def log_marginal(
    lik: Likelihood,
    d: Design,
    grid: FloatArray,
    nuis: list[int],
    eta_n: FloatArray,
    h: FloatArray,
    off: FloatArray,
) -> FloatArray:
    """Log posterior of beta on the grid, nuisance integrated out (constants common to all rows
    dropped, so rows with different overdispersion compare on one scale).

    Adaptive Gauss-Hermite quadrature (3 nodes per nuisance dimension) around the conditional
    mode: exact for the Gaussian part and corrects the Laplace error from skewness.
    """
    pn = 1.0 / PRIOR_SD[nuis] ** 2
    k = len(nuis)
    gh_x, gh_w = np.polynomial.hermite_e.hermegauss(AGHQ_NODES)
    mesh = np.stack(np.meshgrid(*([gh_x] * k), indexing="ij"), axis=-1).reshape(-1, k)
    log_wz = np.log(np.prod(np.meshgrid(*([gh_w] * k), indexing="ij"), axis=0).ravel())
    log_wz += 0.5 * (mesh**2).sum(axis=1)
    chol = np.linalg.cholesky(np.linalg.inv(h))  # (T, G, k, k)
    points = eta_n[:, :, None, :] + np.einsum("tgkl,jl->tgjk", chol, mesh)  # (T, G, J, k)
    eta_j = np.einsum("tdk,tgjk->tgjd", d.x[:, :, nuis], points) + off[:, :, None, :]
    logf = (
        lik.loglik(d.y[:, None, None, :], eta_j, d.m[:, None, None, :])
        - 0.5 * (pn * points**2).sum(axis=3)
        + log_wz
    )
    top = logf.max(axis=2, keepdims=True)
    log_int = np.log(np.exp(logf - top).sum(axis=2)) + top[:, :, 0]
    prec_beta = 1.0 / PRIOR_SD[1] ** 2
    return np.asarray(log_int - 0.5 * grid**2 * prec_beta - 0.5 * np.linalg.slogdet(h)[1])


def interp_rows(x: FloatArray, xp: FloatArray, fp: FloatArray) -> FloatArray:
    """``np.interp(x[i], xp[i], fp[i])`` for every row ``i`` at once (``xp`` rows increasing)."""
    n, size = xp.shape
    rows = np.arange(n)
    # np.interp's bracket: the last j with xp[j] <= x (clipped to the ends).
    j = (xp <= x[:, None]).sum(axis=1) - 1
    j = np.clip(j, 0, size - 2)
    x0, x1, f0, f1 = xp[rows, j], xp[rows, j + 1], fp[rows, j], fp[rows, j + 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = (f1 - f0) / (x1 - x0)
        out = slope * (x - x0) + f0
        retry = slope * (x - x1) + f1
    out = np.where(np.isnan(out), retry, out)
    out = np.where(np.isnan(out) & (f0 == f1), f0, out)
    out = np.where(x == x0, f0, out)
    out = np.where(x >= xp[:, -1], fp[:, -1], out)
    return np.asarray(np.where(x < xp[:, 0], fp[:, 0], out), dtype=np.float64)
