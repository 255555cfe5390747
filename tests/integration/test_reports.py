"""Trial and cohort reports: every section, the engine's numbers in the text, PDFs with content.

Trials are walked through the real services (plan, schedule, start, diary, doses, guesses,
complete or unblind); the demo clinic gives completed trials and a cohort.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from html.parser import HTMLParser
from importlib.resources import files
from pathlib import Path

import numpy as np
import pypdfium2 as pdfium
import pytest
from scipy import integrate
from sqlalchemy import select
from typer.testing import CliRunner

from helpers import Clinic, FixedClock, after_last_period
from microtrial import i18n
from microtrial.analysis.density import effect_posterior
from microtrial.cli.main import app
from microtrial.domain.catalog import load_catalog
from microtrial.domain.design import DesignSpec
from microtrial.errors import ConflictError
from microtrial.reports.cohort_report import render_cohort_report
from microtrial.reports.trial_report import (
    PATIENT_SECTIONS,
    SECTIONS,
    analysis_frame,
    render_trial_report,
    trial_report,
    trial_reports,
)
from microtrial.services import (
    admin,
    adverse_events,
    analysis,
    dosing,
    records,
    screening,
    trial_allocation,
    trial_lifecycle,
    trial_planning,
    trial_views,
)
from microtrial.services import patients as patient_services
from microtrial.services.records import DiaryInput
from microtrial.services.trial_planning import RegimenChoice
from microtrial.store.db import Database
from microtrial.store.models import TrialRow

REGIMEN = RegimenChoice(
    template="fadiman", substance="psilocybin", amount=100, unit="mg dried material"
)
SPEC = DesignSpec(run_in_days=7, pairs=2, period_days=14, wash_in_days=3)
MINUS = "\u2212"
BLOCKS = {"td", "th", "tr", "p", "li", "div", "dt", "dd", "h2", "h3", "br", "figcaption", "b"}


# ----------------------------------------------------------------------------- helpers


def signed(x: float, digits: int = 1) -> str:
    """The report's rounding, written out independently: one decimal, true minus sign."""
    text = f"{x:.{digits}f}"
    if text.startswith("-"):
        text = text[1:]
        return text if float(text) == 0 else MINUS + text
    return text


def pct(p: float) -> str:
    shown = round(100 * p)
    if shown == 0 and p > 0:
        return "<1 %"
    if shown == 100 and p < 1:
        return ">99 %"
    return f"{shown} %"


def words(x: float) -> str:
    size = f"{abs(x):.1f}"
    if float(size) == 0:
        return f"about the same ({size} points)"
    return f"{size} {'point' if size == '1.0' else 'points'} {'lower' if x < 0 else 'higher'}"


class Sections(HTMLParser):
    """Collect the visible text of each <section id=...> of a report."""

    def __init__(self) -> None:
        super().__init__()
        self.text: dict[str, str] = {}
        self.current: str | None = None
        self.depth = 0
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._break(tag)
        if tag in ("style", "svg"):
            self.skip += 1
        if tag == "section":
            self.current = dict(attrs).get("id")
            self.text[self.current or ""] = ""

    def handle_endtag(self, tag: str) -> None:
        self._break(tag)
        if tag in ("style", "svg"):
            self.skip -= 1
        if tag == "section":
            self.current = None

    def _break(self, tag: str) -> None:
        if self.current is not None and tag in BLOCKS:
            self.text[self.current] += " "

    def handle_data(self, data: str) -> None:
        if self.current is not None and not self.skip:
            self.text[self.current] += data


def sections_of(html: str) -> dict[str, str]:
    parser = Sections()
    parser.feed(html)
    return {k: re.sub(r"\s+", " ", v).strip() for k, v in parser.text.items()}


def assert_all_sections(html: str, expected: tuple[tuple[str, str], ...]) -> dict[str, str]:
    found = sections_of(html)
    for section_id, heading in expected:
        assert section_id in found, f"section {section_id!r} missing"
        body = found[section_id]
        assert body.startswith(heading), (section_id, body[:80])
        assert len(body) > len(heading) + 20, f"section {section_id!r} is empty: {body!r}"
    return found


