"""The HTML reports open offline in headless Chromium: no request leaves the file, none fails."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from microtrial.domain.actors import system_actor
from microtrial.reports.cohort_report import cohort_report
from microtrial.reports.trial_report import trial_report
from microtrial.store.db import Database
from microtrial.store.models import TrialRow

LOCAL = ("file:", "data:", "about:")


def open_offline(browser: Any, path: Path) -> tuple[Any, list[str], list[str], Any]:
    """Open ``path``; any non-local request is aborted and recorded, as is any failed one."""
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    context.set_default_timeout(10_000)
    outside: list[str] = []
    failed: list[str] = []

    def route(request_route: Any) -> None:
        url = request_route.request.url
        if url.startswith(LOCAL):
            request_route.continue_()
        else:
            outside.append(url)
            request_route.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("requestfailed", lambda request: failed.append(request.url))
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    assert errors == []
    return page, outside, failed, context


@pytest.mark.parametrize("kind", ["clinician", "patient", "cohort"])
def test_html_report_opens_offline(
    browser: Any, demo_clinic: Database, tmp_path: Path, kind: str
) -> None:
    actor = system_actor("test")
    with demo_clinic.transaction() as session:
        trial_id = session.execute(
            select(TrialRow.id).where(TrialRow.status == "unblinded").order_by(TrialRow.id)
        ).scalar()
    assert trial_id is not None
    if kind == "cohort":
        html = cohort_report(demo_clinic, actor)
    else:
        html = trial_report(demo_clinic, actor, trial_id, audience=kind)  # type: ignore[arg-type]
    assert isinstance(html, str)
    path = tmp_path / f"{kind}.html"
    path.write_text(html, encoding="utf-8")
    page, outside, failed, context = open_offline(browser, path)
    try:
        assert outside == []
        assert failed == []
        figures = page.locator("figure svg")
        expected = {"clinician": 2, "patient": 1, "cohort": 1}[kind]
        assert figures.count() == expected
        for i in range(expected):
            box = figures.nth(i).bounding_box()
            assert box is not None
            assert box["width"] > 300
            assert box["height"] > 100
        # every section is laid out with visible text
        for section in page.locator("section").all():
            assert section.is_visible()
            assert len(section.inner_text().strip()) > 20
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 1100
    finally:
        context.close()


def test_the_offline_guard_catches_a_remote_request(browser: Any, tmp_path: Path) -> None:
    path = tmp_path / "remote.html"
    path.write_text('<html><body><img src="https://example.invalid/x.png"></body></html>')
    page, outside, failed, context = open_offline(browser, path)
    try:
        assert outside == ["https://example.invalid/x.png"]
        assert failed == outside
        assert page.locator("img").count() == 1
    finally:
        context.close()
