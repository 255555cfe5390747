"""The access matrix through the real server: every OpenAPI route x every role and scope.

Users: an admin, a clinician, an unblinded pharmacist and a researcher at each of two sites, and
three patients (A-001 is the target, A-002 another patient of the same site, B-001 one of the
other site). The objects named in paths belong to patient A-001 (``target`` of test_scope.py);
a user named in a path (``/users/{username}``) is a researcher login at site A.
Who is granted each route is derived from the access policy (``microtrial.domain.access``): each
route declares the action it takes (``x-action`` in the OpenAPI document), and the policy's own
scope checks say which users reach A-001's objects, site A (enrolment) or a site-wide list.
``EXPECTED``, written by hand, cross-checks that derivation once; everyone not granted must get
404 (or a 403 that is identical for a missing object, so that it leaks nothing), and whoever is
granted must get past the access check (no 401/403/404, no 5xx). A route without a declared
action (other than sign-in) fails the test.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from helpers import Clinic, FixedClock
from integration.api import test_scope
from integration.api.live import PASSWORD, Login
from microtrial.api.actions import X_ACTION
from microtrial.domain.access import Action, allows, sees_patient, sees_site
from microtrial.domain.actors import Actor, Role, system_actor
from microtrial.services import admin

# test_scope.py's ``target`` fixture, registered here as ``scope_target``: patient A-001 with a
# record of every kind, a planned trial, a screening and an open alert.
scope_target = test_scope.target

ADMIN, ADMIN_B = "admin_sitea", "admin_siteb"
TARGET_USER = "target_researcher_sitea"  # the user that /users/{username} routes name
CLIN, CLIN_B = "clinician_sitea", "clinician_siteb"
UNBL, UNBL_B = "unblinded_staff_sitea", "unblinded_staff_siteb"
RES, RES_B = "researcher_sitea", "researcher_siteb"
OWN, OTHER_PATIENT, OTHER_SITE_PATIENT = "p_A-001", "p_A-002", "p_B-001"
USERS = (
    ADMIN, ADMIN_B, CLIN, CLIN_B, UNBL, UNBL_B, RES, RES_B, OWN, OTHER_PATIENT, OTHER_SITE_PATIENT
)  # fmt: skip

# Who may use a route. Object routes name patient A-001's objects, so "site A care team + the
# patient herself" is the widest grant; site-wide lists are granted at both sites (their content
# is the caller's own site: test_scope.test_site_lists_hold_only_the_callers_site).
EVERYONE = frozenset(USERS)
# Read a patient's record: the care team and the patient. Never unblinded staff: they know the
# arms, so they read no outcome (diary, scores, adverse events, alerts, FHIR, results, reports);
# their reads are the pharmacy's (the kit sheet: study code, status, dates, screening, hold).
CARE = frozenset({CLIN, OWN})
CLINICIAN = frozenset({CLIN})  # clinical writes
CAPTURE = frozenset({CLIN, OWN})  # daily capture: diary, adverse events, doses, guesses
PUBLIC = frozenset()  # marker: needs no token (sign-in)

EXPECTED: dict[tuple[str, str], frozenset[str]] = {
    # sign-in and identity
    ("post", "/auth/token"): PUBLIC,
    ("post", "/auth/logout"): EVERYONE,  # called last for each user: it ends their token
    ("get", "/me"): EVERYONE,
    ("patch", "/me"): EVERYONE,  # one's own language
    ("get", "/me/status"): frozenset({OWN, OTHER_PATIENT, OTHER_SITE_PATIENT}),
    # site-wide lists and enrolment (enrolment body names site A)
    ("get", "/patients"): frozenset({CLIN, CLIN_B}),
    ("get", "/worklist"): frozenset({CLIN, CLIN_B}),  # outcome flags: not for unblinded staff
    ("post", "/patients"): CLINICIAN,
    ("get", "/alerts"): frozenset({CLIN, CLIN_B}),  # clinical content: not for unblinded staff
    # de-identified cohort: researchers (and clinicians for their site's pooled results)
    ("get", "/cohort"): frozenset({CLIN, CLIN_B, RES, RES_B}),
    ("get", "/cohort/export"): frozenset({ADMIN, ADMIN_B, RES, RES_B}),
    # the users of the caller's site; changes to a user of site A: site A's admin only
    ("get", "/users"): frozenset({ADMIN, ADMIN_B}),
    ("post", "/users/{username}/deactivate"): frozenset({ADMIN}),
    ("post", "/users/{username}/reactivate"): frozenset({ADMIN}),
    ("put", "/users/{username}/role"): frozenset({ADMIN}),
    ("put", "/users/{username}/password"): frozenset({ADMIN}),
    # one patient's record
    ("get", "/patients/{patient_id}"): CARE,
    ("get", "/fhir/Patient/{patient_id}/$everything"): CARE,
    ("get", "/patients/{patient_id}/medications"): CARE,
    ("get", "/patients/{patient_id}/medications/{record_id}"): CARE,
    ("post", "/patients/{patient_id}/medications"): CLINICIAN,
    ("patch", "/patients/{patient_id}/medications/{record_id}"): CLINICIAN,
    ("get", "/patients/{patient_id}/conditions"): CARE,
    ("post", "/patients/{patient_id}/conditions"): CLINICIAN,
    ("patch", "/patients/{patient_id}/conditions/{record_id}"): CLINICIAN,
    ("get", "/patients/{patient_id}/diary-entries"): CARE,
    ("post", "/patients/{patient_id}/diary-entries"): CAPTURE,
    ("get", "/patients/{patient_id}/diary-entries/{local_date}/{instrument_id}"): CARE,
    ("get", "/patients/{patient_id}/diary-entries/{local_date}/{instrument_id}/versions"): CARE,
    ("patch", "/patients/{patient_id}/diary-entries/{local_date}/{instrument_id}"): CAPTURE,
    ("get", "/patients/{patient_id}/attacks"): CARE,
    ("post", "/patients/{patient_id}/attacks"): CAPTURE,
    ("get", "/patients/{patient_id}/adverse-events"): CARE,
    ("get", "/patients/{patient_id}/adverse-events/{record_id}"): CARE,
    ("post", "/patients/{patient_id}/adverse-events"): CAPTURE,
    ("patch", "/patients/{patient_id}/adverse-events/{record_id}"): CLINICIAN,
    ("get", "/patients/{patient_id}/alerts"): CLINICIAN,  # a clinician's work list
    ("post", "/alerts/{alert_id}/acknowledge"): CLINICIAN,
    ("post", "/patients/{patient_id}/screenings"): CLINICIAN,
    ("get", "/patients/{patient_id}/screenings/{substance}"): CARE,
    ("post", "/patients/{patient_id}/screenings/{substance}/sign-off"): CLINICIAN,
    # trials
    ("get", "/patients/{patient_id}/trials"): CARE,
    ("post", "/patients/{patient_id}/trials"): CLINICIAN,
    ("get", "/trials/{trial_id}"): CARE,
    ("get", "/trials/{trial_id}/calendar"): CARE,
    ("get", "/trials/{trial_id}/adherence"): CARE,
    ("get", "/trials/{trial_id}/doses"): CARE,
    ("post", "/trials/{trial_id}/doses"): CAPTURE,
    ("get", "/trials/{trial_id}/guesses"): CARE,
    ("post", "/trials/{trial_id}/guesses"): CAPTURE,
    ("post", "/trials/{trial_id}/transitions"): CLINICIAN,
    # unblinded staff prepare kits and never unblind (issue 16, finding 3)
    ("post", "/trials/{trial_id}/unblind"): CLINICIAN,
    ("get", "/trials/{trial_id}/kits"): frozenset({UNBL}),  # the allocation: pharmacy only
    ("post", "/trials/{trial_id}/kits/prepared"): frozenset({UNBL}),
    ("post", "/trials/{trial_id}/kits/dispensed"): frozenset({UNBL}),
    ("get", "/trials/{trial_id}/result"): CARE,  # 409 while blinded: past the access check
    ("get", "/trials/{trial_id}/report"): CARE,
    # reminders: the patient sets their own; their clinician reads them and may stop the feed
    ("get", "/patients/{patient_id}/reminders"): CAPTURE,
    ("put", "/patients/{patient_id}/reminders"): frozenset({OWN}),
    ("post", "/patients/{patient_id}/reminders/feed"): frozenset({OWN}),
    ("delete", "/patients/{patient_id}/reminders/feed"): CAPTURE,
}

# The users as the policy sees them (symbolic ids: sites A and B; patients, B-001).
SITE_A, SITE_B = 1, 2
TARGET_PATIENT = 1
AS_ACTORS: dict[str, Actor] = {
    ADMIN: Actor(Role.ADMIN, ADMIN, site_id=SITE_A),
    ADMIN_B: Actor(Role.ADMIN, ADMIN_B, site_id=SITE_B),
    CLIN: Actor(Role.CLINICIAN, CLIN, site_id=SITE_A),
    CLIN_B: Actor(Role.CLINICIAN, CLIN_B, site_id=SITE_B),
    UNBL: Actor(Role.UNBLINDED_STAFF, UNBL, site_id=SITE_A),
    UNBL_B: Actor(Role.UNBLINDED_STAFF, UNBL_B, site_id=SITE_B),
    RES: Actor(Role.RESEARCHER, RES, site_id=SITE_A),
    RES_B: Actor(Role.RESEARCHER, RES_B, site_id=SITE_B),
    OWN: Actor(Role.PATIENT, OWN, site_id=SITE_A, patient_id=TARGET_PATIENT),
    OTHER_PATIENT: Actor(Role.PATIENT, OTHER_PATIENT, site_id=SITE_A, patient_id=2),
    OTHER_SITE_PATIENT: Actor(Role.PATIENT, OTHER_SITE_PATIENT, site_id=SITE_B, patient_id=3),
}
PUBLIC_ROUTES = {("post", "/auth/token")}
SIGN_OUT = ("post", "/auth/logout")
SITE_A_BODY = {("post", "/patients")}  # the enrolment body names site A (see ``call``)

DENIED = (403, 404)
NOT_GRANTED = (401, 403, 404)


def all_routes(api: httpx.Client) -> list[tuple[str, str]]:
    """(method, path under /api/v1) of every operation in the OpenAPI document."""
    return sorted(declared_actions(api))


def declared_actions(api: httpx.Client) -> dict[tuple[str, str], Action | None]:
    """(method, path under /api/v1) -> the action the route declares (``x-action``), if any."""
    spec = api.get("/openapi.json").json()
    return {
        (method, path.removeprefix("/api/v1")): (
            Action(operation[X_ACTION]) if X_ACTION in operation else None
        )
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
    }


def granted_by_policy(method: str, template: str, action: Action) -> frozenset[str]:
    """The users the policy grants a route taking ``action``.

    A path naming an object names one of A-001's (or a user of A-001's site), so a user is
    granted when the action reaches A-001's identified record; enrolment is granted when the
    action reaches site A; any other route is a site-wide list (or the caller's own account),
    granted to every user the policy allows the action at all (its content is the caller's own
    scope).
    """
    if "{" in template:
        return frozenset(
            name
            for name, actor in AS_ACTORS.items()
            if sees_patient(actor, action, TARGET_PATIENT, SITE_A)
        )
    if (method, template) in SITE_A_BODY:
        return frozenset(
            name for name, actor in AS_ACTORS.items() if sees_site(actor, action, SITE_A)
        )
    return frozenset(name for name, actor in AS_ACTORS.items() if allows(actor, action))


def granted(api: httpx.Client) -> dict[tuple[str, str], frozenset[str]]:
    """Route -> the users granted it, derived from each route's declared action and the policy."""
    return {
        route: PUBLIC if action is None else granted_by_policy(*route, action)
        for route, action in declared_actions(api).items()
    }


@pytest.fixture
def admin_user(clinic: Clinic, clock: FixedClock) -> str:
    """An administrator at each site, and the site A user that user routes name."""
    for site, username, role in (
        ("SITEA", ADMIN, "admin"),
        ("SITEB", ADMIN_B, "admin"),
        ("SITEA", TARGET_USER, "researcher"),
    ):
        admin.add_user(
            clinic.db,
            system_actor("test"),
            site_code=site,
            role=role,
            username=username,
            password=PASSWORD,
            clock=clock,
        )
    return ADMIN


USER_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("put", "/users/{username}/role"): {"role": "clinician"},
    ("put", "/users/{username}/password"): {"password": "a long enough new password"},
}