def pdf_pages(pdf: bytes) -> list[str]:
    """Rasterise every page (checking it is not blank) and return each page's text."""
    assert pdf.startswith(b"%PDF")
    document = pdfium.PdfDocument(pdf)
    texts = []
    try:
        assert len(document) >= 1
        for index in range(len(document)):
            page = document[index]
            pixels = page.render(scale=0.6).to_numpy()
            ink = (pixels[..., :3] < 200).any(axis=-1).mean()
            textpage = page.get_textpage()
            text = textpage.get_text_range()
            textpage.close()
            # A page is drawn when it carries text and visible ink. The ink threshold alone
            # failed now and then on a last page holding a line or two (one line of text
            # inks about 0.004 of the page at this scale), which is a short page, not a
            # blank one.
            drawn = ink > 0.0005 and (bool(text.strip()) or ink > 0.004)
            assert drawn, f"page {index + 1} looks blank ({ink:.4f} inked): {text[:200]!r}"
            texts.append(text)
            page.close()
    finally:
        document.close()
    return texts


def summary_expectations(primary: dict[str, float]) -> list[str]:
    return [
        f"average pain was {words(primary['effect_mean'])} than during placebo periods",
        f"95 % credible interval {signed(primary['ci95_low'])} to {signed(primary['ci95_high'])}",
        f"probability of any improvement {pct(primary['p_benefit'])}",
        f"probability of at least a 1-point improvement {pct(primary['p_mcid'])}",
    ]


def screened_patient(clinic: Clinic, clock: FixedClock) -> int:
    doc = clinic.actors["clinician_sitea"]
    pid = clinic.patients["A-001"].id
    for flag in screening.history_flag_ids():
        patient_services.set_history_flag(clinic.db, doc, pid, flag, False, clock=clock)
    assert screening.screen_patient(clinic.db, doc, pid, "psilocybin").decision == (
        "no-known-issues"
    )
    return pid


def walk_trial(
    clinic: Clinic,
    clock: FixedClock,
    *,
    seed: int,
    diary_share: float = 1.0,
    last_period: int | None = None,
    questionnaires: bool = False,
) -> int:
    """Run a trial day by day: diary (on a share of days), doses, guesses; returns its id."""
    rng = np.random.default_rng(seed)
    doc = clinic.actors["clinician_sitea"]
    me = clinic.actors["p_A-001"]
    pid = screened_patient(clinic, clock)
    trial = trial_planning.plan_trial(
        clinic.db, doc, pid, REGIMEN, SPEC, start_date=clock().date(), seed=seed, clock=clock
    )
    for step in ("schedule", "start"):
        trial_lifecycle.transition(clinic.db, doc, trial.id, step, clock=clock)
    prep = trial_allocation.kit_preparation(
        clinic.db, clinic.actors["unblinded_staff_sitea"], trial.id
    )
    arms = {k.period: k.arm for k in prep.kits}
    calendar = trial_views.trial_calendar(clinic.db, me, trial.id)
    noise = 0.0
    missed_dose = False
    for day in calendar.days:
        if last_period is not None and day.period is not None and day.period > last_period:
            break
        clock.now = dt.datetime.combine(day.date, dt.time(20), tzinfo=dt.UTC)
        noise = 0.4 * noise + rng.normal(0.0, 0.8)
        active = day.period is not None and arms[day.period] == "active" and not day.is_wash_in
        pain = int(np.clip(round(6.0 - 1.6 * active + noise), 0, 10))
        if rng.random() < diary_share:
            answers = {
                "average_pain": pain,
                "worst_pain": min(10, pain + 1),
                "sleep_quality": int(np.clip(round(8 - 0.5 * pain), 0, 10)),
            }
            records.record_diary_entry(
                clinic.db, me, pid, DiaryInput(day.date, answers), clock=clock
            )
        if day.is_dose_day:
            if day.period == 2 and not missed_dose:
                missed_dose = True  # one missed dose: a deviation the report must list
            else:
                dosing.record_dose(
                    clinic.db,
                    me,
                    trial.id,
                    taken_at=clock.now - dt.timedelta(hours=10),
                    kit_code=str(day.kit_code),
                    clock=clock,
                )
        period = next((p for p in trial.periods if p.end_date == day.date), None)
        if period is not None:
            guess = arms[period.number] if rng.random() < 0.7 else "dont_know"
            dosing.record_guess(clinic.db, me, trial.id, period.number, guess, 60, clock=clock)
            if questionnaires:
                phq = {f"q{i}": int(active) for i in range(1, 10)} | {"q9": 0}
                records.record_diary_entries(
                    clinic.db,
                    me,
                    pid,
                    [
                        DiaryInput(day.date, phq, instrument_id="phq9"),
                        DiaryInput(day.date, {"change": 2 if active else 4}, instrument_id="pgic"),
                    ],
                    clock=clock,
                )
    return trial.id


