"""The clinician's worklist: urgency order, search, filters, pages and row details."""

from __future__ import annotations

import datetime as dt

import pytest

from e2e.setup import running_trial
from helpers import Clinic, FixedClock
from microtrial.domain.actors import system_actor
from microtrial.errors import PermissionDenied, ValidationError
from microtrial.services import alerts, patients, records, worklist
from microtrial.services.records import DiaryInput
from microtrial.services.worklist import WorklistQuery, pain_trend

SYSTEM = system_actor("test")


def enrol(clinic: Clinic, code: str, conditions: list[str]) -> int:
    """A patient at site A, enrolled long ago."""
    return patients.enrol_patient(
        clinic.db,
        SYSTEM,
        site_code="SITEA",
        study_code=code,
        birth_year=1975,
        sex="male",
        time_zone="Europe/London",
        conditions=conditions,
        clock=lambda: clinic.enrolled_at,
    ).id


def codes(page: worklist.WorklistPage) -> list[str]:
    return [r.study_code for r in page.rows]


@pytest.fixture
def ward(clinic: Clinic, clock: FixedClock) -> dict[str, int]:
    """Site A: A-001 with a running trial (missed diary, overdue guess), an urgent alert, a hold."""
    doc = clinic.actors["clinician_sitea"]
    running_trial(clinic, clock)  # started 7 days ago, no diary since: a missed diary
    ids = {code: enrol(clinic, code, ["M79.7"]) for code in ("U-OLD", "U-NEW", "HOLD")}
    today = clock().date()
    clock.advance(hours=-5)
    phq9 = {f"q{i}": 0 for i in range(1, 10)} | {"q9": 1}
    records.record_diary_entry(
        clinic.db, doc, ids["U-OLD"], DiaryInput(today, phq9, "phq9"), clock=clock
    )
    clock.advance(hours=3)
    records.record_diary_entry(
        clinic.db, doc, ids["U-NEW"], DiaryInput(today, phq9, "phq9"), clock=clock
    )
    clock.advance(hours=2)
    bp = {"systolic": 165, "diastolic": 85}
    records.record_diary_entry(
        clinic.db, doc, ids["HOLD"], DiaryInput(today, bp, "home_bp"), clock=clock
    )
    return ids


@pytest.mark.usefixtures("ward")
def test_the_worklist_orders_by_urgency_then_study_code(clinic: Clinic, clock: FixedClock) -> None:
    doc = clinic.actors["clinician_sitea"]
    page = worklist.worklist(clinic.db, doc, WorklistQuery(), clock=clock)
    assert codes(page) == ["U-OLD", "U-NEW", "HOLD", "A-001", "A-002"]
    assert [r.tier for r in page.rows] == [0, 0, 1, 3, 5]
    assert [r.reason for r in page.rows][:4] == [
        "open urgent alert",
        "open urgent alert",
        "dose hold",
        "missed diary",
    ]
    first = page.rows[0]
    assert first.urgent_alerts == 1
    assert first.oldest_urgent_at is not None
    assert first.conditions == ["Fibromyalgia (M79.7)"]
    trial_row = page.rows[3]
    assert trial_row.trial_status == "running"
    assert (trial_row.current_period, trial_row.period_count) == (1, 6)
    assert trial_row.conditions == ["Other or unspecified migraine (G43.909)"]
    assert (page.total, page.pages) == (5, 1)
    # site B's patient is never listed
    assert "B-001" not in codes(worklist.worklist(clinic.db, doc, WorklistQuery(page_size=100)))


def test_acknowledging_moves_a_patient_down_and_an_overdue_guess_counts(
    clinic: Clinic, clock: FixedClock, ward: dict[str, int]
) -> None:
    doc = clinic.actors["clinician_sitea"]
    for alert in alerts.list_alerts(clinic.db, doc, patient_id=ward["U-OLD"], clock=clock):
        alerts.acknowledge_alert(clinic.db, doc, alert.id, "called, safe", clock=clock)
    page = worklist.worklist(clinic.db, doc, WorklistQuery(), clock=clock)
    assert codes(page)[:2] == ["U-NEW", "HOLD"]
    assert codes(page)[-2:] == ["A-002", "U-OLD"]
    # three weeks on, A-001's first period is over without a guess (and diaries kept up)
    a1 = clinic.patients["A-001"].id
    clock.advance(days=21)
    for back in range(3):
        day = clock().date() - dt.timedelta(days=back)
        records.record_diary_entry(
            clinic.db, doc, a1, DiaryInput(day, {"average_pain": 4}), clock=clock
        )
    row = next(
        r
        for r in worklist.worklist(clinic.db, doc, WorklistQuery(), clock=clock).rows
        if r.id == a1
    )
    assert (row.tier, row.reason) == (4, "blinding guess overdue")


