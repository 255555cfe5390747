"""Honest reports: every report says microdosing for pain is unproven and is not medical advice;
reports of the demo clinic say, on every page, that they are simulated; real clinics' do not."""

from __future__ import annotations

import io
import re
from dataclasses import replace
from html.parser import HTMLParser

import pandas as pd
import pypdf
from sqlalchemy import select

from helpers import Clinic, FixedClock
from microtrial.analysis.blinding import BlindingResult, blinding
from microtrial.domain.actors import system_actor
from microtrial.reports.cohort_report import cohort_reports, render_cohort_report
from microtrial.reports.trial_report import render_trial_report, trial_reports
from microtrial.services import admin, analysis
from microtrial.store.db import Database
from microtrial.store.models import TrialRow

UNPROVEN = "Microdosing for pain is unproven"
NOT_ADVICE = "This report is not medical advice."
SIMULATED_PAGE = "SIMULATED DEMO DATA"


def pdf_texts(pdf: bytes) -> list[str]:
    """Each page's text, extracted with pypdf, whitespace collapsed."""
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    return [re.sub(r"\s+", " ", page.extract_text()) for page in reader.pages]


class _Sections(HTMLParser):
    """The visible text of each <section id=...>, cells and paragraphs separated by spaces."""

    def __init__(self) -> None:
        super().__init__()
        self.text: dict[str, str] = {}
        self.current: str | None = None
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("style", "svg"):
            self.skip += 1
        if tag == "section":
            self.current = dict(attrs).get("id") or ""
            self.text[self.current] = ""
        elif self.current is not None:
            self.text[self.current] += " "

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "svg"):
            self.skip -= 1
        if tag == "section":
            self.current = None
        elif self.current is not None:
            self.text[self.current] += " "

    def handle_data(self, data: str) -> None:
        if self.current is not None and not self.skip:
            self.text[self.current] += data


def sections_of(html: str) -> dict[str, str]:
    """Each section's text, whitespace collapsed."""
    parser = _Sections()
    parser.feed(html)
    return {k: re.sub(r"\s+", " ", v).strip() for k, v in parser.text.items()}


def unblinded_demo_trial(db: Database) -> int:
    """The first unblinded trial of the demo clinic."""
    with db.transaction() as session:
        query = select(TrialRow.id).where(TrialRow.status == "unblinded").order_by(TrialRow.id)
        return int(session.execute(query).scalars().first() or 0)


def assert_honest(html: str, pdf: bytes, *, simulated: bool) -> None:
    """The disclaimer in the HTML and the PDF; the simulated mark on every page iff demo data."""
    assert 'id="not-medical-advice"' in html
    assert UNPROVEN in html
    assert NOT_ADVICE in html
    pages = pdf_texts(pdf)
    assert UNPROVEN in pages[0]
    assert NOT_ADVICE in pages[0]
    if simulated:
        assert 'id="simulated-data"' in html
        assert "Simulated demo data" in html
        assert len(pages) > 1
        for number, text in enumerate(pages, 1):
            assert SIMULATED_PAGE in text, f"page {number} not marked simulated"
    else:
        assert 'id="simulated-data"' not in html
        assert "simulated" not in html.lower()
        assert not any(SIMULATED_PAGE in text for text in pages)


def test_demo_trial_reports_are_marked_simulated_on_every_page(demo_clinic: Database) -> None:
    trial_id = unblinded_demo_trial(demo_clinic)
    doc = admin.user_actor(demo_clinic, "dr.demo")
    for audience in ("clinician", "patient"):
        done = trial_reports(demo_clinic, doc, trial_id, audience=audience, formats=("html", "pdf"))
        html, pdf = done["html"], done["pdf"]
        assert isinstance(html, str)
        assert isinstance(pdf, bytes)
        assert_honest(html, pdf, simulated=True)
    caveat = "no controlled trial has shown that it relieves pain"
    clinician = trial_reports(demo_clinic, doc, trial_id)["html"]
    assert isinstance(clinician, str)
    assert caveat in clinician


def test_demo_cohort_report_is_marked_simulated_on_every_page(demo_clinic: Database) -> None:
    researcher = admin.user_actor(demo_clinic, "researcher.demo")
    done = cohort_reports(demo_clinic, researcher, formats=("html", "pdf"))
    html, pdf = done["html"], done["pdf"]
    assert isinstance(html, str)
    assert isinstance(pdf, bytes)
    assert_honest(html, pdf, simulated=True)


def test_a_real_clinics_cohort_report_is_not_marked_simulated(
    clinic: Clinic, clock: FixedClock
) -> None:
    # a real site may even be coded DEMO: only the demo's own site (code and name) counts
    admin.add_site(clinic.db, system_actor(), "DEMO", "Demonstration Hospital", clock=clock)
    researcher = clinic.actors["researcher_sitea"]
    done = cohort_reports(clinic.db, researcher, formats=("html", "pdf"), clock=clock)
    html, pdf = done["html"], done["pdf"]
    assert isinstance(html, str)
    assert isinstance(pdf, bytes)
    assert_honest(html, pdf, simulated=False)


# ----------------------------------------------------------------------------- blinding edge cases

UNDEFINED = "not defined (no named guesses)"


def only_dont_know_in_active() -> BlindingResult:
    """Guesses where every active period was answered "don't know"."""
    return blinding(
        pd.DataFrame(
            {
                "trial_id": "A",
                "period": [1, 2, 3, 4],
                "arm": ["active", "placebo", "active", "placebo"],
                "guess": ["dont_know", "placebo", "dont_know", "active"],
            }
        )
    )


def test_reports_say_bangs_index_is_undefined_without_named_guesses(
    demo_clinic: Database,
) -> None:
    edge = only_dont_know_in_active()
    researcher = admin.user_actor(demo_clinic, "researcher.demo")
    cohort = replace(analysis.cohort_analysis(demo_clinic, researcher), blinding=edge)
    html = render_cohort_report(cohort, "html")
    assert f"active 2 0 0 2 {UNDEFINED} {UNDEFINED}" in sections_of(html)["blinding"]
    assert "among the named guesses (“don't know” left out): 50 %" in html
    pdf = render_cohort_report(cohort, "pdf")
    assert UNDEFINED in " ".join(pdf_texts(pdf))

    doc = admin.user_actor(demo_clinic, "dr.demo")
    trial = analysis.analyse_trial(demo_clinic, doc, unblinded_demo_trial(demo_clinic))
    clinician = render_trial_report(replace(trial, blinding=edge), fmt="html")
    assert (
        f"Bang's blinding index: active {UNDEFINED} (0 of 2 right); placebo 0.00"
        in (sections_of(clinician)["blinding"])
    )


def test_patient_report_counts_right_guesses_among_named_ones(demo_clinic: Database) -> None:
    doc = admin.user_actor(demo_clinic, "dr.demo")
    trial = analysis.analyse_trial(demo_clinic, doc, unblinded_demo_trial(demo_clinic))
    guesses = trial.guesses.copy()
    guesses.loc[guesses.index[0], ["guess", "correct"]] = ["dont_know", False]
    right = int(guesses["correct"].sum())
    dont_know = int((guesses["guess"] == "dont_know").sum())
    named = len(guesses) - dont_know
    assert dont_know >= 1
    html = render_trial_report(replace(trial, guesses=guesses), audience="patient", fmt="html")
    text = sections_of(html)["blinding"]
    assert f"Of the {named} times you named the capsules, you were right {right} ." in text
    said = "1 time" if dont_know == 1 else f"{dont_know} times"
    verb = "is" if dont_know == 1 else "are"
    assert f"The {said} you said you did not know {verb} not counted." in text