def finish(clinic: Clinic, clock: FixedClock, trial_id: int, reason: str) -> None:
    doc = clinic.actors["clinician_sitea"]
    clock.advance(days=1)
    after_last_period(clinic, clock, trial_id)
    trial_lifecycle.transition(clinic.db, doc, trial_id, "complete", reason=reason, clock=clock)
    trial_lifecycle.unblind_trial(clinic.db, doc, trial_id, clock=clock)


def unblinded_demo_trial(db: Database) -> int:
    with db.transaction() as session:
        return int(
            session.execute(
                select(TrialRow.id).where(TrialRow.status == "unblinded").order_by(TrialRow.id)
            )
            .scalars()
            .first()
            or 0
        )


# ----------------------------------------------------------------------------- tests


def test_completed_trial_report_shows_the_engines_numbers(
    clinic: Clinic, clock: FixedClock
) -> None:
    trial_id = walk_trial(clinic, clock, seed=5, questionnaires=True)
    finish(clinic, clock, trial_id, "all periods done")
    doc = clinic.actors["clinician_sitea"]
    result = analysis.analyse_trial(clinic.db, doc, trial_id, clock=clock)
    entries = records.list_diary_entries(clinic.db, doc, result.trial.patient_id, clock=clock)
    html = render_trial_report(result, audience="clinician", fmt="html", entries=entries)
    found = assert_all_sections(html, SECTIONS)
    primary = result.primary
    for text in summary_expectations(primary):
        assert text in found["summary"], text
    assert "Unblinded early" not in html
    assert "stopped early" not in html.lower()

    # the posterior section: engine numbers, and the exact posterior's 2-point probability
    post = effect_posterior(analysis_frame(result, "pain"))
    assert math.isclose(post.mean(), primary["effect_mean"], abs_tol=1e-9)
    assert math.isclose(float(post.cdf(-1.0)), primary["p_mcid"], abs_tol=1e-9)
    by_quadrature, _ = integrate.quad(lambda x: float(post.pdf(x)), -np.inf, -2.0)
    assert f"P(effect ≤ −2): at least 2 points {pct(by_quadrature)}" in found["posterior"]
    assert f"{signed(primary['effect_mean'])} ({primary['effect_sd']:.2f})" in found["posterior"]
    assert html.count('<svg role="img"') == 2  # trajectory + density

    # secondary outcomes: the engine's worst pain and sleep, PHQ-9 and PGIC from the entries
    worst = result.results[result.results["outcome"] == "worst_pain"].iloc[0]
    assert f"difference {signed(worst['effect_mean'])} (95 % CrI" in found["secondary"]
    assert f"P = {pct(primary['p_mcid'])}" in found["secondary"]
    assert f"= {pct(primary['p_mcid_rel'])}; active periods" in found["secondary"]
    assert "PHQ-9 (depression, 0–27) 8.0 (n = 2) 0.0 (n = 2)" in found["secondary"]
    assert "2 of 2 much/very much improved 0 of 2 much/very much improved" in found["secondary"]
    assert "GAD-7 (anxiety, 0–21) not collected" in found["secondary"]
    assert "Condition endpoints: Migraine" in found["secondary"]
    assert "migraine_diary not collected" in found["secondary"]

    # adherence: one dose left out on purpose, every other planned dose taken
    planned = int(result.days["dose_day"].sum())
    assert f"Doses taken on planned dose days {planned - 1} of {planned}" in found["adherence"]
    assert "dose missed on" in found["adherence"]
    # blinding: right guesses counted as the engine counts them
    right = int(result.guesses["correct"].sum())
    assert f"{right} of {len(result.guesses)} guesses were right" in found["blinding"]
    assert f"James' index {result.blinding.james_bi:.2f}" in found["blinding"]  # type: ignore[union-attr]
    # methods (CENT items), the catalog's evidence note with sources, caveats
    assert "2 pairs of 14-day periods (4 periods)" in found["methods"]
    assert "CENT 2015 items" in found["methods"]
    assert "No controlled trial of repeated microdoses in migraine" in found["evidence"]
    assert "Schindler" in found["evidence"]
    assert "does not make a diagnosis" in found["caveats"]

    # the patient version: plain words, the same numbers, and the clinician note
    plain = render_trial_report(result, audience="patient", fmt="html", entries=entries)
    text = sections_of(plain)
    assert_all_sections(plain, PATIENT_SECTIONS)
    assert f"your average pain was {words(primary['effect_mean'])}" in text["summary"]
    assert (
        f"between {words(primary['ci95_low'])} and {words(primary['ci95_high'])}"
        in (text["summary"])
    )
    assert f"lowered your pain at all: {pct(primary['p_benefit'])}" in text["summary"]
    assert (
        f"1 point or more, a change most people notice: {pct(primary['p_mcid'])}"
        in (text["summary"])
    )
    assert "MicroTrial does not replace your clinician" in plain
    for jargon in ("credible", "posterior", "MCID", "CTCAE", "Bang"):
        assert jargon not in plain
    assert "font-size: 20px" in plain

    # PDF from the same template: every page drawn, the summary numbers in its text
    pages = pdf_pages(render_trial_report(result, fmt="pdf", entries=entries))
    text_pdf = re.sub(r"\s+", " ", " ".join(pages))
    for _, heading in SECTIONS:
        assert heading in text_pdf, heading
    assert f"{signed(primary['ci95_low'])} to {signed(primary['ci95_high'])}" in text_pdf


