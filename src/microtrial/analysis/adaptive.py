"""Adaptive n-of-1 trials: the stopping rule's decisions and simulated operating characteristics.

A look after each complete pair (from ``min_pairs`` on) fits the trial so far and reads
``P(effect <= -MCID)``: at or above the benefit threshold the trial stops for benefit, at or below
the futility threshold it stops for futility, after ``max_pairs`` it stops at the maximum. The
simulation draws every trial for its longest possible length once, then fits, at each look, only
the trials still running (all trials at the fixed design's length too, for the comparison), in
one batched call of the continuous engine per look.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from microtrial.analysis.continuous import FitOptions, fit_arrays
from microtrial.analysis.simulate import simulate_trials
from microtrial.errors import ValidationError

FloatArray = npt.NDArray[np.float64]

# The effects of the operating-characteristics table (points on the 0-10 scale; lower is better).
OC_EFFECTS = (0.0, -0.5, -1.0, -1.5, -2.0)
# The realistic spread of true effects the expected length is averaged over (issue 20).
SPREAD_MEAN, SPREAD_SD = -0.5, 0.8


class Decision(StrEnum):
    """What a look decides."""

    CONTINUE = "continue"
    BENEFIT = "stop-benefit"
    FUTILITY = "stop-futility"
    MAXIMUM = "maximum-reached"


# Decisions as small integer codes in the vectorised simulation.
_CODES = (Decision.CONTINUE, Decision.BENEFIT, Decision.FUTILITY, Decision.MAXIMUM)


def decide(
    p_mcid: float,
    pairs_done: int,
    *,
    min_pairs: int,
    max_pairs: int,
    benefit: float,
    futility: float,
) -> Decision:
    """The decision of one look: ``p_mcid`` is P(effect <= -MCID) after ``pairs_done`` pairs."""
    code = decide_many(
        np.array([p_mcid]),
        pairs_done,
        min_pairs=min_pairs,
        max_pairs=max_pairs,
        benefit=benefit,
        futility=futility,
    )
    return _CODES[int(code[0])]


def decide_many(
    p_mcid: FloatArray,
    pairs_done: int,
    *,
    min_pairs: int,
    max_pairs: int,
    benefit: float,
    futility: float,
) -> npt.NDArray[np.int8]:
    """Decision codes (0 continue, 1 benefit, 2 futility, 3 maximum) of many looks at one pair.

    A look before ``min_pairs`` always continues; a failed fit (NaN: an arm without an observed
    day) decides nothing, so it continues, or reaches the maximum at the last pair.
    """
    codes = np.zeros(p_mcid.shape, dtype=np.int8)
    if pairs_done < min_pairs:
        return codes
    ok = np.isfinite(p_mcid)
    codes[ok & (p_mcid >= benefit)] = 1
    codes[ok & (p_mcid <= futility) & (codes == 0)] = 2
    if pairs_done >= max_pairs:
        codes[codes == 0] = 3
    return codes


def check_rule(min_pairs: int, max_pairs: int, benefit: float, futility: float) -> None:
    """Refuse a rule whose numbers cannot work, naming the field and what is allowed."""
    if not 1 <= min_pairs <= max_pairs:
        raise ValidationError(
            "min_pairs",
            "must be at least 1 and at most max_pairs",
            value=min_pairs,
            allowed=f"1-{max_pairs}",
        )
    if not 0.0 < benefit < 1.0:
        raise ValidationError(
            "benefit_threshold",
            "must lie in (0, 1)",
            value=benefit,
            allowed="0 < benefit_threshold < 1",
        )
    if not 0.0 <= futility < benefit:
        raise ValidationError(
            "futility_threshold",
            "must be at least 0 and below the benefit threshold",
            value=futility,
            allowed=f"0 <= futility_threshold < {benefit}",
        )


@dataclass(frozen=True)
class LookFits:
    """Per look (rows) and trial (columns): P(effect <= -MCID), posterior mean and 95 % interval.

    NaN where a trial was not fitted at that look (it had stopped) or its fit failed.
    """

    looks: tuple[int, ...]
    p_mcid: FloatArray
    mean: FloatArray
    low: FloatArray
    high: FloatArray
    effect: FloatArray


def _days(run_in: int, period_length: int, pairs: int) -> int:
    return run_in + 2 * pairs * period_length


def fit_looks(
    values: FloatArray,
    arm: npt.NDArray[np.int8],
    effect: FloatArray,
    *,
    looks: tuple[int, ...],
    run_in: int,
    period_length: int,
    options: FitOptions,
    running: tuple[int, float, float] | None = None,
    always: int | None = None,
    max_pairs: int | None = None,
) -> LookFits:
    """Fit simulated trials after each look's pairs (every trial, or only those still running).

    ``running=(min_pairs, benefit, futility)`` fits at each look only the trials no earlier look
    stopped, and computes the 95 % interval only where the look stops (its quantiles are about
    a third of a fit): at ``max_pairs`` (default the last look) and at ``always`` for every
    trial; ``always`` names a look at which every trial is fitted (the fixed design's length).
    """
    n = values.shape[0]
    shape = (len(looks), n)
    out = {k: np.full(shape, np.nan) for k in ("p", "mean", "low", "high")}
    alive = np.ones(n, dtype=bool)
    last = max(looks) if max_pairs is None else max_pairs
    for i, pairs in enumerate(looks):
        todo = np.ones(n, dtype=bool) if pairs == always or running is None else alive
        idx = np.flatnonzero(todo)
        d = _days(run_in, period_length, pairs)
        look_options = options
        if running is not None and pairs != always and pairs < last:
            # Before the minimum no look stops (no interval); after it, where a threshold is met.
            band = (-1.0, 2.0) if pairs < running[0] else (running[2], running[1])
            look_options = replace(options, interval_outside=band)
        fit = fit_arrays(values[idx, :d], arm[idx, :d], look_options, warn=False)
        out["p"][i, idx] = fit.p_mcid
        out["mean"][i, idx] = fit.effect_mean
        out["low"][i, idx] = fit.ci95_low
        out["high"][i, idx] = fit.ci95_high
        if running is not None:
            lo, ben, fut = running
            codes = decide_many(
                out["p"][i],
                pairs,
                min_pairs=lo,
                max_pairs=max(looks) + 1,
                benefit=ben,
                futility=fut,
            )
            alive &= codes == 0
    return LookFits(looks, out["p"], out["mean"], out["low"], out["high"], effect)


@dataclass(frozen=True)
class RuleOutcome:
    """Each trial's stopping look (index into ``looks``), decision code and stopped estimate."""

    stop_index: npt.NDArray[np.int64]
    code: npt.NDArray[np.int8]
    mean: FloatArray
    low: FloatArray
    high: FloatArray


def apply_rule(
    fits: LookFits, *, min_pairs: int, max_pairs: int, benefit: float, futility: float
) -> RuleOutcome:
    """Run the rule over the fitted looks: where each trial stops and what it decides."""
    n = fits.effect.shape[0]
    stop = np.full(n, -1, dtype=np.int64)
    code = np.zeros(n, dtype=np.int8)
    for i, pairs in enumerate(fits.looks):
        if pairs > max_pairs:
            break
        c = decide_many(
            fits.p_mcid[i],
            pairs,
            min_pairs=min_pairs,
            max_pairs=max_pairs,
            benefit=benefit,
            futility=futility,
        )
        new = (stop < 0) & (c > 0)
        stop[new], code[new] = i, c[new]
    cols = np.arange(n)
    at = np.where(stop < 0, len(fits.looks) - 1, stop)
    return RuleOutcome(stop, code, fits.mean[at, cols], fits.low[at, cols], fits.high[at, cols])


@dataclass(frozen=True)
class OCRow:
    """Operating characteristics of the rule and of the fixed design at one true effect."""

    effect: str
    n_sim: int
    p_benefit: float
    p_benefit_se: float
    p_futility: float
    p_maximum: float
    expected_pairs: float
    expected_days: float
    coverage: float
    bias: float
    fixed_p_benefit: float
    fixed_days: int
    fixed_coverage: float

    def as_dict(self) -> dict[str, float | int | str]:
        """Plain dict (JSON-ready)."""
        return asdict(self)


@dataclass(frozen=True)
class OperatingCharacteristics:
    """The rule, the design it was simulated with, one row per true effect, and the timing."""

    min_pairs: int
    max_pairs: int
    benefit_threshold: float
    futility_threshold: float
    fixed_pairs: int | None
    rows: tuple[OCRow, ...]

    def as_dict(self) -> dict[str, object]:
        """Plain dict (JSON-ready; rows as a list of dicts)."""
        return asdict(self)

    @property
    def spread_shortening(self) -> float | None:
        """1 - expected days / fixed days over the spread row (None without that row)."""
        for row in self.rows:
            if row.effect.startswith("spread") and row.fixed_days:
                return 1.0 - row.expected_days / row.fixed_days
        return None


def summarise_groups(
    fits: LookFits,
    outcome: RuleOutcome,
    groups: list[tuple[str, npt.NDArray[np.bool_]]],
    *,
    fixed_index: int | None,
    benefit: float,
    run_in: int,
    period_length: int,
) -> list[OCRow]:
    """One row of operating characteristics per group of trials (a true effect, or the spread).

    Without ``fixed_index`` (no fixed design simulated) the fixed design's columns are NaN / 0.
    """
    rows = []
    pairs = np.array(fits.looks)[np.where(outcome.stop_index < 0, -1, outcome.stop_index)]
    truth = fits.effect
    nan = np.full(truth.shape, np.nan)
    fixed_pairs = 0 if fixed_index is None else fits.looks[fixed_index]
    fixed = (
        (nan, nan, nan)
        if fixed_index is None
        else (fits.p_mcid[fixed_index], fits.low[fixed_index], fits.high[fixed_index])
    )
    for label, sel in groups:
        n = int(sel.sum())
        p_ben = float(np.mean(outcome.code[sel] == 1))
        covered = (outcome.low[sel] <= truth[sel]) & (truth[sel] <= outcome.high[sel])
        fixed_p = fixed[0][sel]
        fixed_cov = (fixed[1][sel] <= truth[sel]) & (truth[sel] <= fixed[2][sel])
        rows.append(
            OCRow(
                effect=label,
                n_sim=n,
                p_benefit=p_ben,
                p_benefit_se=float(np.sqrt(p_ben * (1 - p_ben) / max(n, 1))),
                p_futility=float(np.mean(outcome.code[sel] == 2)),
                p_maximum=float(np.mean(outcome.code[sel] == 3)),
                expected_pairs=float(np.mean(pairs[sel])),
                expected_days=float(np.mean(run_in + 2 * period_length * pairs[sel])),
                coverage=float(np.mean(covered)),
                bias=float(np.nanmean(outcome.mean[sel] - truth[sel])),
                fixed_p_benefit=float(np.mean(np.isfinite(fixed_p) & (fixed_p >= benefit)))
                if fixed_pairs
                else float("nan"),
                fixed_days=_days(run_in, period_length, fixed_pairs) if fixed_pairs else 0,
                fixed_coverage=float(np.mean(fixed_cov)) if fixed_pairs else float("nan"),
            )
        )
    return rows


def operating_characteristics(
    *,
    min_pairs: int = 2,
    max_pairs: int = 5,
    benefit_threshold: float,
    futility_threshold: float,
    effects: tuple[float, ...] = OC_EFFECTS,
    spread: tuple[float, float] | None = (SPREAD_MEAN, SPREAD_SD),
    fixed_pairs: int | None = 3,
    sd: float = 1.5,
    rho: float = 0.3,
    run_in: int = 14,
    period_length: int = 14,
    wash_in: int = 2,
    missing: float = 0.1,
    mcid: float = 1.0,
    trend: bool = True,
    n_sim: int = 2000,
    rng: np.random.Generator,
) -> OperatingCharacteristics:
    """Simulate the rule against the fixed ``fixed_pairs`` design over true effects.

    ``n_sim`` trials per effect (and for the spread, effects drawn from Normal(mean, sd)), all
    fitted together: P(benefit), P(futility), P(maximum reached), expected pairs and days,
    coverage of the 95 % interval at stopping and the mean error of the stopped estimate, beside
    the fixed design's P(benefit) (same threshold) and coverage (``fixed_pairs=None``: no
    fixed design, only the rule's own looks are fitted).
    """
    check_rule(min_pairs, max_pairs, benefit_threshold, futility_threshold)
    if n_sim < 1:
        raise ValidationError("n_sim", "must be >= 1", value=n_sim)
    labels = [f"{e:g}" for e in effects]
    truth = [np.full(n_sim, float(e)) for e in effects]
    if spread is not None:
        labels.append(f"spread N({spread[0]:g}, {spread[1]:g})")
        truth.append(rng.normal(spread[0], spread[1], n_sim))
    effect = np.concatenate(truth)
    longest = max(max_pairs, fixed_pairs or 0)
    sim = simulate_trials(
        effect.size,
        rng=rng,
        effect=effect,
        sd=sd,
        rho=rho,
        run_in=run_in,
        pairs=longest,
        period_length=period_length,
        wash_in=wash_in,
        missing=missing,
    )
    looks = tuple(
        sorted({*range(min_pairs, max_pairs + 1), *([fixed_pairs] if fixed_pairs else [])})
    )
    fits = fit_looks(
        sim.values,
        sim.arm,
        effect,
        looks=looks,
        run_in=run_in,
        period_length=period_length,
        options=FitOptions(mcid=mcid, trend=trend),
        running=(min_pairs, benefit_threshold, futility_threshold),
        always=fixed_pairs,
        max_pairs=max_pairs,
    )
    outcome = apply_rule(
        fits,
        min_pairs=min_pairs,
        max_pairs=max_pairs,
        benefit=benefit_threshold,
        futility=futility_threshold,
    )
    groups = [
        (label, np.repeat(np.arange(len(labels)) == i, n_sim)) for i, label in enumerate(labels)
    ]
    rows = summarise_groups(
        fits,
        outcome,
        groups,
        fixed_index=looks.index(fixed_pairs) if fixed_pairs else None,
        benefit=benefit_threshold,
        run_in=run_in,
        period_length=period_length,
    )
    return OperatingCharacteristics(
        min_pairs, max_pairs, benefit_threshold, futility_threshold, fixed_pairs, tuple(rows)
    )