def call(
    api: httpx.Client,
    headers: dict[str, str],
    method: str,
    template: str,
    target: dict[str, Any],
    username: str,
    **override: int,
) -> httpx.Response:
    """One request for a route template (object routes via test_scope's builder)."""
    if (method, template) == ("post", "/patients"):
        body = {
            "site_code": "SITEA",
            "study_code": f"A-{abs(hash(username)) % 10_000:04d}",
            "birth_year": 1975,
            "sex": "male",
            "time_zone": "Europe/London",
        }
        return api.post(template, json=body, headers=headers)
    if "{username}" in template:
        path = template.replace("{username}", TARGET_USER)
        user_body = USER_BODIES.get((method, template))
        return api.request(method.upper(), path, json=user_body, headers=headers)
    return test_scope.request(api, headers, method, template, target, **override)


def test_every_route_but_sign_in_declares_its_action(api: httpx.Client) -> None:
    actions = declared_actions(api)
    undeclared = {route for route, action in actions.items() if action is None}
    assert undeclared == PUBLIC_ROUTES, "declare openapi_extra=takes(Action.X) on the route"
    assert set(AS_ACTORS) == set(USERS)


def test_the_policy_grants_what_the_hand_written_matrix_expects(api: httpx.Client) -> None:
    """The derived grants equal today's observed behaviour, written out by hand in EXPECTED."""
    derived = granted(api)
    assert set(derived) - set(EXPECTED) == set(), "add the new routes to EXPECTED"
    assert set(EXPECTED) - set(derived) == set(), "EXPECTED names routes the app no longer has"
    differ = {
        f"{route[0].upper()} {route[1]}": (sorted(derived[route]), sorted(EXPECTED[route]))
        for route in EXPECTED
        if derived[route] != EXPECTED[route]
    }
    assert differ == {}, "(derived from the policy, expected)"
    assert all(grant <= EVERYONE for grant in EXPECTED.values())