def test_report_of_a_trial_with_many_missing_days(clinic: Clinic, clock: FixedClock) -> None:
    trial_id = walk_trial(clinic, clock, seed=8, diary_share=0.4)
    finish(clinic, clock, trial_id, "all periods done")
    doc = clinic.actors["clinician_sitea"]
    html = trial_report(clinic.db, doc, trial_id, clock=clock)
    assert isinstance(html, str)
    found = assert_all_sections(html, SECTIONS)
    result = analysis.analyse_trial(clinic.db, doc, trial_id, clock=clock)
    days = result.days
    observed = int(days["pain"].notna().sum())
    assert observed < 0.55 * len(days)
    assert f"Diary days recorded {observed} of {len(days)}" in found["adherence"]
    # of the days the model uses (wash-in days left out), as the caveat says
    used = days[~days["wash_in"].astype(bool)]
    missing = f"{round(100 * int(used['pain'].isna().sum()) / len(used))} %"
    assert f"Missing diary days: {missing} of the analysable days" in found["caveats"]
    for text in summary_expectations(result.primary):
        assert text in found["summary"], text
    assert "PHQ-9 (depression, 0–27) not collected" in found["secondary"]
    # Too few analysed days to pin the day-to-day correlation down: the report says so.
    short = "too few days to estimate the day-to-day correlation"
    assert short in result.primary["warning"]
    assert short in html


def test_report_of_a_trial_stopped_early(clinic: Clinic, clock: FixedClock) -> None:
    trial_id = walk_trial(clinic, clock, seed=11, last_period=3)
    finish(clinic, clock, trial_id, "patient moved away after period 3")
    doc = clinic.actors["clinician_sitea"]
    result = analysis.analyse_trial(clinic.db, doc, trial_id, clock=clock)
    html = render_trial_report(result, fmt="html")
    found = assert_all_sections(html, SECTIONS)
    assert 'id="stopped-early"' in html
    assert "Trial stopped early: patient moved away after period 3. 3 of 4 periods" in html
    assert "(not reached)" in found["periods"]
    assert "trial stopped" in html  # marked on the trajectory
    assert "The trial stopped before its planned end" in found["caveats"]
    for text in summary_expectations(result.primary):
        assert text in found["summary"], text
    assert "not available (entries not supplied)" in found["secondary"]
    plain = render_trial_report(result, audience="patient", fmt="html")
    assert "Your trial ended early (patient moved away after period 3)" in plain


