"""Stored trials through the analysis engine: per trial after unblinding, and pooled."""

from __future__ import annotations

import math

import pytest
from sqlalchemy import select

from microtrial.analysis import fit_trials
from microtrial.domain.actors import system_actor
from microtrial.errors import ConflictError, PermissionDenied
from microtrial.services import admin, analysis
from microtrial.store.db import Database
from microtrial.store.models import TrialRow


def trial_ids(db: Database, status: str) -> list[int]:
    with db.transaction() as session:
        return list(session.execute(select(TrialRow.id).where(TrialRow.status == status)).scalars())


def test_unblinded_trial_is_analysed_with_the_engine(demo_clinic: Database) -> None:
    doc = admin.user_actor(demo_clinic, "dr.demo")
    trial_id = trial_ids(demo_clinic, "unblinded")[0]
    result = analysis.analyse_trial(demo_clinic, doc, trial_id)
    assert set(result.results["outcome"]) == {"pain", "worst_pain", "sleep"}
    days = result.days
    assert len(days) == 7 + 6 * 14
    assert set(days.loc[days["period"].isna(), "arm"]) == {"baseline"}
    # the same numbers as the engine on the same long frame
    long = days.rename(columns={"study_day": "day", "pain": "value", "wash_in": "exclude"})
    long = long.assign(trial_id=str(trial_id))[["trial_id", "day", "arm", "value", "exclude"]]
    direct = fit_trials(long.assign(value=long["value"].astype(float)))
    primary = result.primary
    assert math.isclose(primary["effect_mean"], float(direct["effect_mean"].iloc[0]), abs_tol=1e-12)
    assert math.isclose(primary["p_mcid"], float(direct["p_mcid"].iloc[0]), abs_tol=1e-12)
    assert primary["n_active"] + primary["n_placebo"] == int(
        days.loc[(days["arm"] != "baseline") & ~days["wash_in"], "pain"].notna().sum()
    )
    assert len(result.guesses) == 6
    assert result.guesses["correct"].dtype == bool
    assert result.doses_taken <= result.doses_planned


def test_blinded_trial_is_refused(demo_clinic: Database) -> None:
    doc = admin.user_actor(demo_clinic, "dr.demo")
    running = trial_ids(demo_clinic, "running")[0]
    with pytest.raises(ConflictError, match="still blinded"):
        analysis.analyse_trial(demo_clinic, doc, running)


def test_cohort_is_pooled_and_deidentified(demo_clinic: Database) -> None:
    researcher = admin.user_actor(demo_clinic, "researcher.demo")
    cohort = analysis.cohort_analysis(demo_clinic, researcher)
    assert cohort.n_trials == len(trial_ids(demo_clinic, "unblinded"))
    assert cohort.pooled is not None
    summary = cohort.pooled.summary()
    assert "overall" in set(summary.iloc[:, 0])
    # pain pooled on its own scale (half-normal tau prior, 1 point); small groups flagged
    assert (summary["tau_scale"] == 1.0).all()
    assert list(summary["few_trials"]) == list(summary["n_trials"] < 5)
    assert summary.loc[summary["few_trials"], "pi95_low"].isna().all()
    text = cohort.results.to_csv()
    assert "P0" not in text  # no patient study codes
    assert all(t.startswith("trial-") for t in cohort.results["trial_id"])
    assert cohort.blinding is not None
    with pytest.raises(PermissionDenied):
        analysis.cohort_analysis(demo_clinic, admin.user_actor(demo_clinic, "patient01"))
    with pytest.raises(PermissionDenied):
        analysis.analyse_trial(demo_clinic, researcher, trial_ids(demo_clinic, "unblinded")[0])
    assert analysis.cohort_analysis(demo_clinic, system_actor()).n_trials == cohort.n_trials


def test_only_migraine_and_cluster_trials_carry_a_discrete_endpoint(demo_clinic: Database) -> None:
    doc = admin.user_actor(demo_clinic, "dr.demo")
    groups = set()
    for trial_id in trial_ids(demo_clinic, "unblinded"):
        result = analysis.analyse_trial(demo_clinic, doc, trial_id)
        groups.add(result.condition_group)
        e = result.endpoint
        if result.condition_group not in ("migraine", "cluster"):
            assert e is None
            continue
        assert e is not None
        assert e.outcome_type == ("binary" if result.condition_group == "migraine" else "count")
        assert len(e.days) == len(result.days)
        assert e.days["arm"].tolist() == result.days["arm"].tolist()  # the pain analysis' arms
        if e.entries == 0:  # the demo logs no attacks: said plainly, no result made up
            assert e.result == {}
            instrument = e.instrument.replace("_", "-")
            assert e.reason == f"no {instrument} entries during the trial"
            assert e.days["value"].isna().all()
    assert groups & {"migraine", "cluster"}  # both kinds of trial were looked at
    assert groups - {"migraine", "cluster"}
