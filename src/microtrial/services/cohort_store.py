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
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import pandas as pd
from sqlalchemy import Row, delete, insert, select, update
from sqlalchemy.orm import Session, defer

from microtrial.analysis import BlindingResult, PoolResult
from microtrial.analysis.pooling import PoolCache
from microtrial.services.analysis_load import condition_group_of
from microtrial.services.analysis_model import CohortAnalysis, FitStatus, json_columns
from microtrial.services.common import Clock, system_clock
from microtrial.services.trial_fits import data_versions, unblinded_ids
from microtrial.store.db import Database
from microtrial.store.models import CohortResultRow, PatientRow, TrialFitRow, TrialRow

ALL_GROUPS = ""  # the condition_group of a view of every group


class StoredFit(Protocol):
    """What the cohort reads of a stored fit: a ``TrialFitRow`` read, or a row just stored."""

    @property
    def trial_id(self) -> int: ...
    @property
    def data_version(self) -> str: ...
    @property
    def computed_at(self) -> dt.datetime: ...
    @property
    def condition_group(self) -> str | None: ...
    @property
    def unblinded_early(self) -> bool: ...
    @property
    def results(self) -> list[Any]: ...
    @property
    def guesses(self) -> list[Any]: ...
    @property
    def counts(self) -> dict[str, Any]: ...


def refresh_cohort_results(
    db: Database, *, clock: Clock = system_clock, fresh: Sequence[dict[str, Any]] = ()
) -> int:
    """Recompute and store every cohort view whose stored fits changed; returns how many.

    Every view, recomputed or not, also gets what this refresh saw (``checked``): the data
    stamps of its scope's unblinded trials, which of its trials were stale and which were
    missing, and the scope's fit count and newest fit, so that a read checks only the trials
    whose stamp moved since (``cohort_results.read_cohort``). ``fresh``: the fit rows the
    caller has just stored, used as read (``_stored_fits``).
    """
    # imported here: cohort_results reads this module's rows
    from microtrial.services.cohort_results import set_version

    with db.read() as session:
        fitted = _stored_fits(session, fresh)
        versions = data_versions(session, unblinded_ids())
        trials = session.execute(
            select(TrialRow.id, TrialRow.data_stamp, TrialRow.patient_id, PatientRow.site_id)
            .join(PatientRow, PatientRow.id == TrialRow.patient_id)
            .where(TrialRow.id.in_(unblinded_ids().scalar_subquery()))
            .order_by(TrialRow.id)
        ).all()
        stored = {
            (site_id, group): (version, checked)
            for site_id, group, version, checked in session.execute(
                select(
                    CohortResultRow.site_id,
                    CohortResultRow.condition_group,
                    CohortResultRow.fits_version,
                    CohortResultRow.checked,
                )
            ).tuples()
        }
        current = {f.trial_id: f for f, _ in fitted if versions.get(f.trial_id) == f.data_version}
        group_of = {
            t: current[t].condition_group if t in current else condition_group_of(session, p)
            for t, _, p, _ in trials
        }
        session.expunge_all()
    views: dict[tuple[int | None, str], list[StoredFit]] = {}
    for fit, site_id in fitted:
        for scope in (None, site_id):
            views.setdefault((scope, ALL_GROUPS), []).append(fit)
            if fit.condition_group:
                views.setdefault((scope, fit.condition_group), []).append(fit)
    cache: PoolCache = {}
    payloads: dict[tuple[str, frozenset[int]], dict[str, Any]] = {}
    rows: list[dict[str, Any]] = []
    changed: list[tuple[int | None, str]] = []
    rechecked: dict[tuple[int | None, str], dict[str, Any]] = {}
    computed_at = clock()
    scopes: dict[int | None, Scope] = {}  # each scope's found once: its groups' views share it
    for (scope, group), fits in views.items():
        version = set_version(fits)
        stale = {f.trial_id for f in fits if versions.get(f.trial_id) != f.data_version}
        if scope not in scopes:
            scopes[scope] = _scope(scope, trials, fitted)
        checked = _checked(group, fits, stale, scopes[scope], group_of)
        if stored.get((scope, group), (None, None))[0] == version:
            if stored[(scope, group)][1] != checked:
                rechecked[(scope, group)] = checked
            continue
        changed.append((scope, group))
        rows.append(
            {
                "site_id": scope,
                "condition_group": group,
                "computed_at": computed_at,
                "fits_version": version,
                "trial_versions": [[f.trial_id, f.data_version] for f in fits],
                "payload": _payload(fits, stale, version, cache, payloads),
                "checked": checked,
            }
        )
    gone = [view for view in stored if view not in views]
    if not rows and not gone and not rechecked:
        return 0
    with db.transaction() as session:
        for scope, group in [*gone, *changed]:
            session.execute(delete(CohortResultRow).where(*_view(scope, group)))
        for (scope, group), checked in rechecked.items():
            session.execute(
                update(CohortResultRow).where(*_view(scope, group)).values(checked=checked)
            )
        if rows:
            session.execute(insert(CohortResultRow), rows)
    return len(rows)