def test_report_of_a_trial_unblinded_early_for_safety(clinic: Clinic, clock: FixedClock) -> None:
    trial_id = walk_trial(clinic, clock, seed=4, last_period=3)
    doc = clinic.actors["clinician_sitea"]
    me = clinic.actors["p_A-001"]
    pid = clinic.patients["A-001"].id
    onset = clock().date()
    adverse_events.record_adverse_event(
        clinic.db, me, pid, term="vomiting", grade=3, serious=False, onset_date=onset, clock=clock
    )
    reason = "grade 3 vomiting; blind broken to guide treatment"
    trial_lifecycle.unblind_trial(clinic.db, doc, trial_id, reason, clock=clock)
    result = analysis.analyse_trial(clinic.db, doc, trial_id, clock=clock)
    assert result.trial.unblinded_early
    out = trial_reports(clinic.db, doc, trial_id, formats=("html", "pdf"), clock=clock)
    html = out["html"]
    assert isinstance(html, str)
    found = assert_all_sections(html, SECTIONS)
    assert f"Unblinded early for safety: {reason}." in html
    assert "stopped-early" not in html
    assert f"vomiting Grade 3 severe no {onset.isoformat()}" in found["adverse-events"]
    assert ">G3</text>" in html  # marked on the trajectory
    assert "broken early for safety" in found["caveats"]
    for text in summary_expectations(result.primary):
        assert text in found["summary"], text
    pdf = out["pdf"]
    assert isinstance(pdf, bytes)
    assert "Unblinded early for safety" in " ".join(pdf_pages(pdf))
    plain = trial_report(clinic.db, me, trial_id, audience="patient", fmt="pdf", clock=clock)
    assert isinstance(plain, bytes)
    plain_text = re.sub(r"\s+", " ", " ".join(pdf_pages(plain)))
    assert "opened early for your safety" in plain_text
    assert "Vomiting on" in plain_text
    assert "MicroTrial does not replace your clinician" in plain_text


def test_a_blinded_trial_gets_no_report(clinic: Clinic, clock: FixedClock, tmp_path: Path) -> None:
    doc = clinic.actors["clinician_sitea"]
    pid = screened_patient(clinic, clock)
    trial = trial_planning.plan_trial(
        clinic.db, doc, pid, REGIMEN, SPEC, start_date=clock().date(), clock=clock
    )
    trial_lifecycle.transition(clinic.db, doc, trial.id, "schedule", clock=clock)
    with pytest.raises(ConflictError, match="still blinded"):
        trial_report(clinic.db, doc, trial.id, fmt="pdf", clock=clock)
    url = clinic.db.engine.url.render_as_string(hide_password=False)
    out = tmp_path / "r.html"
    result = CliRunner().invoke(
        app, ["report", "trial", str(trial.id), "--html", str(out), "--database-url", url]
    )
    assert result.exit_code == 7
    assert result.stdout == ""
    assert result.stderr.strip().count("\n") == 0
    assert "still blinded" in result.stderr
    assert not out.exists()


def test_cli_writes_trial_reports(demo_clinic: Database, tmp_path: Path) -> None:
    trial_id = unblinded_demo_trial(demo_clinic)
    url = str(demo_clinic.engine.url)
    html, pdf = tmp_path / "t.html", tmp_path / "t.pdf"
    result = CliRunner().invoke(
        app,
        [
            *("report", "trial", str(trial_id), "--patient"),
            *("--html", str(html), "--pdf", str(pdf), "--database-url", url),
        ],
    )
    assert result.exit_code == 0, result.stderr
    page = html.read_text(encoding="utf-8")
    doc = admin.user_actor(demo_clinic, "dr.demo")
    primary = analysis.analyse_trial(demo_clinic, doc, trial_id).primary
    assert f"your average pain was <b>{words(primary['effect_mean'])}</b>" in page
    text = " ".join(pdf_pages(pdf.read_bytes()))
    assert pct(primary["p_mcid"]) in text
    stdout = CliRunner().invoke(app, ["report", "trial", str(trial_id), "--database-url", url])
    assert stdout.exit_code == 0
    assert stdout.stdout.startswith("<!DOCTYPE html>")
    assert "N-of-1 trial report" in stdout.stdout


