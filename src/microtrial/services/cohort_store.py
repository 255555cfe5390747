"""Cohort results computed at refresh and stored: pooled effects, descriptive and blinding tables.

A *view* is what one reader of the cohort asks for: a scope (one site's trials, as a clinician
or a site's researcher sees them, or every site's) and a condition group ("" for all). After
each refresh of the per-trial fits (``trial_fits.refresh_fits``), ``refresh_cohort_results``
recomputes every view whose set of stored fits changed (one ``pool`` memo shared by all views,
so a group pooled for one view is not pooled again for another) and stores it in
``cohort_results`` with when it was computed and each trial's data version.

Requests never pool when a view is stored (``cohort_results.read_cohort``): they read the row
and compare its trials' versions with the current ones, to say how many changed since (stale)
or are new (missing), and whether fits were refreshed after it (behind). Only a view with no
stored row at all (before the first refresh after an upgrade, or a condition group that had no
trial at the last refresh) is computed from the stored fits for the request, and says so.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from typing import Any

import pandas as pd
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from microtrial.analysis import BlindingResult, PoolResult
from microtrial.analysis.pooling import PoolCache
from microtrial.services.analysis_model import CohortAnalysis, FitStatus
from microtrial.services.common import Clock, system_clock
from microtrial.services.trial_fits import data_versions, unblinded_ids
from microtrial.store.db import Database
from microtrial.store.models import CohortResultRow, PatientRow, TrialFitRow, TrialRow

ALL_GROUPS = ""  # the condition_group of a view of every group


def refresh_cohort_results(db: Database, *, clock: Clock = system_clock) -> int:
    """Recompute and store every cohort view whose stored fits changed; returns how many."""
    # imported here: cohort_results reads this module's rows
    from microtrial.services.cohort_results import cohort_of_fits, set_version

    with db.read() as session:
        fitted = session.execute(
            select(TrialFitRow, PatientRow.site_id)
            .join(TrialRow, TrialRow.id == TrialFitRow.trial_id)
            .join(PatientRow, PatientRow.id == TrialRow.patient_id)
            .where(TrialRow.id.in_(unblinded_ids().scalar_subquery()))
            .order_by(TrialFitRow.trial_id)
        ).all()
        versions = data_versions(session, unblinded_ids())
        stored = {
            (r.site_id, r.condition_group): r.fits_version
            for r in session.execute(select(CohortResultRow)).scalars()
        }
        session.expunge_all()
    views: dict[tuple[int | None, str], list[TrialFitRow]] = {}
    for fit, site_id in fitted:
        for scope in (None, site_id):
            views.setdefault((scope, ALL_GROUPS), []).append(fit)
            if fit.condition_group:
                views.setdefault((scope, fit.condition_group), []).append(fit)
    cache: PoolCache = {}
    rows: list[dict[str, Any]] = []
    changed: list[tuple[int | None, str]] = []
    computed_at = clock()
    for (scope, group), fits in views.items():
        version = set_version(fits)
        if stored.get((scope, group)) == version:
            continue
        stale = {f.trial_id for f in fits if versions.get(f.trial_id) != f.data_version}
        status = FitStatus(
            unblinded=len(fits),
            current=len(fits) - len(stale),
            stale=len(stale),
            missing=0,
            computed_from=min(f.computed_at for f in fits),
            computed_to=max(f.computed_at for f in fits),
            data_version=version,
        )
        cohort = cohort_of_fits(fits, stale, status, cache=cache)
        changed.append((scope, group))
        rows.append(
            {
                "site_id": scope,
                "condition_group": group,
                "computed_at": computed_at,
                "fits_version": version,
                "trial_versions": [[f.trial_id, f.data_version] for f in fits],
                "payload": to_payload(cohort),
            }
        )
    gone = [view for view in stored if view not in views]
    if not rows and not gone:
        return 0
    with db.transaction() as session:
        for scope, group in [*gone, *changed]:
            session.execute(delete(CohortResultRow).where(*_view(scope, group)))
        if rows:
            session.execute(insert(CohortResultRow), rows)
    return len(rows)


def _view(scope: int | None, group: str) -> list[Any]:
    """The where-clauses of one view's row."""
    site = CohortResultRow.site_id.is_(None) if scope is None else CohortResultRow.site_id == scope
    return [site, CohortResultRow.condition_group == group]


