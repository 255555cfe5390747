"""Unblinded staff know the arms, so they read no outcome of a running trial, through the real
server: every outcome route and page answers 403 to the pharmacist (the project's answer to a
role the policy does not allow), while the pharmacy's own pages and kit sheet still work."""

from __future__ import annotations

import httpx

from helpers import Clinic, FixedClock
from integration.api.live import LiveServer, Login
from integration.api.test_holds_http import _trial_id, _web
from integration.test_alert_sweep import running_trial
from microtrial.services import adverse_events

PHARMACIST = "unblinded_staff_sitea"


def test_the_pharmacist_reads_no_outcome_but_still_prepares_kits(
    api: httpx.Client, login: Login, server: LiveServer, clinic: Clinic, clock: FixedClock
) -> None:
    pid = running_trial(clinic, clock, "A-001", run_in=0)
    trial_id = _trial_id(clinic)
    me, staff = login("p_A-001"), login(PHARMACIST)
    bp = {
        "local_date": clock().date().isoformat(),
        "answers": {"systolic": 210, "diastolic": 125},
        "instrument_id": "home_bp",
    }
    assert api.post(f"/patients/{pid}/diary-entries", json=bp, headers=me).status_code == 201
    adverse_events.record_adverse_event(
        clinic.db,
        clinic.actors["clinician_sitea"],
        pid,
        term="headache",
        grade=1,
        serious=False,
        onset_date=clock().date(),
        clock=clock,
    )
    outcomes = (
        f"/patients/{pid}",
        f"/patients/{pid}/diary-entries",
        f"/patients/{pid}/adverse-events",
        f"/patients/{pid}/alerts",
        f"/patients/{pid}/screenings/psilocybin",
        f"/fhir/Patient/{pid}/$everything",
        "/alerts",
        "/worklist",
        "/patients",
        f"/trials/{trial_id}",
        f"/trials/{trial_id}/doses",
        f"/trials/{trial_id}/result",
        f"/trials/{trial_id}/report",
    )
    for path in outcomes:
        answer = api.get(path, headers=staff)
        assert answer.status_code == 403, (path, answer.text)
        assert "210" not in answer.text
    # The clinician still reads them (the refusals are the pharmacist's, not broken routes).
    doc = login("clinician_sitea")
    assert api.get(f"/patients/{pid}/diary-entries", headers=doc).status_code == 200
    # The pharmacy's own reads still work.
    sheet = api.get(f"/trials/{trial_id}/kits", headers=staff)
    assert sheet.status_code == 200, sheet.text
    assert (sheet.json()["patient_code"], sheet.json()["hold"]) == ("A-001", "alert")

    pages = (
        "/clinic/patients",
        f"/clinic/patients/{pid}",
        f"/clinic/patients/{pid}/diary",
        f"/clinic/patients/{pid}/history",
        "/clinic/alerts",
        f"/clinic/trials/{trial_id}",
        f"/clinic/trials/{trial_id}/result",
        f"/clinic/trials/{trial_id}/report.pdf",
    )
    with _web(server, PHARMACIST) as web:
        for path in pages:
            page = web.get(path)
            assert page.status_code == 403, (path, page.text[:200])
            assert "210" not in page.text
        for path in ("/pharmacy/kits", f"/pharmacy/trials/{trial_id}/kits"):
            page = web.get(path)
            assert page.status_code == 200, (path, page.text[:200])
            assert "A-001" in page.text
            assert "210" not in page.text
            assert 'href="/clinic/' not in page.text  # no link to pages the pharmacist cannot use