@pytest.mark.usefixtures("ward")
def test_search_filters_and_pages(clinic: Clinic, clock: FixedClock) -> None:
    doc = clinic.actors["clinician_sitea"]
    for n in range(20):
        enrol(clinic, f"Z-{n:03d}", [])
    search = worklist.worklist(clinic.db, doc, WorklistQuery(search="u-"), clock=clock)
    assert codes(search) == ["U-OLD", "U-NEW"]
    assert codes(worklist.worklist(clinic.db, doc, WorklistQuery(search="%"), clock=clock)) == []
    running = worklist.worklist(clinic.db, doc, WorklistQuery(status="running"), clock=clock)
    assert codes(running) == ["A-001"]
    none = worklist.worklist(clinic.db, doc, WorklistQuery(status="none", page_size=100))
    assert "A-001" not in codes(none)
    assert len(none.rows) == 24
    flagged = worklist.worklist(clinic.db, doc, WorklistQuery(open_alerts=True), clock=clock)
    assert codes(flagged) == ["U-OLD", "U-NEW", "HOLD"]
    first = worklist.worklist(clinic.db, doc, WorklistQuery(page_size=10), clock=clock)
    assert (first.total, first.pages, len(first.rows)) == (25, 3, 10)
    assert codes(first)[:3] == ["U-OLD", "U-NEW", "HOLD"]
    last = worklist.worklist(clinic.db, doc, WorklistQuery(page=3, page_size=10), clock=clock)
    assert codes(last) == [f"Z-{n:03d}" for n in range(15, 20)]
    beyond = worklist.worklist(clinic.db, doc, WorklistQuery(page=9, page_size=10), clock=clock)
    assert (beyond.page, codes(beyond)) == (3, codes(last))
    seen = codes(first) + codes(
        worklist.worklist(clinic.db, doc, WorklistQuery(page=2, page_size=10))
    )
    assert len(set(seen + codes(last))) == 25


def test_the_worklist_checks_its_query_and_its_reader(clinic: Clinic, clock: FixedClock) -> None:
    doc = clinic.actors["clinician_sitea"]
    with pytest.raises(ValidationError, match="status"):
        worklist.worklist(clinic.db, doc, WorklistQuery(status="lost"), clock=clock)
    with pytest.raises(ValidationError, match="page_size"):
        worklist.worklist(clinic.db, doc, WorklistQuery(page_size=7), clock=clock)
    for who in ("researcher_sitea", "p_A-001"):
        with pytest.raises(PermissionDenied):
            worklist.worklist(clinic.db, clinic.actors[who], WorklistQuery(), clock=clock)


def test_pain_trend_words() -> None:
    today = dt.date(2026, 3, 14)

    def days(values: list[float], end: dt.date) -> list[tuple[dt.date, float]]:
        return [(end - dt.timedelta(days=i), v) for i, v in enumerate(values)]

    worse = days([7, 7, 6], today) + days([4, 4, 5], today - dt.timedelta(days=7))
    assert pain_trend(worse, today).model_dump() == {
        "recent": 6.7,
        "before": 4.3,
        "direction": "worse",
        "words": "worse: 4.3 to 6.7",
    }
    better = days([2, 2, 2], today) + days([5, 5, 5], today - dt.timedelta(days=7))
    assert pain_trend(better, today).direction == "better"
    same = days([5, 5, 5], today) + days([5, 4, 5], today - dt.timedelta(days=7))
    assert pain_trend(same, today).words == "about the same: 4.7 to 5"
    assert pain_trend(days([5, 5], today), today).direction == "unknown"
