"""What the days inside each period say about the period model's extra variation ``c``.

Six period totals say little about how much periods vary, so the period model's share ``c`` is
also informed by the arrangement of days within periods.  Within a period the days are modelled
as a Gaussian series with a constant mean (the period's own level, unknown) and covariance
``sigma^2 [(1 - a) I + a R(phi)]``: a white part (binomial / Poisson noise) and a persistent
AR(1) part of share ``a`` and lag-1 correlation ``phi`` (a latent AR(1) process seen through
binary or Poisson days has this shape: attenuated, slowly decaying correlations).  A period
total of ``n`` days then has variance ``sigma^2 n (1 + 2 a S_n(phi))`` with
``S_n(phi) = sum_{k=1}^{n-1} (1 - k/n) phi^k``, so the factor beyond binomial / Poisson is

* headache days (``sigma^2`` is the day's Bernoulli variance): ``VF = 1 + 2 a S_n(phi)``;
* attacks (``sigma^2 = s * mean``, ``s`` the day-level overdispersion):
  ``VF = s (1 + 2 a S_n(phi))``;

and ``c = 1 - 1 / VF``.  The likelihood used is the REML likelihood of the within-period
contrasts (each period's days less their generalised-least-squares mean): under the Gaussian
model it is independent of the period totals, so multiplying it with the beta-binomial /
negative-binomial likelihood of the totals counts no information twice, and it is free of the
effect and the baseline level.  It is computed by a Kalman filter per period (missing days
skipped), batched over trials, periods and parameter values.

Priors: ``c ~ Uniform(0, 1)`` as before, ``phi ~ Uniform(0, 0.95)`` (a uniform over the values
that can produce ``c``, for headache days ``a <= 1``), for attacks ``a ~ Uniform(0, 1)``; for
headache days ``sigma^2`` is profiled (the within-period sum of squares of 0/1 days is fixed by
the totals, so only the arrangement informs).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

MAX_PHI = 0.95
N_PHI = 16  # headache days: phi values per c node
N_PHI_COUNT = 8  # attacks: phi values ...
N_SHARE_COUNT = 8  # ... times persistent shares a
_PHI = MAX_PHI * (np.arange(N_PHI) + 0.5) / N_PHI
_PHI_COUNT = MAX_PHI * (np.arange(N_PHI_COUNT) + 0.5) / N_PHI_COUNT
_SHARE_COUNT = (np.arange(N_SHARE_COUNT) + 0.5) / N_SHARE_COUNT


def period_days(
    y: FloatArray, in_model: npt.NDArray[np.bool_], ids: IntArray
) -> tuple[FloatArray, FloatArray]:
    """Days laid out per period: ``(T, P, L)`` outcome and mask (day ``j`` of its period)."""
    n_trials, n_days = y.shape
    n_per = max(int(ids.max(initial=-1)) + 1, 1)
    flat = np.where(ids >= 0, ids + n_per * np.arange(n_trials)[:, None], n_trials * n_per)
    start = np.full(n_trials * n_per + 1, n_days, dtype=np.int64)
    np.minimum.at(start, flat.ravel(), np.tile(np.arange(n_days), n_trials))
    pos = np.arange(n_days)[None, :] - start[flat]
    length = int(pos[ids >= 0].max(initial=0)) + 1
    out_y = np.zeros((n_trials * n_per + 1, length))
    out_m = np.zeros((n_trials * n_per + 1, length))
    keep = (ids >= 0) & in_model
    out_y[flat[keep], pos[keep]] = y[keep]
    out_m[flat[keep], pos[keep]] = 1.0
    shape = (n_trials, n_per, length)
    return out_y[:-1].reshape(shape), out_m[:-1].reshape(shape)


def _s_n(phi: FloatArray, n: FloatArray) -> FloatArray:
    """``S_n(phi) = sum_{k=1}^{n-1} (1 - k/n) phi^k`` for real ``n >= 1`` (broadcast)."""
    # Closed form of the finite sum: phi/(1-phi) - phi (1 - phi^n) / (n (1-phi)^2).
    q = 1.0 - phi
    return np.asarray(phi / q - phi * (1.0 - phi**n) / (n * q * q), np.float64)


def _reml_pieces(
    y: FloatArray, m: FloatArray, a: FloatArray, phi: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Kalman-filter REML pieces summed over periods, per (trial, parameter value).

    ``y``, ``m``: (T, P, L); ``a``, ``phi``: (T, G).  Returns ``log det`` (the ``log|C|`` and
    ``log 1'C^-1 1`` terms), the quadratic form ``Q`` of the contrasts (both at ``sigma^2 = 1``)
    and the residual degrees of freedom ``df`` (T,).
    """
    a3, phi3 = a[:, None, :], phi[:, None, :]
    shape = (y.shape[0], y.shape[1], a.shape[1])
    nugget = 1.0 - a3
    innov = a3 * (1.0 - phi3 * phi3)
    s_y, s_1 = np.zeros(shape), np.zeros(shape)
    var = np.broadcast_to(a3, shape).copy()
    log_f, syy, s1y, s11 = np.zeros(shape), np.zeros(shape), np.zeros(shape), np.zeros(shape)
    for t in range(y.shape[2]):
        obs = m[:, :, t, None]
        f = var + nugget
        v_y, v_1 = y[:, :, t, None] - s_y, 1.0 - s_1
        w = obs / f
        log_f += obs * np.log(f)
        syy += w * v_y * v_y
        s1y += w * v_1 * v_y
        s11 += w * v_1 * v_1
        gain = w * var  # 0 on a missing day: no update
        s_y = phi3 * (s_y + gain * v_y)
        s_1 = phi3 * (s_1 + gain * v_1)
        var = phi3 * phi3 * var * (1.0 - gain) + innov
    seen = m.sum(axis=2)[:, :, None] > 0
    safe = np.where(seen, s11, 1.0)
    quad = np.where(seen, syy - s1y * s1y / safe, 0.0)
    log_det = log_f + np.log(safe)
    df = np.maximum(m.sum(axis=2) - 1.0, 0.0).sum(axis=1)
    return log_det.sum(axis=1), np.maximum(quad.sum(axis=1), 0.0), df


