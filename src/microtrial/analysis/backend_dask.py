"""Dask distributed backend: chunks of trials fitted by the numpy engine on a cluster's workers.

Install with the ``[dask]`` extra.  Results are identical to the numpy backend (same code per
chunk); only the scheduling differs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from microtrial.analysis.continuous import BatchFit, FitOptions, fit_chunk, warn_flags


def fit_arrays_dask(
    values: npt.NDArray[np.float64],
    arm: npt.NDArray[np.int8],
    options: FitOptions,
    *,
    client: Any = None,
    progress: Callable[[int], None] | None = None,
    warn: bool = True,
) -> BatchFit:
    """Fit ``(trials, days)`` arrays by submitting chunks of trials to a ``distributed.Client``.

    Without ``client`` the current default client is used (``distributed.get_client``).
    """
    from distributed import as_completed, get_client

    cl = client if client is not None else get_client()
    vals = np.asarray(values, dtype=np.float64)
    arms = np.asarray(arm, dtype=np.int8)
    bounds = [
        (start, min(start + options.chunk_size, vals.shape[0]))
        for start in range(0, vals.shape[0], options.chunk_size)
    ]
    if not bounds:
        return fit_chunk(vals, arms, options)
    futures = {
        cl.submit(fit_chunk, vals[a:b], arms[a:b], options, pure=False): i
        for i, (a, b) in enumerate(bounds)
    }
    parts: list[BatchFit | None] = [None] * len(bounds)
    for future in as_completed(futures):  # type: ignore[no-untyped-call]
        i = futures[future]
        parts[i] = future.result()
        if progress is not None:
            progress(bounds[i][1] - bounds[i][0])
    fit = BatchFit.concat([p for p in parts if p is not None])
    if warn:
        warn_flags(fit.flags)
    return fit