def test_cohort_report_is_pooled_and_deidentified(demo_clinic: Database, tmp_path: Path) -> None:
    researcher = admin.user_actor(demo_clinic, "researcher.demo")
    cohort = analysis.cohort_analysis(demo_clinic, researcher)
    assert cohort.pooled is not None
    assert cohort.blinding is not None
    html = render_cohort_report(cohort, "html")
    found = sections_of(html)
    for section in ("overview", "pooled", "forest", "trials", "blinding", "effect-by-guess"):
        assert len(found[section]) > 40, section
    summary = cohort.pooled.summary()
    overall = summary[summary["group"] == "overall"].iloc[0]
    assert (
        f"All conditions {int(overall['n_trials'])} {signed(overall['pooled_effect'], 2)} "
        f"({overall['pooled_sd']:.2f}) {signed(overall['ci95_low'], 2)} to "
        f"{signed(overall['ci95_high'], 2)}"
    ) in found["pooled"]
    assert (
        f"{signed(overall['pi95_low'], 2)} to {signed(overall['pi95_high'], 2)}"
        in (found["pooled"])
    )
    assert f"{overall['tau_mean']:.2f}" in found["pooled"]
    # condition groups of fewer than 5 trials: the caveat in words, and no prediction interval
    titles = {g.id: g.title for g in load_catalog().groups.values()}
    few = summary[summary["few_trials"]]
    assert len(few) > 0
    assert "Read with care:" in found["pooled"]
    for _, g in few.iterrows():
        n = int(g["n_trials"])
        trials = "1 trial" if n == 1 else f"{n} trials"
        assert (
            f"{titles[g['group']]}: Only {trials}: too few to estimate a typical effect; "
            "read the individual trials."
        ) in found["pooled"]
    assert found["pooled"].count("not given: too few trials") == len(few)
    assert "half-normal, scale 1 point" in found["pooled"]
    n_resp = round(overall["responder_share"] * overall["n_trials"])
    assert f"{n_resp} of {int(overall['n_trials'])}" in found["pooled"]
    for arm, row in cohort.blinding.arms.iterrows():
        assert f"{arm} {int(row['n'])} {int(row['n_correct'])}" in found["blinding"]
        assert signed(row["bang_bi"], 2) in found["blinding"]
    assert f"James' blinding index {cohort.blinding.james_bi:.2f}" in found["blinding"]
    right = cohort.effect_by_guess[cohort.effect_by_guess["stratum"] == "correct"].iloc[0]
    assert (
        f"guessed right {int(right['n_active'])} {int(right['n_placebo'])} "
        in (found["effect-by-guess"])
    )
    assert html.count("<svg") == 1
    # de-identified: no study codes, sites or trial dates
    doc = admin.user_actor(demo_clinic, "dr.demo")
    listed = trial_views.list_trials(demo_clinic, doc)
    for t in listed:
        assert t.patient_code not in html
        assert t.start_date.isoformat() not in html
    assert "DEMO" not in html

    url = str(demo_clinic.engine.url)
    pdf = tmp_path / "c.pdf"
    result = CliRunner().invoke(
        app,
        [
            *("report", "cohort", "--condition", "fibromyalgia"),
            *("--pdf", str(pdf), "--database-url", url),
        ],
    )
    assert result.exit_code == 0, result.stderr
    text = re.sub(r"\s+", " ", " ".join(pdf_pages(pdf.read_bytes())))
    assert "Scope: Fibromyalgia" in text
    assert "Forest plot" in text
    bad = CliRunner().invoke(
        app, ["report", "cohort", "--condition", "nope", "--database-url", url]
    )
    assert bad.exit_code == 2
    assert "unknown group" in bad.stderr


def test_a_trial_without_data_still_gets_a_report(clinic: Clinic, clock: FixedClock) -> None:
    doc = clinic.actors["clinician_sitea"]
    pid = screened_patient(clinic, clock)
    trial = trial_planning.plan_trial(
        clinic.db, doc, pid, REGIMEN, SPEC, start_date=clock().date(), clock=clock
    )
    for step in ("schedule", "start"):
        trial_lifecycle.transition(clinic.db, doc, trial.id, step, clock=clock)
    trial_lifecycle.unblind_trial(
        clinic.db, doc, trial.id, "allergic reaction on day 1", clock=clock
    )
    html = trial_report(clinic.db, doc, trial.id, clock=clock)
    assert isinstance(html, str)
    found = assert_all_sections(html, SECTIONS)
    assert "The primary outcome could not be analysed" in found["summary"]
    assert "No posterior" in found["posterior"]
    assert "Unblinded early for safety: allergic reaction on day 1." in html
    plain = trial_report(clinic.db, doc, trial.id, audience="patient", clock=clock)
    assert "We could not work out a result from your diary" in plain