def stored_view(session: Session, scope: int | None, group: str | None) -> CohortResultRow | None:
    """The stored row of one view (``scope`` None: every site; ``group`` None: every group)."""
    return session.execute(
        select(CohortResultRow).where(*_view(scope, group or ALL_GROUPS))
    ).scalar_one_or_none()


def _frame(frame: pd.DataFrame | None) -> Any:
    """A frame as JSON with its dtypes and index (pandas' table schema); NaN as null."""
    if frame is None or (frame.empty and not len(frame.columns)):
        return None
    return json.loads(frame.to_json(orient="table", date_format="iso"))


def _unframe(data: Any) -> pd.DataFrame:
    """A frame stored by ``_frame`` (an empty frame for None)."""
    if data is None:
        return pd.DataFrame()
    return pd.read_json(io.StringIO(json.dumps(data)), orient="table")


def to_payload(cohort: CohortAnalysis) -> dict[str, Any]:
    """What a view stores: every table of the cohort, JSON-ready."""
    from microtrial.services.trial_fits import json_rows, json_value

    blind = cohort.blinding
    return {
        "results": json_rows(cohort.results.to_dict("records")),
        "pooled_groups": _frame(cohort.pooled.groups) if cohort.pooled else None,
        "forest": _frame(cohort.pooled.forest) if cohort.pooled else None,
        "blinding": None
        if blind is None
        else {
            "arms": _frame(blind.arms),
            "overall_correct_share": json_value(blind.overall_correct_share),
            "james_bi": json_value(blind.james_bi),
            "effect_by_guess": _frame(blind.effect_by_guess),
        },
        "effect_by_guess": _frame(cohort.effect_by_guess),
        "n_trials": cohort.n_trials,
        "descriptive": _frame(cohort.descriptive),
        "computed_from": _when(cohort.fits.computed_from if cohort.fits else None),
        "computed_to": _when(cohort.fits.computed_to if cohort.fits else None),
    }


def _when(moment: dt.datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def from_payload(
    payload: dict[str, Any], stale_labels: set[str], status: FitStatus
) -> CohortAnalysis:
    """A stored view as the cohort analysis the pages render, its staleness as of now."""
    results = pd.DataFrame(payload["results"])
    if len(results):
        results["fit_stale"] = results["trial_id"].isin(stale_labels)
    pooled = (
        PoolResult(groups=_unframe(payload["pooled_groups"]), forest=_unframe(payload["forest"]))
        if payload["pooled_groups"] is not None
        else None
    )
    stored = payload["blinding"]
    blind = (
        None
        if stored is None
        else BlindingResult(
            arms=_unframe(stored["arms"]),
            overall_correct_share=_float(stored["overall_correct_share"]),
            james_bi=_float(stored["james_bi"]),
            effect_by_guess=_unframe(stored["effect_by_guess"]),
        )
    )
    return CohortAnalysis(
        results=results,
        pooled=pooled,
        blinding=blind,
        effect_by_guess=_unframe(payload["effect_by_guess"]),
        n_trials=int(payload["n_trials"]),
        descriptive=_unframe(payload["descriptive"]),
        fits=status,
    )


def _float(value: Any) -> float:
    """A stored number; NaN for null (JSON has no NaN)."""
    return float("nan") if value is None else float(value)


def stored_times(payload: dict[str, Any]) -> tuple[dt.datetime | None, dt.datetime | None]:
    """When the first and last fit of a stored view were computed."""
    first, last = payload.get("computed_from"), payload.get("computed_to")
    return (
        dt.datetime.fromisoformat(first) if first else None,
        dt.datetime.fromisoformat(last) if last else None,
    )