def _payload(
    fits: list[StoredFit],
    stale: set[int],
    version: str,
    cache: PoolCache,
    payloads: dict[tuple[str, frozenset[int]], dict[str, Any]],
) -> dict[str, Any]:
    """A view's stored payload, computed once per set of fits (and of stale ones among them).

    One site's views hold the same fits as the views of every site when the clinic has one
    site: the same payload, not computed twice.
    """
    # imported here: cohort_results reads this module's rows
    from microtrial.services.cohort_results import cohort_of_fits

    key = (version, frozenset(stale))
    if key not in payloads:
        status = FitStatus(
            unblinded=len(fits),
            current=len(fits) - len(stale),
            stale=len(stale),
            missing=0,
            computed_from=min(f.computed_at for f in fits),
            computed_to=max(f.computed_at for f in fits),
            data_version=version,
        )
        payloads[key] = to_payload(cohort_of_fits(fits, stale, status, cache=cache))
    return payloads[key]


# A scope's unblinded trials (id, data stamp) and its stored fits.
Scope = tuple[list[tuple[int, int]], list[StoredFit]]


def _scope(
    scope: int | None,
    trials: Sequence[Row[tuple[int, int, int, int]]],
    fitted: Sequence[tuple[StoredFit, int]],
) -> Scope:
    """The unblinded trials and stored fits of a site (None: of every site)."""
    return (
        [(t, stamp) for t, stamp, _, site in trials if scope is None or site == scope],
        [f for f, site in fitted if scope is None or site == scope],
    )


@dataclass(frozen=True, slots=True)
class FitRecord:
    """A fit row as stored (``StoredFit``), from the values just written (no ORM object)."""

    trial_id: int
    data_version: str
    computed_at: dt.datetime
    condition_group: str | None
    unblinded_early: bool
    results: list[Any]
    guesses: list[Any]
    counts: dict[str, Any]
    warnings: list[Any]


def _stored_fits(session: Session, fresh: Sequence[dict[str, Any]]) -> list[tuple[StoredFit, int]]:
    """Every unblinded trial's stored fit with its site, in trial order.

    A fit the caller has just stored (``fresh``: the same trial, version and time) is taken
    from its row in memory instead of read back: reading and decoding every fit's JSON again
    was a large part of a full refresh's cohort views.
    """
    from microtrial.services.trial_fits import CHUNK

    found = session.execute(
        select(
            TrialFitRow.trial_id,
            TrialFitRow.data_version,
            TrialFitRow.computed_at,
            PatientRow.site_id,
        )
        .join(TrialRow, TrialRow.id == TrialFitRow.trial_id)
        .join(PatientRow, PatientRow.id == TrialRow.patient_id)
        .where(TrialRow.id.in_(unblinded_ids().scalar_subquery()))
        .order_by(TrialFitRow.trial_id)
    ).all()
    known = {r["trial_id"]: r for r in fresh}
    fits: dict[int, StoredFit] = {}
    for trial_id, version, at, _ in found:
        row = known.get(trial_id)
        if row is not None and (row["data_version"], row["computed_at"]) == (version, at):
            fits[trial_id] = FitRecord(**row)
    unread = [t for t, *_ in found if t not in fits]
    # (one read even when none is left: a refresh's statement count stays the same)
    for i in range(0, max(len(unread), 1), CHUNK):
        chunk = unread[i : i + CHUNK]
        query = select(TrialFitRow).where(TrialFitRow.trial_id.in_(chunk))
        fits.update((f.trial_id, f) for f in session.execute(query).scalars())
    return [(fits[t], site_id) for t, _, _, site_id in found if t in fits]


def _checked(
    group: str,
    fits: list[StoredFit],
    stale: set[int],
    scope: Scope,
    group_of: dict[int, str | None],
) -> dict[str, Any]:
    """What a refresh saw of one view's scope (``CohortResultRow.checked``)."""
    shown = {f.trial_id for f in fits}
    in_scope, scope_fits = scope
    return {
        "stamps": [[t, stamp] for t, stamp in in_scope],
        "stale": sorted(stale),
        "missing": [
            t
            for t, _ in in_scope
            if t not in shown and (group == ALL_GROUPS or group_of.get(t) == group)
        ],
        "fits": fits_mark(len(scope_fits), max((f.computed_at for f in scope_fits), default=None)),
    }


def fits_mark(count: int, newest: dt.datetime | None) -> list[Any]:
    """The stored fits of a scope in two values: how many, and when the newest was computed."""
    return [count, _when(newest)]


