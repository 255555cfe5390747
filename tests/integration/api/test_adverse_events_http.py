"""Reported harm becomes a record, through HTTP: a checklist grade 3 makes an adverse event awaiting
review, names the symptom in the alert and pauses the trial; the clinician confirms and regrades
it with PATCH and If-Match; a replayed checklist changes nothing."""

from __future__ import annotations

import httpx

from helpers import Clinic, FixedClock
from integration.api.live import Login
from integration.test_alert_sweep import running_trial


def test_a_grade_3_checklist_becomes_a_reviewed_record(
    api: httpx.Client, login: Login, clinic: Clinic, clock: FixedClock
) -> None:
    pid = running_trial(clinic, clock, "A-001", run_in=0)
    patient, doc = login("p_A-001"), login("clinician_sitea")
    body = {
        "local_date": clock().date().isoformat(),
        "instrument_id": "ae_checklist",
        "answers": {"nausea_gi": 3, "headache": 1},
    }
    for _ in range(2):  # the second is a replay (same Idempotency-Key): it lands once
        posted = api.post(
            f"/patients/{pid}/diary-entries",
            json=body,
            headers={**patient, "Idempotency-Key": "checklist-1"},
        )
        assert posted.status_code == 201, posted.text
    events = api.get(f"/patients/{pid}/adverse-events", headers=doc).json()["items"]
    assert len(events) == 1, events
    event = events[0]
    assert event["term"].startswith("Nausea")
    assert event["grade"] == 3
    assert (event["source"], event["status"]) == ("patient report", "awaiting review")
    alerts = api.get("/alerts", headers=doc).json()["items"]
    (pause,) = [a for a in alerts if a["code"] == "ae-grade-3-or-serious"]
    assert "Nausea" in pause["message"]
    assert "grade 3 (patient report)" in pause["message"]
    trials = api.get(f"/patients/{pid}/trials", headers=doc).json()["items"]
    assert trials[0]["status"] == "paused"

    url = f"/patients/{pid}/adverse-events/{event['record_id']}"
    read = api.get(url, headers=doc)
    etag = read.headers["ETag"]
    # The patient may read the record but not review it; without If-Match the answer is 428.
    assert (
        api.patch(
            url, json={"action": "confirm"}, headers={**patient, "If-Match": etag}
        ).status_code
        == 403
    )
    assert api.patch(url, json={"action": "confirm"}, headers=doc).status_code == 428
    confirmed = api.patch(url, json={"action": "confirm"}, headers={**doc, "If-Match": etag})
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "confirmed"
    assert confirmed.json()["version"] == 2
    stale = api.patch(
        url, json={"action": "regrade", "grade": 2}, headers={**doc, "If-Match": etag}
    )
    assert stale.status_code == 412
    regraded = api.patch(
        url,
        json={"action": "regrade", "grade": 2, "reason": "nausea settled with food"},
        headers={**doc, "If-Match": confirmed.headers["ETag"]},
    )
    assert regraded.status_code == 200, regraded.text
    assert (regraded.json()["grade"], regraded.json()["version"]) == (2, 3)
    bad = api.patch(
        url,
        json={"action": "close", "outcome": "recovered"},
        headers={**doc, "If-Match": regraded.headers["ETag"]},
    )
    assert bad.status_code == 422
    assert "resolved_date" in bad.text
    # Still one record, and the replay raised no second alert.
    assert len(api.get(f"/patients/{pid}/adverse-events", headers=doc).json()["items"]) == 1
    alerts = api.get("/alerts", headers=doc).json()["items"]
    assert [a["code"] for a in alerts].count("ae-grade-3-or-serious") == 1
