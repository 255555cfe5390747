"""The cohort from stored fits: pooled, de-identified, and honest about what is stale or missing.

No fitting here: the per-trial fits come from ``trial_fits`` (filled by ``refresh_fits``),
and the pooled, blinding and descriptive results of each view from ``cohort_results`` (stored by
``cohort_store`` after each refresh); a request pools the stored fits itself only for a view
that has no stored row at all. Trials appear under a sequence label (``trial-001`` ...), with
condition group but no patient code, site, dates or free text.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from typing import Any

import pandas as pd
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from microtrial.analysis import blinding, pool
from microtrial.analysis.describe import describe_cohort
from microtrial.analysis.pooling import TAU_SCALE_POINTS, PoolCache
from microtrial.domain.access import Action, authorize
from microtrial.domain.actors import Actor
from microtrial.domain.catalog import load_catalog
from microtrial.errors import ValidationError
from microtrial.services.analysis_load import condition_group_of
from microtrial.services.analysis_model import MCID_POINTS, CohortAnalysis, FitStatus
from microtrial.services.cohort_store import StoredFit, fits_mark, stored_view, view_of
from microtrial.services.common import Clock, audit, scoped, site_scope, system_clock
from microtrial.services.trial_fits import CHUNK, data_versions, unblinded_ids
from microtrial.store.db import Database
from microtrial.store.models import CohortResultRow, PatientRow, TrialFitRow, TrialRow


def read_cohort(
    db: Database,
    actor: Actor,
    *,
    condition_group: str | None = None,
    clock: Clock = system_clock,
) -> CohortAnalysis:
    """Pool the stored fits of every unblinded trial in the actor's reach (researchers: all)."""
    authorize(actor, Action.READ_COHORT)
    groups = sorted({c.group for c in load_catalog().conditions.values()})
    if condition_group is not None and condition_group not in groups:
        raise ValidationError("condition", f"unknown group {condition_group!r}", allowed=groups)
    with db.read() as session:
        trials = scoped(
            unblinded_ids().join(PatientRow, PatientRow.id == TrialRow.patient_id),
            actor,
            Action.READ_COHORT,
            PatientRow.site_id,
        )
        stored = stored_view(session, site_scope(actor, Action.READ_COHORT), condition_group)
        if stored is None:  # no view stored yet: pooled from the stored fits for this read
            fits, stale, status = stored_fits(session, trials, condition_group)
            cohort = cohort_of_fits(fits, stale, status)
        else:
            cohort = _read_view(session, stored, trials, condition_group)
        shown = cohort.fits
        assert shown is not None
    with db.transaction() as session:
        audit(
            session,
            actor,
            "read",
            "cohort",
            None,
            at=clock(),
            site_id=actor.site_id,
            detail={
                "trials": cohort.n_trials,
                "stored_view": stored is not None,
                "condition": condition_group,
                "stale": shown.stale,
                "missing": shown.missing,
                "data_version": shown.data_version,
            },
        )
    return cohort


def _read_view(
    session: Session,
    stored: CohortResultRow,
    trials: Select[tuple[int]],
    condition_group: str | None,
) -> CohortAnalysis:
    """A stored view, with what changed since it was computed (no pooling here).

    What the last refresh saw (``stored.checked``) stands for every trial whose data stamp has
    not moved since; only the others' data versions are computed (none, most of the time), so
    the statements and the work do not grow with the number of trials.
    """
    shown = {int(t): str(v) for t, v in stored.trial_versions}
    labels = {int(t): f"trial-{i:03d}" for i, (t, _) in enumerate(stored.trial_versions, 1)}
    checked = stored.checked
    if checked is None:  # stored before migration 0020: every version computed
        versions = data_versions(session, trials)
        stale = {t for t, v in shown.items() if versions.get(t) != v}
        new = [t for t in versions if t not in shown]
        missing = _missing(session, versions, set(shown), condition_group) if new else 0
        current_fits = session.execute(
            select(
                TrialFitRow.trial_id, TrialFitRow.data_version, TrialFitRow.condition_group
            ).where(TrialFitRow.trial_id.in_(trials.scalar_subquery()))
        ).all()
        in_view = [(t, v) for t, v, group in current_fits if condition_group in (None, group)]
        behind = set_version_of(sorted(in_view)) != stored.fits_version
    else:
        stale, missing, behind = _since_checked(session, checked, shown, trials, condition_group)

    def status_of(first: dt.datetime | None, last: dt.datetime | None) -> FitStatus:
        return FitStatus(
            unblinded=len(shown) + missing,
            current=len(shown) - len(stale),
            stale=len(stale),
            missing=missing,
            computed_from=first,
            computed_to=last,
            data_version=stored.fits_version,
            pooled_at=stored.computed_at,
            pooled_behind=behind,
        )

    return view_of(stored, {labels[t] for t in stale}, status_of)


