"""The demo's sample reports: one clinician and one patient trial report, one cohort report."""

from __future__ import annotations

from microtrial.reports.cohort_report import render_cohort_reports
from microtrial.reports.trial_report import Audience, render_trial_reports
from microtrial.services.report_data import DemoReportData

FORMATS = ("html", "pdf")


def demo_reports(data: DemoReportData) -> dict[str, str | bytes]:
    """File name -> content (HTML text or PDF bytes) for the demo's output folder."""
    out: dict[str, str | bytes] = {}
    if data.trial is not None:
        trial_id = data.trial.analysis.trial.id
        audiences: tuple[Audience, ...] = ("clinician", "patient")
        for audience in audiences:
            done = render_trial_reports(data.trial, audience=audience, formats=FORMATS)
            for fmt, content in done.items():
                out[f"report-trial-{trial_id}-{audience}.{fmt}"] = content
    for fmt, content in render_cohort_reports(data.cohort, formats=FORMATS).items():
        out[f"report-cohort.{fmt}"] = content
    return out