def _view(scope: int | None, group: str) -> list[Any]:
    """The where-clauses of one view's row."""
    site = CohortResultRow.site_id.is_(None) if scope is None else CohortResultRow.site_id == scope
    return [site, CohortResultRow.condition_group == group]


def stored_view(session: Session, scope: int | None, group: str | None) -> CohortResultRow | None:
    """The stored row of one view (``scope`` None: every site; ``group`` None: every group).

    Its payload is loaded only when first read (``view_of`` reads it once per process).
    """
    return session.execute(
        select(CohortResultRow)
        .options(defer(CohortResultRow.payload))
        .where(*_view(scope, group or ALL_GROUPS))
    ).scalar_one_or_none()


@dataclass(frozen=True)
class _Parsed:
    """A stored view's payload as frames, and when its first and last fit were computed."""

    cohort: CohortAnalysis
    times: tuple[dt.datetime | None, dt.datetime | None]


# Parsed views, by row id, time and fits version: a view is replaced (deleted and inserted),
# never edited, so these three name one payload. Bounded: a few views per site and group.
_PARSED: OrderedDict[tuple[int, dt.datetime, str], _Parsed] = OrderedDict()
_PARSED_MAX = 32
_PARSED_LOCK = threading.Lock()


def view_of(
    stored: CohortResultRow, stale_labels: set[str], status_of: Callable[..., FitStatus]
) -> CohortAnalysis:
    """A stored view as the cohort analysis the pages render, its staleness as of now.

    The payload is parsed (JSON into frames) once per process and view: a request then costs
    copies of the frames, not a parse that grows with the number of trials.
    ``status_of(first, last)`` gives the status from when the view's fits were computed.
    """
    key = (stored.id, stored.computed_at, stored.fits_version)
    with _PARSED_LOCK:
        parsed = _PARSED.get(key)
        if parsed is not None:
            _PARSED.move_to_end(key)
    if parsed is None:
        payload = stored.payload
        parsed = _Parsed(from_payload(payload, set(), status_of(None, None)), stored_times(payload))
        with _PARSED_LOCK:
            _PARSED[key] = parsed
            while len(_PARSED) > _PARSED_MAX:
                _PARSED.popitem(last=False)
    base = parsed.cohort
    results = base.results.copy()
    if len(results):
        results["fit_stale"] = results["trial_id"].isin(stale_labels)
    pooled = base.pooled
    blind = base.blinding
    return replace(
        base,
        results=results,
        pooled=None if pooled is None else PoolResult(pooled.groups.copy(), pooled.forest.copy()),
        blinding=None
        if blind is None
        else replace(blind, arms=blind.arms.copy(), effect_by_guess=blind.effect_by_guess.copy()),
        effect_by_guess=base.effect_by_guess.copy(),
        descriptive=base.descriptive.copy(),
        fits=status_of(*parsed.times),
    )


def _frame(frame: pd.DataFrame | None) -> Any:
    """A frame as JSON with its dtypes and index (pandas' table schema); NaN as null."""
    if frame is None or (frame.empty and not len(frame.columns)):
        return None
    return json.loads(frame.to_json(orient="table", date_format="iso"))


def _unframe(data: Any) -> pd.DataFrame:
    """A frame stored by ``_frame`` (an empty frame for None).

    Rebuilt from the table schema's fields directly: ``pd.read_json`` parses and casts the
    same JSON several times slower, and a read of a large cohort view rebuilds two frames
    of a row per trial.
    """
    if data is None:
        return pd.DataFrame()
    fields = data["schema"]["fields"]
    if any(f["type"] not in _CASTS for f in fields):  # (no such frame stored today)
        return pd.read_json(io.StringIO(json.dumps(data)), orient="table")
    frame = pd.DataFrame.from_records(data["data"], columns=[f["name"] for f in fields])
    for f in fields:
        cast = _CASTS[f["type"]]
        column = frame[f["name"]]
        if cast == "int64" and column.isna().any():
            cast = "float64"
        frame[f["name"]] = column.astype(cast) if cast else column
    key = data["schema"].get("primaryKey")
    if key:
        frame = frame.set_index(key)
        if key == ["index"]:
            frame.index.name = None
    return frame


# table schema type -> pandas dtype (None: as parsed)
_CASTS: dict[str, str | None] = {
    "integer": "int64",
    "number": "float64",
    "boolean": "bool",
    "string": None,
}


def to_payload(cohort: CohortAnalysis) -> dict[str, Any]:
    """What a view stores: every table of the cohort, JSON-ready."""
    from microtrial.services.trial_fits import json_value

    blind = cohort.blinding
    return {
        "results": json_columns(cohort.results),  # a list of rows in views stored before
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
