"""The clinician's result page shows a migraine trial's primary endpoint from the same analysis."""

from __future__ import annotations

import math
import re
from pathlib import Path

import httpx
import pytest

from helpers import Clinic, FixedClock
from integration.api.live import LiveServer, Login, sqlite_copy
from integration.api.test_pages import sign_in
from integration.test_reports_endpoints import analysed, walk_headache_trial


@pytest.fixture
def database_url(sqlite_template: Path, tmp_path: Path) -> str:
    """SQLite only: the page renders the analysis service's result, whatever the backend."""
    return sqlite_copy(sqlite_template, tmp_path)


def test_result_page_shows_the_migraine_days_result(
    clinic: Clinic, clock: FixedClock, server: LiveServer
) -> None:
    rates = {"baseline": 0.4, "active": 0.1, "placebo": 0.55}
    trial_id, _ = walk_headache_trial(clinic, clock, condition="G43.909", rates=rates, seed=3)
    e = analysed(clinic, clock, trial_id).endpoint
    assert e is not None
    page = sign_in(server.url, "clinician_sitea").get(f"/clinic/trials/{trial_id}/result")
    assert page.status_code == 200, page.text
    table = page.text[page.text.index('id="endpoint"') :]
    table = re.sub(r"<[^>]+>", " ", table[: table.index("</table>")])
    text = re.sub(r"\s+", " ", table)
    assert "Migraine days, the condition's primary endpoint (binary (logistic) model" in text
    ratio = f"{math.exp(e.result['effect_mean']):.2f}"
    low, high = (f"{math.exp(e.result[k]):.2f}" for k in ("ci95_low", "ci95_high"))
    assert "Odds ratio 95 % credible interval" in text
    assert f"{ratio} {low} to {high}" in text
    assert f"about {abs(e.result['difference_mean']) * 28:.1f} fewer migraine days" in text
    assert "Effect of the active capsules compared with placebo" in page.text  # pain kept


def test_result_api_carries_the_endpoint(
    clinic: Clinic, clock: FixedClock, api: httpx.Client, login: Login
) -> None:
    rates = {"baseline": 0.4, "active": 0.1, "placebo": 0.55}
    trial_id, _ = walk_headache_trial(clinic, clock, condition="G43.909", rates=rates, seed=3)
    e = analysed(clinic, clock, trial_id).endpoint
    assert e is not None
    answer = api.get(f"/trials/{trial_id}/result", headers=login("clinician_sitea"))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    got = body["endpoint"]
    assert got["instrument"] == "migraine_diary"
    assert got["outcome_type"] == "binary"
    assert got["result"]["effect_mean"] == pytest.approx(e.result["effect_mean"])
    assert got["result"]["p_ratio_reduction"] == pytest.approx(e.result["p_ratio_reduction"])
    assert "p_mcid" not in got["result"]
