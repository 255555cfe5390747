"""Small numerical summaries the reports print: the guessing test and run lengths.

Pure numpy/scipy; no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable

from scipy import stats

__all__ = ["guess_chance", "longest_gap", "relative_change"]


def guess_chance(right: int, named: int) -> float:
    """P(at least ``right`` of ``named`` guesses right by luck): one-sided binomial test at 1/2.

    NaN when no guess named an arm.
    """
    return float(stats.binom.sf(right - 1, named, 0.5)) if named else float("nan")


def longest_gap(observed: Iterable[bool]) -> int:
    """The longest run of consecutive unobserved days."""
    longest = 0
    run = 0
    for seen in observed:
        run = 0 if seen else run + 1
        longest = max(longest, run)
    return longest


def relative_change(value: float, reference: float) -> float:
    """(value - reference) / reference; NaN when the reference is 0."""
    return (value - reference) / reference if reference else float("nan")
