"""The demo's sample reports: one clinician and one patient trial report, one cohort report."""

from __future__ import annotations

from microtrial.domain.actors import system_actor
from microtrial.reports.cohort_report import cohort_reports
from microtrial.reports.trial_report import Audience, trial_reports
from microtrial.services.trial_views import list_trials
from microtrial.store.db import Database

FORMATS = ("html", "pdf")


def demo_reports(db: Database) -> dict[str, str | bytes]:
    """File name -> content (HTML text or PDF bytes) for the demo's output folder."""
    actor = system_actor("demo")
    unblinded = [t for t in list_trials(db, actor) if t.status == "unblinded"]
    out: dict[str, str | bytes] = {}
    if unblinded:
        trial = next((t for t in unblinded if not t.unblinded_early), unblinded[0])
        audiences: tuple[Audience, ...] = ("clinician", "patient")
        for audience in audiences:
            done = trial_reports(db, actor, trial.id, audience=audience, formats=FORMATS)
            for fmt, content in done.items():
                out[f"report-trial-{trial.id}-{audience}.{fmt}"] = content
    for fmt, content in cohort_reports(db, actor, formats=FORMATS).items():
        out[f"report-cohort.{fmt}"] = content
    return out
