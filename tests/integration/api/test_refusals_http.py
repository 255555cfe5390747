"""Refusals through the live server (issue 16, findings 11 and 12).

Anything outside the caller's scope answers the same "not found" as a missing object, naming only
what the caller asked for (never another site's object or patient id); refused out-of-scope
requests and failed sign-ins leave an audit event that holds no data of the refused object.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
from sqlalchemy import select

from helpers import Clinic
from integration.api.live import PASSWORD, LiveServer, Login
from integration.api.test_holds_http import _web
from integration.api.test_scope import (
    MISSING,
    OUTSIDERS,
    RECORD_KIND,
    request,
    scoped_routes,
    target,
)
from microtrial.store.audit import verify_chain
from microtrial.store.models import AuditEventRow

scope_target = target  # test_scope's fixture: patient A-001 with a record of every kind
NOUNS = {"{patient_id}": "patient", "{trial_id}": "trial", "{alert_id}": "alert"}


def _asked(template: str, ids: dict[str, Any]) -> set[str]:
    """The answers that name only what a path asks for: its first object, or its record."""
    first = min((template.index(k), k) for k in NOUNS if k in template)[1]
    noun, ident = NOUNS[first], ids[first.strip("{}")]
    allowed = {f"{noun}: no {noun} {ident}"}
    kind = re.search(r"/([a-z-]+)/\{record_id\}", template)
    if kind:
        record_id = ids[RECORD_KIND[kind.group(1)]].record_id
        allowed.add(f"record: no record {record_id}")
    return allowed


def _refusals(clinic: Clinic, action: str) -> list[AuditEventRow]:
    with clinic.db.transaction() as session:
        rows = session.execute(select(AuditEventRow).where(AuditEventRow.action == action))
        return list(rows.scalars())


def test_out_of_scope_answers_name_only_what_was_asked(
    api: httpx.Client, login: Login, scope_target: dict[str, Any]
) -> None:
    problems = []
    for username in OUTSIDERS:
        headers = login(username)
        for method, template in scoped_routes(api):
            answer = request(api, headers, method, template, scope_target)
            if answer.status_code != 404:
                continue  # a route the role may never use: test_scope checks the 403s
            if answer.json().get("detail") not in _asked(template, scope_target):
                problems.append(f"{username} {method.upper()} {template}: {answer.text}")
            missing = request(
                api,
                headers,
                method,
                template,
                scope_target,
                patient_id=MISSING,
                trial_id=MISSING,
                alert_id=MISSING,
            )
            gone = {**scope_target, "patient_id": MISSING, "trial_id": MISSING, "alert_id": MISSING}
            if missing.json().get("detail") not in _asked(template, gone):
                problems.append(f"missing {username} {method.upper()} {template}: {missing.text}")
    assert problems == [], "\n".join(problems)


def test_acknowledging_another_sites_alert_names_no_patient(
    api: httpx.Client, login: Login, server: LiveServer, scope_target: dict[str, Any]
) -> None:
    alert_id, pid = scope_target["alert_id"], scope_target["patient_id"]
    answer = api.post(
        f"/alerts/{alert_id}/acknowledge",
        json={"note": "called"},
        headers=login("clinician_siteb"),
    )
    assert answer.status_code == 404
    assert answer.json() == {"detail": f"alert: no alert {alert_id}"}
    with _web(server, "clinician_siteb") as web:
        page = web.get("/clinic/alerts")
        token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
        posted = web.post(
            f"/clinic/alerts/{alert_id}/acknowledge", data={"csrf_token": token, "note": "x"}
        )
        assert posted.status_code == 404
        assert not re.search(rf"patient\W+{pid}\b", posted.text)
        assert f"no alert {alert_id}" in posted.text


def test_refused_requests_are_audited_without_the_objects_data(
    api: httpx.Client, login: Login, clinic: Clinic, scope_target: dict[str, Any]
) -> None:
    before = len(_refusals(clinic, "refused"))
    trial_id, pid = scope_target["trial_id"], scope_target["patient_id"]
    outsider = login("clinician_siteb")
    assert api.get(f"/trials/{trial_id}", headers=outsider).status_code == 404
    assert api.get(f"/patients/{pid}", headers=outsider).status_code == 404
    # A role refused outright (PermissionDenied) is audited too.
    kits = api.get(f"/trials/{trial_id}/kits", headers=login("clinician_sitea"))
    assert kits.status_code == 403
    # A missing object is no refusal.
    assert api.get(f"/trials/{MISSING}", headers=outsider).status_code == 404
    events = _refusals(clinic, "refused")[before:]
    seen = [(e.actor, e.entity, e.detail.get("status")) for e in events]
    assert seen == [
        ("clinician_siteb", "request", 404),
        ("clinician_siteb", "request", 404),
        ("clinician_sitea", "request", 403),
    ]
    for event in events:
        # Filed under the caller's own site, never the refused object's patient or site.
        assert event.patient_id is None
        assert event.actor_user_id is not None
        assert "A-001" not in str(event.detail)
    assert events[0].detail["path"] == f"/api/v1/trials/{trial_id}"
    assert events[0].site_id == clinic.site_b.id
    with clinic.db.transaction() as session:
        assert verify_chain(session) == []


def test_failed_sign_ins_are_audited(api: httpx.Client, clinic: Clinic, server: LiveServer) -> None:
    before = len(_refusals(clinic, "login-failed"))
    wrong = api.post("/auth/token", data={"username": "clinician_sitea", "password": "nope-nope"})
    assert wrong.status_code == 401
    nobody = api.post("/auth/token", data={"username": "no_such_user", "password": PASSWORD})
    assert nobody.status_code == 401
    with httpx.Client(base_url=server.url, timeout=30) as web:
        token = web.get("/login").text.split('name="csrf_token" value="')[1].split('"')[0]
        form = {"username": "clinician_siteb", "password": "wrong-wrong", "csrf_token": token}
        assert web.post("/login", data=form).status_code in (200, 401, 422)
    events = _refusals(clinic, "login-failed")[before:]
    # A name matching no account is not stored (it may be a password typed in the wrong field).
    assert [(e.detail["username"], e.detail["why"]) for e in events] == [
        ("clinician_sitea", "wrong password"),
        (None, "unknown user"),
        ("clinician_siteb", "wrong password"),
    ]
    assert "no_such_user" not in str(events[1].detail)
    for event in events:
        assert "password" not in event.detail
        assert "nope-nope" not in str(event.detail)
        assert event.patient_id is None
    assert events[0].site_id == clinic.site_a.id  # a known user's site; else the global stream
    assert events[1].site_id is None
    with clinic.db.transaction() as session:
        assert verify_chain(session) == []
