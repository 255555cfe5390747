"""An urgent alert left unacknowledged past the site's delay: a banner on every clinician page."""

from __future__ import annotations

from e2e.conftest import Pages
from helpers import Clinic, FixedClock
from integration.test_alert_sweep import running_trial
from microtrial.services import records
from microtrial.services.records import DiaryInput


def test_an_overdue_urgent_alert_is_shown_first_with_its_age(
    pages: Pages, clinic: Clinic, clock: FixedClock
) -> None:
    pid = running_trial(clinic, clock, "A-001", run_in=0)
    answers = {f"q{i}": 0 for i in range(1, 10)} | {"q9": 1}
    records.record_diary_entry(
        clinic.db,
        clinic.actors["p_A-001"],
        pid,
        DiaryInput(clock().date(), answers, instrument_id="phq9"),
        clock=clock,
    )
    page = pages.open("clinician_sitea")
    assert page.locator("section.escalated").count() == 0  # not overdue yet
    clock.advance(hours=30)
    page = pages.open("clinician_sitea")  # a session ends 12 h after sign-in: sign in again
    for path in ("/clinic/patients", f"/clinic/patients/{pid}", "/clinic/alerts"):
        page.goto(path)
        banner = page.get_by_role("alert").filter(has_text="Escalated")
        assert "PHQ-9 item 9 above zero" in banner.inner_text()
        assert "30 h" in banner.locator(".age").inner_text()
        assert "A-001" in banner.inner_text()
    first = page.locator("article.alert-item").first
    assert "escalated" in first.inner_text()
    assert "PHQ-9 item 9 above zero" in first.inner_text()
    assert "phq9-item9" not in page.inner_text("body")  # named in words, not by its code
    pages.shot(page, "escalated-alerts")
    other = pages.open("clinician_siteb")
    assert other.locator("section.escalated").count() == 0  # another site's alert