def _log_mean_exp(x: FloatArray, axis: int) -> FloatArray:
    """``log(mean(exp(x)))`` along ``axis``; all ``-inf`` gives ``-inf``."""
    top = np.max(x, axis=axis, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        out = np.log(np.mean(np.exp(x - top), axis=axis)) + np.squeeze(top, axis=axis)
    return np.asarray(out, np.float64)


def within_log_likelihood(
    kind: str, y: FloatArray, m: FloatArray, c: FloatArray, n: FloatArray
) -> FloatArray:
    """Log-likelihood of the within-period contrasts at each node ``c`` (T, K), up to a constant
    per trial; ``y``, ``m`` from ``period_days``; ``n`` (T,) the typical days per period.

    Zero where the days carry no within-period information (no variation inside any period).
    """
    n3 = np.maximum(n, 2.0)[:, None, None]
    vf = 1.0 / (1.0 - c)  # (T, K)
    if kind == "binary":
        # Each (c, phi) fixes a = (VF - 1) / (2 S_n(phi)); values with a > 1 cannot give c.
        s = _s_n(_PHI[None, None, :], n3)  # (T, 1, F)
        a = (vf[:, :, None] - 1.0) / (2.0 * s)  # (T, K, F)
        ok = a <= 1.0
        a_eval = np.minimum(a, 1.0)
        n_t, k = c.shape
        log_det, quad, df = _reml_pieces(
            y, m, a_eval.reshape(n_t, -1), np.broadcast_to(_PHI, a.shape).reshape(n_t, -1)
        )
        with np.errstate(divide="ignore"):
            ll = -0.5 * log_det - 0.5 * df[:, None] * np.log(quad)
        ll = np.where(ok.reshape(n_t, -1), ll, -np.inf).reshape(n_t, k, N_PHI)
        # Mean over the feasible phi only: the prior of c stays uniform.
        feasible = ok.sum(axis=2)
        with np.errstate(divide="ignore"):
            out = _log_mean_exp(ll, axis=2) + np.log(N_PHI / np.maximum(feasible, 1))
        out = np.where(feasible > 0, out, -np.inf)
    else:
        phi_grid, share_grid = np.meshgrid(_PHI_COUNT, _SHARE_COUNT, indexing="ij")
        phi, share = phi_grid.ravel(), share_grid.ravel()  # (G,)
        n_t = y.shape[0]
        log_det, quad, df = _reml_pieces(
            y, m, np.broadcast_to(share, (n_t, share.size)), np.broadcast_to(phi, (n_t, phi.size))
        )
        mean = (m * y).sum(axis=(1, 2)) / np.maximum(m.sum(axis=(1, 2)), 1.0)
        persist = 1.0 + 2.0 * share[None, :] * _s_n(phi[None, :], n3[:, 0, :])  # (T, G)
        # sigma^2 = s * mean with s = VF / persist (day-level variance over the mean).
        sigma2 = (
            vf[:, :, None] / persist[:, None, :] * np.maximum(mean, 1e-3)[:, None, None]
        )  # (T, K, G)
        ll = (
            -0.5 * log_det[:, None, :]
            - 0.5 * df[:, None, None] * np.log(sigma2)
            - 0.5 * quad[:, None, :] / sigma2
        )
        out = _log_mean_exp(ll, axis=2)
    informative = (quad.max(axis=1) > 1e-12) & (df > 0)
    out = np.where(informative[:, None], out, 0.0)
    # Constants per trial cancel in the node weights; keep the numbers moderate.
    top = np.max(np.where(np.isfinite(out), out, -np.inf), axis=1, keepdims=True)
    return np.asarray(out - np.where(np.isfinite(top), top, 0.0), np.float64)
