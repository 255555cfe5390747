"""The patient's History (issue 15): server-drawn SVG charts of pain, worst pain, sleep, mood scores
and capsules with tables (arms only after unblinding), "No diary entries yet" when empty, the own
diary as CSV and PDF, and a light first load (under 500 KB, static files compressed)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from typing import Any

import pytest
from sqlalchemy import select

from e2e.conftest import VIEWPORTS, Pages
from e2e.setup import running_trial
from e2e.test_patient_plan import axe_violations
from helpers import Clinic, FixedClock, after_last_period
from microtrial.services import dosing, records, trial_lifecycle, trial_views
from microtrial.store.models import AuditEventRow


@pytest.fixture
def viewport() -> str:
    """Patient pages: a 390x844 phone."""
    return "phone"


def diary_days(clinic: Clinic, clock: FixedClock, trial_id: int | None) -> list[dt.date]:
    """Six diary days in the past week (one missing), a PHQ-9 and a GAD-7, and a capsule."""
    patient = clinic.actors["p_A-001"]
    pid = clinic.patients["A-001"].id
    today = clock.now.date()
    days = [today - dt.timedelta(days=n) for n in (6, 5, 4, 2, 1, 0)]
    entries = [
        records.DiaryInput(
            local_date=day,
            answers={"average_pain": 3 + i % 3, "worst_pain": 6 + i % 2, "sleep_quality": 7 - i},
        )
        for i, day in enumerate(days)
    ]
    entries.append(records.DiaryInput(local_date=today, instrument_id="phq9", answers=phq(2)))
    entries.append(
        records.DiaryInput(
            local_date=today, instrument_id="gad7", answers={f"q{i}": 1 for i in range(1, 8)}
        )
    )
    records.record_diary_entries(clinic.db, patient, pid, entries, clock=clock)
    if trial_id is not None:
        dosing.record_dose(
            clinic.db,
            patient,
            trial_id,
            taken_at=clock.now,
            kit_code=kit_today(clinic, clock, trial_id),
            clock=clock,
        )
    return days


def phq(first: int) -> dict[str, int]:
    """PHQ-9 answers with item 9 at zero."""
    return {f"q{i}": (first if i == 1 else 0) for i in range(1, 10)}


def kit_today(clinic: Clinic, clock: FixedClock, trial_id: int) -> str:
    cal = trial_views.trial_calendar(clinic.db, clinic.actors["clinician_sitea"], trial_id)
    code = cal.on(clock.now.date()).kit_code
    assert code
    return code


def test_an_empty_history_says_so(pages: Pages) -> None:
    page = pages.open("p_A-001", "/history")
    assert page.locator("#no-entries").inner_text() == "No diary entries yet."
    assert page.locator("svg").count() == 0
    assert "-1" not in page.inner_text("main")
    assert axe_violations(page) == []
    pages.shot(page, "history-empty")


def test_history_charts_pain_sleep_mood_and_capsules_without_arms(
    pages: Pages, clinic: Clinic, clock: FixedClock
) -> None:
    trial = running_trial(clinic, clock)
    diary_days(clinic, clock, trial.id)
    page = pages.open("p_A-001", "/history")
    charts = page.locator("svg[role='img']")
    assert charts.count() == 4
    names = [charts.nth(i).locator("title").text_content() for i in range(4)]
    assert names == [
        "Your daily pain, 0 (no pain) to 10 (worst imaginable)",
        "How you rated your sleep, 0 (worst) to 10 (best)",
        "Your mood questionnaire scores (higher means more symptoms)",
        "Days you took a capsule",
    ]
    pain = page.locator("#pain-figure svg")
    assert pain.locator("polyline").count() == 4  # average and worst, each broken by the gap
    assert page.locator("#doses-figure svg rect[fill='#6b3fa0']").count() == 1
    # Nothing interactive inside a chart (axe nested-interactive), and no chart library.
    assert page.locator("figure a, figure button, figure [tabindex]").count() == 0
    rows = page.get_by_role("table", name=re.compile("^My diary, latest day first")).locator(
        "tbody tr"
    )
    assert rows.first.inner_text().split("\t") == ["2 Mar 2026", "5", "7", "2", "Taken"]
    assert rows.count() == 6
    mood = page.get_by_role("table", name=re.compile("^Mood \\(PHQ-9\\) scores"))
    assert mood.locator("tbody tr").first.inner_text().split("\t") == ["2 Mar 2026", "2"]
    text = page.inner_text("main")
    assert "Active" not in text
    assert "Placebo" not in text
    assert "Period 1" in page.content()
    assert axe_violations(page) == []
    pages.shot(page, "history-charts")


def test_arms_show_on_the_history_only_after_unblinding(
    pages: Pages, clinic: Clinic, clock: FixedClock
) -> None:
    trial = running_trial(clinic, clock)
    diary_days(clinic, clock, trial.id)
    doc = clinic.actors["clinician_sitea"]
    after_last_period(clinic, clock, trial.id)
    trial_lifecycle.transition(clinic.db, doc, trial.id, "complete", reason="done", clock=clock)
    trial_lifecycle.unblind_trial(clinic.db, doc, trial.id, clock=clock)
    arm = trial_views.get_trial(clinic.db, doc, trial.id).periods[0].arm
    page = pages.open("p_A-001", "/history")
    assert arm in ("active", "placebo")
    assert page.locator("#pain-figure svg text", has_text=arm.capitalize()).count() >= 1
    rows = page.get_by_role("table", name=re.compile("^My diary, latest day first")).locator(
        "tbody tr"
    )
    assert rows.first.inner_text().split("\t")[-1] == arm.capitalize()
    assert axe_violations(page) == []
    pages.shot(page, "history-unblinded")


def test_the_patient_downloads_their_own_diary_as_csv_and_pdf(
    pages: Pages, clinic: Clinic, clock: FixedClock
) -> None:
    days = diary_days(clinic, clock, None)
    page = pages.open("p_A-001", "/history")
    with page.expect_download() as got:
        page.get_by_role("link", name="Spreadsheet (CSV)").click()
    text = got.value.path().read_text(encoding="utf-8")
    table = list(csv.reader(io.StringIO(text)))
    assert table[0] == ["date", "questionnaire", "question", "answer"]
    assert table[1][0] == days[0].isoformat()
    assert table[1][1] == "Daily pain diary"
    assert table[1][2].startswith("Average pain in the last 24 hours")
    assert table[1][3] == "3"
    assert sum(1 for r in table if r[1].startswith("Patient Health Questionnaire")) == 9 or any(
        "PHQ" in r[1] for r in table
    )
    assert got.value.suggested_filename == "my-diary-A-001-2026-03-02.csv"
    with page.expect_download() as got_pdf:
        page.get_by_role("link", name="PDF (to print or share)").click()
    pdf = got_pdf.value.path().read_bytes()
    assert pdf.startswith(b"%PDF")
    from pypdf import PdfReader

    words = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    for expected in ("My diary", "A-001", "Average pain"):
        assert expected in words
    with clinic.db.transaction() as session:
        exports = session.execute(
            select(AuditEventRow.detail).where(
                AuditEventRow.action == "export",
                AuditEventRow.entity == "diary_history",
                AuditEventRow.patient_id == clinic.patients["A-001"].id,
            )
        ).scalars()
        assert sorted(d["format"] for d in exports) == ["csv", "pdf"]


def test_staff_cannot_use_the_patient_diary_export(pages: Pages) -> None:
    page = pages.open("clinician_sitea", "/clinic/patients")
    response = page.request.get("/history/diary.csv")
    assert response.status == 403


def transfer(page: Any, path: str) -> tuple[int, int, list[str]]:
    """Bytes transferred for a first load of ``path`` (all responses), the compressed
    JavaScript among them, and the static files that came uncompressed."""
    sizes: list[tuple[str, int, str]] = []

    def on_finished(request: Any) -> None:
        response = request.response()
        s = request.sizes()
        encoding = (response.headers.get("content-encoding") if response else None) or ""
        sizes.append((request.url, s["responseBodySize"] + s["responseHeadersSize"], encoding))

    page.on("requestfinished", on_finished)
    page.goto(path)
    page.wait_for_load_state("networkidle")
    page.remove_listener("requestfinished", on_finished)
    total = sum(n for _, n, _ in sizes)
    js = sum(n for url, n, _ in sizes if url.endswith(".js"))
    plain = [u for u, n, enc in sizes if "/static/" in u and n > 1000 and enc != "gzip"]
    return total, js, plain


def test_first_load_of_today_and_history_is_light(
    pages: Pages, clinic: Clinic, clock: FixedClock
) -> None:
    trial = running_trial(clinic, clock)
    diary_days(clinic, clock, trial.id)
    page = pages.open("p_A-001", "/questionnaires/phq9")
    fresh = page.context.browser.new_context(
        base_url=pages.server.url, storage_state=page.context.storage_state(), **VIEWPORTS["phone"]
    )
    pages.contexts.append(fresh)
    first = fresh.new_page()
    today, today_js, today_plain = transfer(first, "/today")
    history, history_js, history_plain = transfer(first, "/history")
    print(f"first load: Today {today} B (JS {today_js}), History {history} B (JS {history_js})")
    assert today + history < 500_000, (today, history)
    assert max(today_js, history_js) <= 300_000
    assert today_plain + history_plain == []
    icon = first.locator("link[rel='icon']").get_attribute("href")
    assert icon == "/static/favicon.svg"
    assert first.request.get(icon).headers["content-type"].startswith("image/svg+xml")
    # Pages carry CSRF tokens and personal data: never compressed (BREACH); static files are.
    assert "content-encoding" not in first.request.get("/history").headers
    js = first.request.get("/static/vendor/plotly.min.js", headers={"Accept-Encoding": "gzip"})
    assert js.ok  # staff result pages keep their charts
    assert js.headers["content-encoding"] == "gzip"
    loaded = first.evaluate(
        """() => new Promise((resolve) => {
            const s = document.createElement("script");
            s.src = "/static/vendor/plotly.min.js";
            s.onload = () => resolve(typeof window.Plotly.newPlot);
            s.onerror = () => resolve("failed");
            document.head.appendChild(s);
        })"""
    )
    assert loaded == "function"  # the browser reads the compressed bundle
