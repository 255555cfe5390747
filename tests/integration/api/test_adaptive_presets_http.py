"""Named adaptive rules through the live server (issue 20): the plan form offers ``default`` and
``short`` with their trade-off in words, simulates the chosen one and stores it in the protocol;
the trial page, the API and the clinician report name the rule; the API takes a preset's name
and refuses a bad one, or a number the preset sets, naming the field."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import select

from helpers import Clinic, FixedClock
from integration.api.live import LiveServer, Login
from integration.api.test_adaptive_http import (
    DESIGN,
    PAIR_DAYS,
    REGIMEN,
    _complete_and_unblind,
    _diaries,
    _looks,
    _plan,
)
from integration.api.test_holds_http import _web
from integration.test_safety_services import clear_history
from microtrial.domain.adaptive import PRESETS
from microtrial.services import screening
from microtrial.store.models import TrialRow

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _screened(clinic: Clinic, clock: FixedClock) -> int:
    pid = clinic.patients["A-001"].id
    doc = clinic.actors["clinician_sitea"]
    clear_history(clinic, doc, pid)
    found = screening.screen_patient(clinic.db, doc, pid, "psilocybin", clock=clock)
    assert found.decision == "no-known-issues"
    return pid


def _form(clock: FixedClock, **change: str) -> dict[str, str]:
    """The plan form as a clinician fills it: an adaptive trial of up to 3 pairs of 7 days."""
    return {
        "template": REGIMEN["template"],
        "substance": REGIMEN["substance"],
        "amount": str(REGIMEN["amount"]),
        "unit": REGIMEN["unit"],
        "start_date": clock().date().isoformat(),
        "run_in_days": "0",
        "period_days": "7",
        "wash_in_days": "1",
        "adaptive": "on",
        "max_pairs": "3",
        "outcome": "pain",
        "min_pairs": "2",
        "benefit_threshold": "0.6",
        "futility_threshold": "0.2",
        **change,
    }


def test_the_plan_form_offers_the_named_rules_simulates_and_stores_the_chosen_one(
    server: LiveServer, clinic: Clinic, clock: FixedClock
) -> None:
    pid = _screened(clinic, clock)
    with _web(server, "clinician_sitea") as web:
        page = web.get(f"/clinic/patients/{pid}/trials/new").text
        for named in PRESETS.values():
            assert f'id="rule-{named.name}"' in page
            assert named.trade_off in page
        assert "stops more patients who truly benefit for futility" in page
        assert re.search(r'id="rule-default"[^>]*checked', page)  # the standard rule first

        token = CSRF.findall(page)[0]
        # The custom numbers typed below are ignored while a named rule is chosen.
        shown = web.post(
            f"/clinic/patients/{pid}/trials",
            data={**_form(clock, rule="short"), "simulate": "1", "csrf_token": token},
        )
        assert shown.status_code == 200, shown.text
        assert 'data-rule="short"' in shown.text
        assert "the Short rule (1–3 pairs, benefit ≥ 0.9, futility ≤ 0.4)" in shown.text
        assert re.search(r'id="rule-short"[^>]*checked', shown.text)  # the choice survived
        assert 'id="oc-summary"' in shown.text
        with clinic.db.transaction() as session:
            assert session.execute(select(TrialRow)).first() is None  # nothing planned

        # Without a choice (a client that sends no radio button) the numbers sent are the rule.
        custom = web.post(
            f"/clinic/patients/{pid}/trials",
            data={
                **_form(clock, benefit_threshold="0.7", futility_threshold="0.3"),
                "simulate": "1",
                "csrf_token": CSRF.findall(shown.text)[0],
            },
        )
        assert custom.status_code == 200, custom.text
        assert 'data-rule="custom"' in custom.text
        assert "the Custom rule (2–3 pairs, benefit ≥ 0.7, futility ≤ 0.3)" in custom.text

        refused = web.post(
            f"/clinic/patients/{pid}/trials",
            data={**_form(clock, rule="brisk"), "csrf_token": CSRF.findall(custom.text)[0]},
        )
        assert refused.status_code == 422
        assert 'id="rule-error">Rule: unknown rule &#39;brisk&#39;' in refused.text

        planned = web.post(
            f"/clinic/patients/{pid}/trials",
            data={**_form(clock, rule="short"), "csrf_token": CSRF.findall(refused.text)[0]},
        )
        assert planned.status_code == 200, planned.text
        assert re.search(r"/clinic/trials/\d+$", str(planned.url))
        assert 'data-rule="short"' in planned.text
        assert "Rule: <strong>Short</strong> (the named rule “short”)" in planned.text
        assert "from pair 1 on" in planned.text
    with clinic.db.transaction() as session:
        (trial,) = session.execute(select(TrialRow)).scalars()
        stored = trial.plan["adaptive"]
    assert stored == {
        "preset": "short",
        "min_pairs": 1,
        "max_pairs": 3,
        "benefit_threshold": 0.9,
        "futility_threshold": 0.4,
        "outcome": "pain",
    }


def test_the_api_takes_a_presets_name_and_refuses_a_bad_one_naming_the_field(
    api: httpx.Client, login: Login, clinic: Clinic, clock: FixedClock
) -> None:
    doc = login("clinician_sitea")
    pid = _screened(clinic, clock)
    body: dict[str, object] = {
        "regimen": REGIMEN,
        "design": DESIGN,
        "start_date": clock().date().isoformat(),
        "adaptive": {"preset": "brisk"},
    }
    refused = api.post(f"/patients/{pid}/trials", json=body, headers=doc)
    assert refused.status_code == 422, refused.text
    (problem,) = refused.json()["detail"]
    assert problem["field"] == "adaptive.preset"
    assert "'default'" in problem["msg"]
    assert "'short'" in problem["msg"]
    body["adaptive"] = {"preset": "short", "futility_threshold": 0.2}
    refused = api.post(f"/patients/{pid}/trials", json=body, headers=doc)
    assert refused.status_code == 422, refused.text
    (problem,) = refused.json()["detail"]
    assert problem["field"] == "adaptive.futility_threshold"
    assert "set by the preset 'short'" in problem["msg"]
    assert api.get(f"/patients/{pid}/trials", headers=doc).json()["items"] == []

    body["adaptive"] = {"preset": "short", "max_pairs": 3}
    made = api.post(f"/patients/{pid}/trials", json=body, headers=doc)
    assert made.status_code == 201, made.text
    rule = made.json()["adaptive"]
    assert (rule["preset"], rule["title"], rule["min_pairs"], rule["max_pairs"]) == (
        "short",
        "Short",
        1,
        3,
    )
    assert len(made.json()["periods"]) == 6  # all 3 pairs allocated
    schema = api.get("/openapi.json").json()["components"]["schemas"]["AdaptiveBody"]
    assert str(schema["properties"]["preset"]).count("short") >= 1


def test_a_short_trial_looks_after_the_first_pair_and_its_report_names_the_rule(
    api: httpx.Client, login: Login, clinic: Clinic, clock: FixedClock
) -> None:
    trial_id = _plan(api, login, clinic, clock, preset="short", min_pairs=None)
    doc = login("clinician_sitea")
    assert api.get(f"/trials/{trial_id}", headers=doc).json()["adaptive"]["preset"] == "short"
    _diaries(api, login, clinic, clock, trial_id, range(PAIR_DAYS), effect=0)
    # No effect: the first look, after pair 1 (not 2, the standard rule's), stops for futility.
    assert _looks(clinic, trial_id) == [(1, "stop-futility")]
    _complete_and_unblind(api, doc, clock, trial_id)
    report = api.get(f"/trials/{trial_id}/report", params={"format": "html"}, headers=doc)
    assert report.status_code == 200, report.text
    assert "Rule: <strong>Short (the named rule “short”)</strong>" in report.text
    assert "from pair 1 on" in report.text
    assert "The trial ran 1 of at most 3 pairs" in report.text