def _since_checked(
    session: Session,
    checked: dict[str, Any],
    shown: dict[int, str],
    trials: Select[tuple[int]],
    condition_group: str | None,
) -> tuple[set[int], int, bool]:
    """Stale trials, missing trials and whether the fits moved on, from the stamps' changes."""
    seen = {int(t): int(stamp) for t, stamp in checked["stamps"]}
    stamps = dict(
        session.execute(
            select(TrialRow.id, TrialRow.data_stamp).where(
                TrialRow.id.in_(trials.scalar_subquery())
            )
        )
        .tuples()
        .all()
    )
    moved = sorted(t for t, stamp in stamps.items() if seen.get(t) != stamp)
    versions: dict[int, str] = {}
    for start in range(0, len(moved), CHUNK):  # none at all when nothing moved
        part = moved[start : start + CHUNK]
        versions |= data_versions(session, select(TrialRow.id).where(TrialRow.id.in_(part)))
    was_stale = {int(t) for t in checked["stale"]}
    stale = {
        t
        for t, v in shown.items()
        if t not in stamps or (versions.get(t, v) != v if t in versions else t in was_stale)
    }
    was_missing = {int(t) for t in checked["missing"]}
    missing = sum(1 for t in was_missing if t in stamps and t not in versions)
    missing += _missing(
        session, {t: versions[t] for t in versions if t not in shown}, set(), condition_group
    )
    fits = session.execute(
        select(func.count(TrialFitRow.trial_id), func.max(TrialFitRow.computed_at)).where(
            TrialFitRow.trial_id.in_(trials.scalar_subquery())
        )
    ).one()
    return stale, missing, fits_mark(int(fits[0]), fits[1]) != checked["fits"]


def stored_fits(
    session: Session, trials: Select[tuple[int]], condition_group: str | None = None
) -> tuple[list[TrialFitRow], set[int], FitStatus]:
    """The stored fits of ``trials`` (of one condition group), which are stale, and the status."""
    versions = data_versions(session, trials)
    fits = list(
        session.execute(
            select(TrialFitRow)
            .where(TrialFitRow.trial_id.in_(trials.scalar_subquery()))
            .order_by(TrialFitRow.trial_id)
        ).scalars()
    )
    if condition_group is not None:
        fits = [f for f in fits if f.condition_group == condition_group]
    missing = _missing(session, versions, {f.trial_id for f in fits}, condition_group)
    stale = {f.trial_id for f in fits if versions.get(f.trial_id) != f.data_version}
    status = FitStatus(
        unblinded=len(fits) + missing,
        current=len(fits) - len(stale),
        stale=len(stale),
        missing=missing,
        computed_from=min((f.computed_at for f in fits), default=None),
        computed_to=max((f.computed_at for f in fits), default=None),
        data_version=set_version(fits),
    )
    return fits, stale, status


def _missing(
    session: Session, versions: dict[int, str], fitted: set[int], condition_group: str | None
) -> int:
    """Unblinded trials in reach without a stored fit (of the condition group, if one is asked)."""
    unfitted = [t for t in versions if t not in fitted]
    if condition_group is None or not unfitted:
        return len(unfitted)
    patients = session.execute(
        select(TrialRow.patient_id).where(TrialRow.id.in_(unfitted))
    ).scalars()
    return sum(1 for p in patients if condition_group_of(session, p) == condition_group)


def set_version(fits: Sequence[StoredFit]) -> str:
    """One name for the set of fits shown: a hash of each trial's id and data version."""
    return set_version_of([(f.trial_id, f.data_version) for f in fits])


def set_version_of(pairs: list[tuple[int, str]]) -> str:
    """``set_version`` of (trial id, data version) pairs in trial id order."""
    text = ";".join(f"{t}:{v}" for t, v in pairs)
    return hashlib.sha256(text.encode()).hexdigest()[:12] if pairs else "none"


def cohort_of_fits(
    fits: Sequence[StoredFit],
    stale: set[int],
    status: FitStatus,
    *,
    cache: PoolCache | None = None,
) -> CohortAnalysis:
    """Label, pool and describe the stored fits (one frame per table, no per-trial frames)."""
    results: list[dict[str, Any]] = []
    guesses: list[dict[str, Any]] = []
    counts: list[dict[str, Any]] = []
    for label, fit in enumerate(fits, start=1):
        name = f"trial-{label:03d}"
        extra = {
            "condition": fit.condition_group or "other",
            "unblinded_early": fit.unblinded_early,
            "fit_stale": fit.trial_id in stale,
        }
        results += [{**row, "trial_id": name, **extra} for row in fit.results]
        guesses += [{**row, "trial_id": name} for row in fit.guesses]
        counts.append(fit.counts)
    table = pd.DataFrame(results)
    pain = table[table["outcome"] == "pain"] if len(table) else table
    pooled = None
    if len(pain) >= 2:
        pooled = pool(
            pain,
            by="condition",
            mcid=MCID_POINTS,
            tau_scale=TAU_SCALE_POINTS,
            cache=cache,
            warn=False,
        )
    all_guesses = pd.DataFrame(guesses)
    blind = blinding(all_guesses) if len(all_guesses) else None
    return CohortAnalysis(
        results=table,
        pooled=pooled,
        blinding=blind,
        effect_by_guess=blind.effect_by_guess if blind else pd.DataFrame(),
        n_trials=len(fits),
        descriptive=describe_cohort(pd.DataFrame(counts)),
        fits=status,
    )
