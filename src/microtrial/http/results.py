"""Result bodies both edges serve: the de-identified cohort and the research export zip."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from microtrial.domain.actors import Actor
from microtrial.http.deps import AppContext
from microtrial.http.tables import csv_zip, records
from microtrial.services import analysis, exports


class CohortRead(BaseModel):
    """De-identified per-trial results, pooled effects by condition group, and blinding."""

    n_trials: int
    results: list[dict[str, Any]]
    pooled: list[dict[str, Any]]
    forest: list[dict[str, Any]]
    blinding: dict[str, Any] | None
    descriptive: list[dict[str, Any]]
    # Where the stored per-trial fits came from and how many are stale or not yet computed.
    fits: dict[str, Any] | None = None


def cohort(context: AppContext, actor: Actor, condition_group: str | None) -> CohortRead:
    """The cohort analysis as a response body (no identifiers: trials carry sequence labels)."""
    result = analysis.cohort_analysis(
        context.db, actor, condition_group=condition_group, clock=context.clock
    )
    return CohortRead(
        n_trials=result.n_trials,
        results=records(result.results),
        pooled=records(result.pooled.groups if result.pooled else None),
        forest=records(result.pooled.forest if result.pooled else None),
        blinding=result.blinding.as_dict() if result.blinding else None,
        descriptive=records(result.descriptive),
        fits=result.fits.as_dict() if result.fits else None,
    )


def research_zip(context: AppContext, actor: Actor) -> bytes:
    """The de-identified research export as a zip of CSV tables plus a manifest."""
    tables = exports.research_export(
        context.db, actor, secret=context.research_secret, clock=context.clock
    )
    return csv_zip(tables.tables, tables.manifest("csv"))
