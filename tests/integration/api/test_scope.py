"""Access scope through the real server: out-of-scope objects answer 404, researchers get no
identifiers, patients get no arm before unblinding. The routes checked are read from the app's
OpenAPI, so a new object-scoped route without an entry here fails the coverage test."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import httpx
import pytest

from helpers import Clinic, FixedClock
from integration.api.live import Login
from microtrial.domain.design import DesignSpec
from microtrial.services import adverse_events, patients, records, screening, trial_planning

SCOPED = ("{patient_id}", "{trial_id}", "{alert_id}")
MISSING = 999_999
# A valid body for every create or update, so that the server gets past body validation and the
# answer shows the access check, not a 422.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("post", "/patients/{patient_id}/medications"): {"name": "Ibuprofen 400 mg"},
    ("patch", "/patients/{patient_id}/medications/{record_id}"): {
        "name_as_entered": "Ibuprofen 200 mg",
        "reason": "typo",
    },
    ("post", "/patients/{patient_id}/conditions"): {"icd10_code": "M79.7"},
    ("patch", "/patients/{patient_id}/conditions/{record_id}"): {
        "status": "resolved",
        "reason": "resolved",
    },
    ("post", "/patients/{patient_id}/diary-entries"): {
        "local_date": "2026-03-01",
        "answers": {"average_pain": 4},
    },
    ("patch", "/patients/{patient_id}/diary-entries/{local_date}/{instrument_id}"): {
        "answers": {"q1": 1},
        "reason": "typo",
    },
    ("post", "/patients/{patient_id}/attacks"): {
        "instrument_id": "migraine_diary",
        "started": "2026-03-01T08:00:00",
        "ended": "2026-03-01T09:00:00",
        "severity": 2,
    },
    ("post", "/patients/{patient_id}/adverse-events"): {
        "term": "nausea",
        "grade": 1,
        "onset_date": "2026-03-01",
    },
    ("patch", "/patients/{patient_id}/adverse-events/{record_id}"): {
        "action": "regrade",
        "grade": 2,
        "reason": "reviewed with the patient",
    },
    ("post", "/patients/{patient_id}/screenings"): {"substance": "psilocybin"},
    ("post", "/patients/{patient_id}/screenings/{substance}/sign-off"): {"reason": "reviewed"},
    ("post", "/patients/{patient_id}/trials"): {
        "regimen": {
            "template": "fadiman",
            "substance": "psilocybin",
            "amount": 100,
            "unit": "mg dried material",
        },
        "start_date": "2026-03-09",
    },
    ("post", "/trials/{trial_id}/transitions"): {"action": "withdraw", "reason": "test"},
    ("post", "/trials/{trial_id}/unblind"): {"reason": "safety"},
    ("post", "/trials/{trial_id}/doses"): {
        "taken_at": "2026-03-02T08:00:00+00:00",
        "kit_code": "{kit_code}",
    },
    ("post", "/trials/{trial_id}/guesses"): {"period": 1, "guess": "active"},
    ("post", "/trials/{trial_id}/kits/prepared"): {"kit_code": "{kit_code}", "capsules": 5},
    ("post", "/trials/{trial_id}/kits/dispensed"): {"kit_code": "{kit_code}", "capsules": 5},
    ("post", "/alerts/{alert_id}/acknowledge"): {"note": "called the patient"},
    ("put", "/patients/{patient_id}/reminders"): {
        "diary_time": "20:00",
        "dose_time": "08:00",
        "channel": "calendar",
        "paused": False,
    },
}
# Writes that take no body (the path says it all): no body to send, none to tamper with.
BODYLESS: frozenset[tuple[str, str]] = frozenset(
    {
        ("post", "/patients/{patient_id}/reminders/feed"),
        ("delete", "/patients/{patient_id}/reminders/feed"),
    }
)
# Which record a {record_id} in a path refers to (created for the target patient).
RECORD_KIND = {"medications": "medication", "conditions": "condition", "adverse-events": "ae"}
OUTSIDERS = ("clinician_siteb", "unblinded_staff_siteb", "p_A-002", "p_B-001")
ALLOCATION_KEYS = {"arm", "arms", "allocation", "sequence", "seed"}


def allocation_values(value: Any) -> list[Any]:
    """Every non-null value under an allocation-revealing key anywhere in a JSON document."""
    found = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ALLOCATION_KEYS and item is not None:
                found.append(item)
            found += allocation_values(item)
    elif isinstance(value, list):
        for item in value:
            found += allocation_values(item)
    return found


def scoped_routes(api: httpx.Client) -> list[tuple[str, str]]:
    """(method, path) of every API route that names a patient-scoped object, from OpenAPI."""
    spec = api.get("/openapi.json").json()
    return sorted(
        (method, path.removeprefix("/api/v1"))
        for path, operations in spec["paths"].items()
        if any(name in path for name in SCOPED)
        for method in operations
    )


@pytest.fixture
def target(clinic: Clinic, clock: FixedClock) -> dict[str, Any]:
    """Patient A-001 with one record of each kind, a screening, a planned trial and an alert."""
    clinician = clinic.actors["clinician_sitea"]
    pid = clinic.patients["A-001"].id
    medication = patients.add_medication(clinic.db, clinician, pid, "Sertraline", clock=clock)
    ae = adverse_events.record_adverse_event(
        clinic.db,
        clinician,
        pid,
        term="headache",
        grade=1,
        serious=False,
        onset_date=dt.date(2026, 3, 1),
        clock=clock,
    )
    screening.screen_patient(clinic.db, clinician, pid, "psilocybin", clock=clock)
    trial = trial_planning.plan_trial(
        clinic.db,
        clinician,
        pid,
        trial_planning.RegimenChoice("fadiman", "psilocybin", 100, "mg dried material"),
        DesignSpec(),
        start_date=dt.date(2026, 3, 3),
        seed=7,
        clock=clock,
    )
    phq9 = {f"q{i}": 0 for i in range(1, 10)} | {"q9": 1}
    records.record_diary_entry(
        clinic.db,
        clinic.actors["p_A-001"],
        pid,
        records.DiaryInput(local_date=dt.date(2026, 3, 2), answers=phq9, instrument_id="phq9"),
        clock=clock,
    )
    alert = patients_alerts(clinic, pid)
    return {
        "patient_id": pid,
        "trial_id": trial.id,
        "alert_id": alert,
        "kit_code": trial.periods[0].kit_code,
        "substance": "psilocybin",
        "medication": medication,
        "condition": clinic.patients["A-001"].conditions[0],
        "ae": ae,
    }


def patients_alerts(clinic: Clinic, patient_id: int) -> int:
    from microtrial.services import alerts

    found = alerts.list_alerts(clinic.db, clinic.actors["clinician_sitea"], patient_id=patient_id)
    assert [a.code for a in found] == ["phq9-item9"]
    return found[0].id


def request(
    api: httpx.Client,
    headers: dict[str, str],
    method: str,
    template: str,
    target: dict[str, Any],
    **override: int,
) -> httpx.Response:
    ids = {**target, **override}
    path = template
    for name in ("patient_id", "trial_id", "alert_id", "substance"):
        path = path.replace(f"{{{name}}}", str(ids[name]))
    # The diary day of the target's PHQ-9 entry.
    path = path.replace("{local_date}", "2026-03-02").replace("{instrument_id}", "phq9")
    kind = re.search(r"/([a-z-]+)/\{record_id\}", template)
    if kind:
        path = path.replace("{record_id}", ids[RECORD_KIND[kind.group(1)]].record_id)
    conditional = method in ("patch", "put") or template.endswith("/transitions")
    extra = {"If-Match": '"1"'} if conditional else {}
    body = BODIES.get((method, template))
    if body is not None:
        body = json.loads(json.dumps(body).replace("{kit_code}", ids["kit_code"]))
    return api.request(method.upper(), path, json=body, headers={**headers, **extra})


def test_every_scoped_route_is_covered(api: httpx.Client) -> None:
    routes = scoped_routes(api)
    assert len(routes) >= 25
    writes = {(m, p) for m, p in routes if m in ("post", "put", "patch", "delete")}
    known = set(BODIES) | BODYLESS
    assert writes <= known, f"add a body for {sorted(writes - known)}"
    for _, path in routes:
        kind = re.search(r"/([a-z-]+)/\{record_id\}", path)
        assert kind is None or kind.group(1) in RECORD_KIND, path


def test_outsiders_get_404_on_every_scoped_route(
    api: httpx.Client, login: Login, target: dict[str, Any]
) -> None:
    problems = []
    for username in OUTSIDERS:
        headers = login(username)
        for method, template in scoped_routes(api):
            answer = request(api, headers, method, template, target)
            if answer.status_code == 404:
                continue
            # A route the role may never use is refused alike for every object (no existence leak).
            if answer.status_code == 403:
                missing = request(
                    api,
                    headers,
                    method,
                    template,
                    target,
                    patient_id=MISSING,
                    trial_id=MISSING,
                    alert_id=MISSING,
                )
                if missing.status_code == 403 and missing.json() == answer.json():
                    continue
            problems.append(f"{username} {method.upper()} {template}: {answer.status_code}")
    assert problems == []


def test_site_lists_hold_only_the_callers_site(
    api: httpx.Client, login: Login, target: dict[str, Any]
) -> None:
    mine = api.get("/alerts", headers=login("clinician_sitea")).json()["items"]
    assert [a["id"] for a in mine] == [target["alert_id"]]
    assert api.get("/alerts", headers=login("clinician_siteb")).json()["items"] == []
    listed = api.get("/patients", headers=login("clinician_siteb")).json()["items"]
    assert [p["study_code"] for p in listed] == ["B-001"]


def test_a_record_under_another_patients_path_is_404(
    api: httpx.Client, login: Login, target: dict[str, Any], clinic: Clinic
) -> None:
    other = clinic.patients["A-002"].id  # same site, so the clinician may see both patients
    headers = login("clinician_sitea")
    for method, template in scoped_routes(api):
        if "{record_id}" in template:
            answer = request(api, headers, method, template, target, patient_id=other)
            assert answer.status_code == 404, (method, template, answer.text)


def test_insiders_pass_the_scope_check(
    api: httpx.Client, login: Login, target: dict[str, Any]
) -> None:
    for username in ("clinician_sitea", "unblinded_staff_sitea", "p_A-001"):
        headers = login(username)
        for method, template in scoped_routes(api):
            answer = request(api, headers, method, template, target)
            assert answer.status_code != 404, (username, method, template, answer.text)
            if method == "get" and username == "clinician_sitea":
                # kits: unblinded staff only (403); result, report: not while blinded (409)
                blocked = {"/kits": 403, "/result": 409, "/report": 409}
                expected = blocked.get(template[template.rfind("/") :], 200)
                assert answer.status_code == expected, (template, answer.text)


def test_a_researcher_never_receives_identifiers(
    api: httpx.Client, login: Login, target: dict[str, Any], clinic: Clinic
) -> None:
    headers = login("researcher_sitea")
    codes = [p.study_code for p in clinic.patients.values()]
    answers = [api.get("/patients", headers=headers), api.get("/alerts", headers=headers)]
    answers += [
        request(api, headers, method, template, target) for method, template in scoped_routes(api)
    ]
    for answer in answers:
        assert answer.status_code in (403, 404), answer.request.url
        assert not any(code in answer.text for code in codes)
        assert "birth_year" not in answer.text


def test_a_patient_never_receives_an_arm_before_unblinding(
    api: httpx.Client, login: Login, target: dict[str, Any]
) -> None:
    own = login("p_A-001")
    reads = [(m, t) for m, t in scoped_routes(api) if m == "get"]
    for method, template in reads:
        answer = request(api, own, method, template, target)
        assert answer.status_code in (200, 403, 409), (template, answer.text)
        assert allocation_values(answer.json()) == [], template
    kits = api.get(f"/trials/{target['trial_id']}/kits", headers=own)
    assert kits.status_code == 403
    # No kit sheet for a draft trial, even for the unblinded pharmacist.
    pharmacist = login("unblinded_staff_sitea")
    draft = api.get(f"/trials/{target['trial_id']}/kits", headers=pharmacist)
    assert draft.status_code == 409, draft.text
    assert allocation_values(draft.json()) == []
    clinician = login("clinician_sitea")
    url = f"/trials/{target['trial_id']}"
    signed = api.post(
        f"/patients/{target['patient_id']}/screenings/psilocybin/sign-off",
        json={"reason": "history reviewed in clinic"},
        headers=clinician,
    )
    assert signed.status_code == 200, signed.text
    # The fixture's PHQ-9 item 9 alert holds dosing: reviewed first, or the start is refused.
    reviewed = api.post(
        f"/alerts/{target['alert_id']}/acknowledge",
        json={"note": "C-SSRS negative"},
        headers=clinician,
    )
    assert reviewed.status_code == 200, reviewed.text
    etag = api.get(url, headers=clinician).headers["etag"]
    for action in ("confirm-screening", "schedule", "start"):
        moved = api.post(
            f"{url}/transitions", json={"action": action}, headers={**clinician, "If-Match": etag}
        )
        assert moved.status_code == 200, (action, moved.text)
        etag = moved.headers["etag"]
    for method, template in reads:  # still blind while running
        answer = request(api, own, method, template, target)
        assert allocation_values(answer.json()) == [], template
    # The unblinded pharmacist sees the arms; after an emergency unblinding the patient does too.
    sheet = api.get(f"/trials/{target['trial_id']}/kits", headers=pharmacist)
    assert sheet.status_code == 200
    assert {k["arm"] for k in sheet.json()["kits"]} == {"active", "placebo"}
    assert sheet.json()["status"] == "running"
    assert sheet.json()["screening"] == "clinician-review"
    unblinded = api.post(
        f"{url}/unblind", json={"reason": "suspected serious reaction"}, headers=clinician
    )
    assert unblinded.status_code == 200, unblinded.text
    trial = api.get(f"/trials/{target['trial_id']}", headers=own).json()
    assert [p["arm"] for p in trial["periods"]] == [k["arm"] for k in sheet.json()["kits"]]
    assert len(allocation_values(trial)) == len(trial["periods"]) == 6