REPORT_CONTEXT = "clinician report"


def template_messages(template: str) -> list[tuple[str, str]]:
    """The (context, message id) pairs a report template passes to ``_`` and ``pgettext``."""
    source = (files("microtrial.reports") / "templates" / template).read_text(encoding="utf-8")
    return re.findall(r'(?:\b_|pgettext)\((?:"([^"]+)", )?"([^"]+)"', source)


def translated(context: str, message: str) -> str:
    """A message in the current language, read in its context (none: "")."""
    return i18n.pgettext(context, message) if context else i18n.gettext(message)


def english_pieces(message: str) -> list[str]:
    """The literal words of a message id between its placeholders (longer than one word)."""
    text = message.replace("%%", "%")
    return [p.strip(" .,:;()") for p in re.split(r"%\([a-z_]+\)s", text) if " " in p.strip()]


def test_the_clinicians_report_speaks_german(clinic: Clinic, clock: FixedClock) -> None:
    trial_id = walk_trial(clinic, clock, seed=5, questionnaires=True)
    finish(clinic, clock, trial_id, "all periods done")
    doc = clinic.actors["clinician_sitea"]
    result = analysis.analyse_trial(clinic.db, doc, trial_id, clock=clock)
    entries = records.list_diary_entries(clinic.db, doc, result.trial.patient_id, clock=clock)
    with i18n.speaking("de"):
        html = render_trial_report(result, audience="clinician", fmt="html", entries=entries)
        pdf = render_trial_report(result, audience="clinician", fmt="pdf", entries=entries)
        headings = tuple(
            (section, i18n.gettext(heading))
            if i18n.gettext(heading) != heading
            else (section, i18n.pgettext(REPORT_CONTEXT, heading))
            for section, heading in SECTIONS
        )
        messages = template_messages("trial_clinician.html")
        english = [
            piece
            for context, message in messages
            for piece in english_pieces(message)
            if piece not in translated(context, message).replace("%%", "%")
        ]
    assert len(messages) > 100  # the template's wording is all in messages
    assert '<html lang="de">' in html
    assert "Bericht zur N-of-1-Studie — Fassung für Ärztinnen und Ärzte" in html
    found = assert_all_sections(html, headings)  # every section under its German heading
    assert found["summary"].startswith("Zusammenfassung")
    assert "In den Mikrodosierungsperioden war der durchschnittliche Schmerz" in found["summary"]
    assert "95-%-Kredibilitätsintervall" in found["summary"]
    assert " bis " in found["summary"]  # the interval in words, "−1,6 bis −0,2"
    assert "Vermutung des Patienten" in found["periods"]
    assert "Sekundäre Zielgrößen" in found["secondary"]
    assert "Randomisierte, placebokontrollierte, selbstverblindete" in found["methods"]
    assert "Dieses Ergebnis beschreibt einen Patienten" in found["caveats"]
    text = " ".join(found.values())
    left = sorted({piece for piece in english if piece in text})
    assert not left, left  # no English sentence of the template
    for sentence in (
        "During microdosing periods",
        "Randomised, placebo-controlled",
        "This result describes one patient",
        "named guesses were right",
        "wash-in days excluded",
    ):
        assert sentence not in text, sentence
    pages = pdf_pages(pdf)
    assert "Zusammenfassung" in pages[0]
    # the figures' axes, legends and text alternatives too (SVG text, not paths)
    for german in ("Studientag (Tag 0", "Perioden mit Wirkstoff", "A-posteriori-Dichte"):
        assert german in html, german
    for english in ("Study day (day 0", "active periods", "Posterior density"):
        assert english not in html, english
    # the page footer is worded too (a CSS margin box)
    assert f"MicroTrial-Bericht · Seite 1 von {len(pages)}" in pages[0]
    assert "MicroTrial report · page" not in " ".join(pages)