def test_without_a_token_every_route_but_sign_in_is_401(
    api: httpx.Client, scope_target: dict[str, Any]
) -> None:
    target = scope_target
    problems = []
    for method, template in all_routes(api):
        if (method, template) in PUBLIC_ROUTES:
            continue
        answer = call(api, {}, method, template, target, "anonymous")
        if answer.status_code != 401:
            problems.append(f"{method.upper()} {template}: {answer.status_code}")
        bogus = call(api, {"Authorization": "Bearer forged.token"}, method, template, target, "x")
        if bogus.status_code != 401:
            problems.append(f"forged token {method.upper()} {template}: {bogus.status_code}")
    assert problems == []


def test_access_matrix(
    api: httpx.Client, login: Login, scope_target: dict[str, Any], admin_user: str
) -> None:
    del admin_user  # created so that ``login`` can sign the admin in
    target = scope_target
    grants = granted(api)
    # Signing out ends the caller's token, so it comes after every other route.
    routes = sorted(
        (r for r in all_routes(api) if r not in PUBLIC_ROUTES), key=lambda r: r == SIGN_OUT
    )
    problems: list[str] = []
    # Refusals first, while every object is in its original state; then the granted calls
    # (whose side effects, e.g. a withdrawn trial, may legitimately turn later ones into 409s).
    for username in USERS:
        headers = login(username)
        for method, template in routes:
            if username in grants[(method, template)]:
                continue
            answer = call(api, headers, method, template, target, username)
            label = f"{username} {method.upper()} {template}"
            if answer.status_code not in DENIED:
                problems.append(f"{label}: not granted, got {answer.status_code}")
            elif answer.status_code == 403 and username not in CARE:
                # Someone who may not gets the same 403 for a missing object (no
                # existence leak); the care team may see the object, so any refusal will do.
                missing = call(
                    api,
                    headers,
                    method,
                    template,
                    target,
                    username,
                    patient_id=test_scope.MISSING,
                    trial_id=test_scope.MISSING,
                    alert_id=test_scope.MISSING,
                )
                if (missing.status_code, missing.json()) != (403, answer.json()):
                    problems.append(f"{label}: 403 differs for a missing object")
    for username in USERS:
        headers = login(username)
        for method, template in routes:
            if username not in grants[(method, template)]:
                continue
            answer = call(api, headers, method, template, target, username)
            if answer.status_code in NOT_GRANTED or answer.status_code >= 500:
                problems.append(
                    f"{username} {method.upper()} {template}: granted, got "
                    f"{answer.status_code} {answer.text[:120]}"
                )
    assert problems == []


def test_granted_reads_return_the_target_patients_data(
    api: httpx.Client, login: Login, scope_target: dict[str, Any]
) -> None:
    """Granted is really granted: the care team and the patient read A-001's own record."""
    target = scope_target
    for username in CARE:
        answer = api.get(f"/patients/{target['patient_id']}", headers=login(username))
        assert answer.status_code == 200, (username, answer.text)
        assert answer.json()["study_code"] == "A-001"
        trial = api.get(f"/trials/{target['trial_id']}", headers=login(username))
        assert trial.status_code == 200
        assert trial.json()["id"] == target["trial_id"]
