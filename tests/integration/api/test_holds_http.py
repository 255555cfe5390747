"""Holds reach the patient first, a reported dose is a fact, and the gates, through HTTP (issue 14,
deliverables 2, 3 and 7): BP 210/125 holds dosing; the patient's status says so and Today drops
the capsule prompt; a capsule reported anyway is stored as a deviation with an urgent alert;
resuming is refused until the clinician acknowledges; PHQ-9 item 9 shows crisis lines as tel:
links; kits only for scheduled trials; unblinding on the web needs a confirmation."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from pypdf import PdfReader

from helpers import Clinic, FixedClock
from integration.api.live import PASSWORD, LiveServer, Login
from integration.test_alert_sweep import running_trial
from microtrial.domain.design import DesignSpec
from microtrial.services import trial_planning, trial_views
from microtrial.store.models import SiteRow


def _trial_id(clinic: Clinic) -> int:
    doc = clinic.actors["clinician_sitea"]
    return trial_views.list_trials(clinic.db, doc)[-1].id


@contextmanager
def _web(server: LiveServer, username: str) -> Iterator[httpx.Client]:
    """A browser-like client signed in through the login form."""
    with httpx.Client(base_url=server.url, timeout=30, follow_redirects=True) as client:
        page = client.get("/login")
        token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
        signed = client.post(
            "/login", data={"username": username, "password": PASSWORD, "csrf_token": token}
        )
        assert signed.status_code == 200, signed.text
        yield client


def _page(server: LiveServer, path: str, username: str = "p_A-001") -> str:
    with _web(server, username) as web:
        return web.get(path).text


def test_a_bp_crisis_holds_the_patient_and_a_dose_anyway_is_a_deviation(
    api: httpx.Client, login: Login, server: LiveServer, clinic: Clinic, clock: FixedClock
) -> None:
    pid = running_trial(clinic, clock, "A-001", run_in=0)
    trial_id = _trial_id(clinic)
    me, doc = login("p_A-001"), login("clinician_sitea")
    status = api.get("/me/status", headers=me).json()
    assert status["held"] is False
    assert "Capsule check-in" in _page(server, "/today")

    # BP 210/125 from the patient: the trial pauses, the status and Today say "do not take".
    body = {
        "local_date": clock().date().isoformat(),
        "answers": {"systolic": 210, "diastolic": 125},
        "instrument_id": "home_bp",
    }
    posted = api.post(
        f"/patients/{pid}/diary-entries",
        json=body,
        headers={**me, "Idempotency-Key": "bp-crisis-1"},
    )
    assert posted.status_code == 201, posted.text
    status = api.get("/me/status", headers=me).json()
    assert status["held"] is True
    assert status["instruction"] == "Do not take a capsule."
    day = clock().date()
    assert status["holds"][0]["what"] == (
        f"Your blood pressure reading on {day.day} {day.strftime('%B %Y')} was very high."
    )
    assert "clinic" in status["contact"]
    today = _page(server, "/today")
    assert 'id="hold-notice"' in today
    assert "very high" in today
    assert "Capsule check-in" not in today
    assert "Kit code on the capsule pack" not in today

    # The patient reports a capsule anyway: stored, a deviation, an urgent alert.
    kit = trial_views.get_trial(clinic.db, clinic.actors["p_A-001"], trial_id).periods[0].kit_code
    dose = api.post(
        f"/trials/{trial_id}/doses",
        json={"taken_at": clock().isoformat(), "kit_code": kit},
        headers={**me, "Idempotency-Key": "held-dose-1"},
    )
    assert dose.status_code == 201, dose.text
    assert "dose-during-hold" in dose.json()["deviation"]
    doses = api.get(f"/trials/{trial_id}/doses", headers=doc).json()
    assert [d["record_id"] for d in doses["items"]] == [dose.json()["record_id"]]
    listed = api.get("/alerts", headers=doc).json()["items"]
    assert {(a["code"], a["severity"]) for a in listed} >= {
        ("bp-crisis", "urgent"),
        ("dose-during-hold", "urgent"),
    }

    # Resume is refused while the urgent alerts are open, and acknowledges nothing itself.
    etag = api.get(f"/trials/{trial_id}", headers=doc).headers["etag"]
    refused = api.post(
        f"/trials/{trial_id}/transitions",
        json={"action": "resume", "reason": "reviewed"},
        headers={**doc, "If-Match": etag},
    )
    assert refused.status_code == 423, refused.text
    assert "acknowledge alert" in refused.text
    assert len(api.get("/alerts", headers=doc).json()["items"]) == len(listed)
    for alert in listed:
        done = api.post(
            f"/alerts/{alert['id']}/acknowledge", json={"note": "called; BP 130/80"}, headers=doc
        )
        assert done.status_code == 200, done.text
    clock.advance(days=1)
    resumed = api.post(
        f"/trials/{trial_id}/transitions",
        json={"action": "resume", "reason": "reviewed"},
        headers={**doc, "If-Match": etag},
    )
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["status"] == "running"
    assert api.get("/me/status", headers=me).json()["held"] is False
    assert "Capsule check-in" in _page(server, "/today")


def test_a_withheld_dose_reaches_the_patient_and_a_dose_anyway_is_a_deviation(
    api: httpx.Client, login: Login, server: LiveServer, clinic: Clinic, clock: FixedClock
) -> None:
    """BP 165/95 before a dose: the rule says withhold this dose; the patient must see it."""
    pid = running_trial(clinic, clock, "A-001", run_in=0)
    trial_id = _trial_id(clinic)
    me = login("p_A-001")
    body = {
        "local_date": clock().date().isoformat(),
        "answers": {"systolic": 165, "diastolic": 95},
        "instrument_id": "home_bp",
    }
    posted = api.post(
        f"/patients/{pid}/diary-entries", json=body, headers={**me, "Idempotency-Key": "bp-1"}
    )
    assert posted.status_code == 201, posted.text
    status = api.get("/me/status", headers=me).json()
    assert status["held"] is True
    assert "was high, so this dose is held" in status["holds"][0]["what"]
    today = _page(server, "/today")
    assert 'id="hold-notice"' in today
    assert "Capsule check-in" not in today
    kit = trial_views.get_trial(clinic.db, clinic.actors["p_A-001"], trial_id).periods[0].kit_code
    dose = api.post(
        f"/trials/{trial_id}/doses",
        json={"taken_at": clock().isoformat(), "kit_code": kit},
        headers={**me, "Idempotency-Key": "withheld-dose-1"},
    )
    assert dose.status_code == 201, dose.text
    assert "dose-during-hold" in dose.json()["deviation"]


def test_two_doses_on_one_day_are_both_stored_with_an_urgent_hold(
    api: httpx.Client, login: Login, clinic: Clinic, clock: FixedClock
) -> None:
    running_trial(clinic, clock, "A-001", run_in=0)
    trial_id = _trial_id(clinic)
    me, doc = login("p_A-001"), login("clinician_sitea")
    kit = trial_views.get_trial(clinic.db, clinic.actors["p_A-001"], trial_id).periods[0].kit_code
    for i in range(3):
        taken = clock() - dt.timedelta(hours=3 - i)
        answer = api.post(
            f"/trials/{trial_id}/doses",
            json={"taken_at": taken.isoformat(), "kit_code": kit},
            headers={**me, "Idempotency-Key": f"same-day-dose-{i}"},
        )
        assert answer.status_code == 201, answer.text
    assert len(api.get(f"/trials/{trial_id}/doses", headers=doc).json()["items"]) == 3
    codes = [a["code"] for a in api.get("/alerts", headers=doc).json()["items"]]
    assert "multiple-doses-per-day" in codes
    status = api.get("/me/status", headers=me).json()
    assert status["held"] is True
    assert "more than one capsule" in status["holds"][0]["what"]


def test_phq9_item9_shows_crisis_lines_as_tel_links_at_once_and_on_today(
    server: LiveServer, clinic: Clinic, clock: FixedClock
) -> None:
    running_trial(clinic, clock, "A-001", run_in=0)
    with _web(server, "p_A-001") as web:
        _phq9_crisis(web, clock)


def _phq9_crisis(web: httpx.Client, clock: FixedClock) -> None:
    form = web.get("/questionnaires/phq9").text
    token = form.split('name="csrf_token" value="')[1].split('"')[0]
    data = {f"phq9.q{i}": "0" for i in range(1, 10)} | {"phq9.q9": "1"}
    data |= {"csrf_token": token, "local_date": clock().date().isoformat(), "submission_id": "x1"}
    saved = web.post("/questionnaires/phq9", data=data)
    assert saved.status_code == 200, saved.text
    assert 'href="tel:988"' in saved.text
    assert 'href="tel:116123"' in saved.text
    today = web.get("/today").text
    assert 'id="crisis"' in today
    assert 'href="tel:988"' in today
    assert 'id="hold-notice"' in today
    assert "Capsule check-in" not in today


def test_resume_is_refused_once_every_period_has_ended(
    api: httpx.Client, login: Login, clinic: Clinic, clock: FixedClock
) -> None:
    running_trial(clinic, clock, "A-001", run_in=0)
    trial_id = _trial_id(clinic)
    doc = login("clinician_sitea")
    url = f"/trials/{trial_id}"
    clock.advance(days=200)  # past the last period
    etag = api.get(url, headers=doc).headers["etag"]
    paused = api.post(
        f"{url}/transitions",
        json={"action": "pause", "reason": "travelling"},
        headers={**doc, "If-Match": etag},
    )
    assert paused.status_code == 200, paused.text
    clock.advance(days=1)
    refused = api.post(
        f"{url}/transitions",
        json={"action": "resume", "reason": "back"},
        headers={**doc, "If-Match": paused.headers["etag"]},
    )
    assert refused.status_code == 409, refused.text
    assert "complete the trial instead" in refused.text
    assert api.get(url, headers=doc).json()["status"] == "paused"
    done = api.post(
        f"{url}/transitions",
        json={"action": "complete", "reason": "all periods over"},
        headers={**doc, "If-Match": paused.headers["etag"]},
    )
    assert done.status_code == 200, done.text


def test_web_unblinding_needs_a_ticked_confirmation(
    server: LiveServer, clinic: Clinic, clock: FixedClock
) -> None:
    running_trial(clinic, clock, "A-001", run_in=0)
    trial_id = _trial_id(clinic)
    with _web(server, "clinician_sitea") as web:
        page = web.get(f"/clinic/trials/{trial_id}").text
        assert 'name="confirm"' in page
        token = page.split('name="csrf_token" value="')[1].split('"')[0]
        form = {"csrf_token": token, "reason": "suspected serotonin toxicity"}
        refused = web.post(f"/clinic/trials/{trial_id}/unblind", data=form)
        assert refused.status_code == 422, refused.text
        doc = clinic.actors["clinician_sitea"]
        assert trial_views.get_trial(clinic.db, doc, trial_id).status == "running"
        done = web.post(f"/clinic/trials/{trial_id}/unblind", data=form | {"confirm": "yes"})
        assert done.status_code == 200, done.text
        assert trial_views.get_trial(clinic.db, doc, trial_id).status == "unblinded"
    with _web(server, "p_A-001") as patient:
        today = patient.get("/today").text
        assert 'id="ended-notice"' in today
        assert "suspected serotonin toxicity" in today


def test_a_site_sets_its_own_crisis_lines(
    api: httpx.Client, login: Login, clinic: Clinic, clock: FixedClock
) -> None:
    running_trial(clinic, clock, "A-001", run_in=0)
    with clinic.db.transaction() as session:
        site = session.get(SiteRow, clinic.site_a.id)
        assert site is not None
        site.crisis_contacts = [{"label": "Clinic crisis line", "number": "+31 20 123 4567"}]
    lines = api.get("/me/status", headers=login("p_A-001")).json()["crisis_lines"]
    assert lines == [
        {"label": "Clinic crisis line", "number": "+31 20 123 4567", "tel": "tel:+31201234567"}
    ]
    other = api.get("/me/status", headers=login("p_B-001")).json()["crisis_lines"]
    assert {
        "label": "Samaritans (UK and Ireland), free, any time",
        "number": "116 123",
        "tel": "tel:116123",
    } in other


def test_the_pharmacy_sheet_and_pdf_show_status_and_screening_and_refuse_a_draft(
    server: LiveServer, clinic: Clinic, clock: FixedClock
) -> None:
    running_trial(clinic, clock, "A-001", run_in=0)
    trial_id = _trial_id(clinic)
    with _web(server, "unblinded_staff_sitea") as web:
        sheet = web.get(f"/pharmacy/trials/{trial_id}/kits")
        assert sheet.status_code == 200, sheet.text
        assert "Trial status: <strong>running</strong>" in sheet.text
        assert "Screening decision: <strong>no known issues</strong>" in sheet.text
        pdf = web.get(f"/pharmacy/trials/{trial_id}/preparation.pdf")
        assert pdf.status_code == 200
        text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
        assert "Trial status: running" in text
        # the decision in the words the kit sheet shows, not its stored code
        assert "screening decision: no known issues" in text
        assert "no-known-issues" not in text
    draft = trial_planning.plan_trial(
        clinic.db,
        clinic.actors["clinician_siteb"],
        clinic.patients["B-001"].id,
        trial_planning.RegimenChoice("fadiman", "psilocybin", 100, "mg dried material"),
        DesignSpec(),
        start_date=clock().date(),
        seed=5,
        clock=clock,
    )
    assert draft.status == "draft"
    with _web(server, "unblinded_staff_siteb") as web:
        for path in ("/kits", "/labels.pdf", "/preparation.pdf"):
            refused = web.get(f"/pharmacy/trials/{draft.id}{path}")
            assert refused.status_code == 409, (path, refused.text)
