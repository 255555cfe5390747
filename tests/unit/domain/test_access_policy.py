"""The access-policy table: who may take each action, over what scope."""

from __future__ import annotations

import pytest

from microtrial.domain.access import (
    POLICY,
    Action,
    Scope,
    allowed_roles,
    allows,
    authorize,
    sees_patient,
    sees_site,
)
from microtrial.domain.actors import Actor, Role, system_actor
from microtrial.errors import PermissionDenied

CLIN = Actor(Role.CLINICIAN, "dr", user_id=1, site_id=1)
PHARM = Actor(Role.UNBLINDED_STAFF, "ph", user_id=2, site_id=1)
PAT = Actor(Role.PATIENT, "p", user_id=3, site_id=1, patient_id=7)
RES = Actor(Role.RESEARCHER, "r", user_id=4, site_id=1)
ADMIN = Actor(Role.ADMIN, "a", user_id=5, site_id=1)


def test_every_action_has_a_rule() -> None:
    assert set(POLICY) == set(Action)
    assert all(Role.SYSTEM not in rule.roles for rule in POLICY.values())


def test_refusal_names_the_role_and_the_action() -> None:
    with pytest.raises(PermissionDenied, match="role 'patient' may not plan trials"):
        authorize(PAT, Action.PLAN_TRIAL)
    with pytest.raises(PermissionDenied, match="role 'patient' may not pause trials"):
        authorize(PAT, Action.MOVE_TRIAL, "pause trials")
    assert authorize(CLIN, Action.PLAN_TRIAL) is Scope.SITE


def test_the_operator_may_do_everything_but_sign_for_a_person() -> None:
    cli = system_actor()
    assert authorize(cli, Action.UNBLIND_TRIAL) is Scope.ALL
    assert not allows(cli, Action.SIGN_OFF_SCREENING)
    assert not allows(cli, Action.USE_PATIENT_APP)


def test_identified_data_never_reaches_researchers_or_admins() -> None:
    for action in (Action.READ_PATIENT, Action.READ_TRIAL, Action.LIST_PATIENTS):
        assert Role.RESEARCHER not in allowed_roles(action)
        assert Role.ADMIN not in allowed_roles(action)
    assert authorize(RES, Action.READ_COHORT) is Scope.DEIDENTIFIED


def test_only_unblinded_staff_see_the_allocation() -> None:
    assert allowed_roles(Action.SEE_ALLOCATION) == {Role.UNBLINDED_STAFF}


def test_scopes_reach_only_their_own_site_or_self() -> None:
    assert sees_patient(CLIN, Action.READ_PATIENT, patient_id=9, site_id=1)
    assert not sees_patient(CLIN, Action.READ_PATIENT, patient_id=9, site_id=2)
    assert sees_patient(PAT, Action.READ_PATIENT, patient_id=7, site_id=1)
    assert not sees_patient(PAT, Action.READ_PATIENT, patient_id=8, site_id=1)
    assert not sees_patient(RES, Action.READ_PATIENT, patient_id=7, site_id=1)
    assert not sees_site(ADMIN, Action.LIST_SITES, 2)  # admins stay at their own site
    assert not sees_site(PHARM, Action.LIST_SITES, 2)
    assert sees_site(PHARM, Action.LIST_SITES, 1)
