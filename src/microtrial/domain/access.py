"""Who may do what: the one access-policy table, and the checks that read it.

Every access decision in services, pages and routes names an :class:`Action`; this table says which
roles may take it and over what scope. Nothing else in the code base decides by comparing roles
(``tests/unit/test_access_literals.py`` fails on a role literal used anywhere else). The
command-line operator (``Role.SYSTEM``) may take every action over every scope unless a rule says
otherwise, because it can open the database file anyway. Pages are for signed-in users only, so
pages and their links check :func:`user_may` (the operator has no session).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from microtrial.domain.actors import Actor, Role
from microtrial.errors import PermissionDenied


class Scope(StrEnum):
    """How far an allowed action reaches."""

    ALL = "all"  # every site (the command-line operator; admins for de-identified exports)
    SITE = "site"  # the actor's own site (identified data for the care team)
    SELF = "self"  # the actor's own patient record only
    DEIDENTIFIED = "deidentified"  # pooled or pseudonymised data, never identified records


class Action(StrEnum):
    """Everything the policy decides, named for what the actor does."""

    # patients and their records
    READ_PATIENT = "read identified patient data"
    READ_PATIENT_FOR_KITS = "read what kit preparation needs"
    ENROL_PATIENT = "enrol patients"
    LIST_PATIENTS = "list patients"
    RECORD_HISTORY = "record medical history"
    ADD_RECORDS = "add clinical records"
    CORRECT_RECORDS = "correct clinical records"
    SCREEN = "screen patients"
    SIGN_OFF_SCREENING = "sign off screenings"
    # the patient's own diary
    USE_PATIENT_APP = "use the patient app"
    RECORD_DIARY = "record diary entries"
    CORRECT_DIARY = "correct diary entries"
    LOG_ATTACK = "log headache attacks"
    RECORD_ADVERSE_EVENT = "record adverse events"
    REVIEW_ADVERSE_EVENT = "confirm, regrade and close adverse events"
    RECORD_DOSE = "record doses"
    RECORD_GUESS = "record guesses"
    # reminders on the patient's terms
    READ_REMINDERS = "read reminder settings"
    SET_REMINDERS = "set reminder times and channel"
    STOP_REMINDER_FEED = "stop a calendar feed"
    # trials
    READ_TRIAL = "read identified trials"
    LIST_TRIALS = "list trials"
    PLAN_TRIAL = "plan trials"
    MOVE_TRIAL = "change a trial's status"
    UNBLIND_TRIAL = "unblind trials"
    UNBLIND_EARLY = "break the blind before a trial's end"
    SEE_ALLOCATION = "see the allocation"
    PREPARE_KITS = "record kits prepared and dispensed"
    ANNOTATE_ALLOCATION = "annotate allocations"
    ANALYSE_TRIAL = "analyse trials"
    READ_CLINICIAN_REPORT = "read clinician reports"
    # clinic work
    USE_CLINIC_PAGES = "use the clinic pages"
    LIST_ALERTS = "list alerts"
    ACKNOWLEDGE_ALERT = "acknowledge alerts"
    SWEEP_ALERTS = "run the alert sweep"
    # research
    READ_COHORT = "read cohort results"
    USE_RESEARCH_PAGES = "use the research pages"
    RESEARCH_EXPORT = "run the research export"
    REFRESH_RESULTS = "refresh the stored trial fits"
    # administration and the signed-in user's own account
    SEE_OWN_ACCOUNT = "see their own account"
    CHANGE_OWN_PASSWORD = "change their own password"
    SET_PASSWORD = "set another user's new password"
    ADMINISTER = "administer sites and users"
    ADD_SITE = "add sites"
    ADD_USER = "add users"
    MANAGE_USERS = "deactivate users, change their role and set their password"
    LIST_USERS = "list users"
    LIST_SITES = "list sites"
    SET_SITE_SETTINGS = "set site settings"


@dataclass(frozen=True, slots=True)
class Rule:
    """Which roles may take an action and over what scope; ``system`` allows the operator."""

    roles: Mapping[Role, Scope]
    system: bool = True


C, U, P = Role.CLINICIAN, Role.UNBLINDED_STAFF, Role.PATIENT
R, ADM = Role.RESEARCHER, Role.ADMIN
SITE, SELF, ALL, DEID = Scope.SITE, Scope.SELF, Scope.ALL, Scope.DEIDENTIFIED
STAFF: Mapping[Role, Scope] = {C: SITE, U: SITE}
CARE: Mapping[Role, Scope] = {P: SELF, C: SITE}
CLINICIAN: Mapping[Role, Scope] = {C: SITE}

POLICY: Mapping[Action, Rule] = {
    # Unblinded staff know the arms: they read no outcome of a running trial (diary, scores,
    # adverse events, alerts' content, the worklist, FHIR, results, reports), only what kit
    # preparation needs (READ_PATIENT_FOR_KITS: study code, site, trial status and dates, kits,
    # the screening decision, and why dosing is held, in words without clinical detail).
    Action.READ_PATIENT: Rule(CARE),
    Action.READ_PATIENT_FOR_KITS: Rule(STAFF),
    Action.ENROL_PATIENT: Rule(CLINICIAN),
    Action.LIST_PATIENTS: Rule(CLINICIAN),
    Action.RECORD_HISTORY: Rule(CLINICIAN),
    Action.ADD_RECORDS: Rule(CLINICIAN),
    Action.CORRECT_RECORDS: Rule(CLINICIAN),
    Action.SCREEN: Rule(CLINICIAN),
    # A sign-off carries a clinician's name: the operator cannot give one.
    Action.SIGN_OFF_SCREENING: Rule(CLINICIAN, system=False),
    Action.USE_PATIENT_APP: Rule({P: SELF}, system=False),
    Action.RECORD_DIARY: Rule(CARE),
    # A correction keeps the earlier version, with who, when and why.
    Action.CORRECT_DIARY: Rule(CARE),
    Action.LOG_ATTACK: Rule(CARE),
    Action.RECORD_ADVERSE_EVENT: Rule(CARE),
    Action.REVIEW_ADVERSE_EVENT: Rule(CLINICIAN),
    Action.RECORD_DOSE: Rule(CARE),
    Action.RECORD_GUESS: Rule(CARE),
    # The patient chooses their own reminders; their clinician sees whether they are on and may
    # stop a calendar feed (a lost phone, a link shared by mistake), never set times for them.
    Action.READ_REMINDERS: Rule(CARE),
    Action.SET_REMINDERS: Rule({P: SELF}, system=False),
    Action.STOP_REMINDER_FEED: Rule(CARE),
    Action.READ_TRIAL: Rule(CARE),
    Action.LIST_TRIALS: Rule(CARE),
    Action.PLAN_TRIAL: Rule(CLINICIAN),
    Action.MOVE_TRIAL: Rule(CLINICIAN),
    # Unblinded staff prepare kits and never unblind: breaking the blind is a clinician's act.
    Action.UNBLIND_TRIAL: Rule(CLINICIAN),
    # Before the planned end only for safety, by a clinician of the site giving a reason (the
    # operator has no clinical judgement to give); always recorded as early.
    Action.UNBLIND_EARLY: Rule(CLINICIAN, system=False),
    Action.SEE_ALLOCATION: Rule({U: SITE}),
    # The pharmacy's records of filling and handing out kits: unblinded staff of the site.
    Action.PREPARE_KITS: Rule({U: SITE}),
    Action.ANNOTATE_ALLOCATION: Rule(STAFF),
    Action.ANALYSE_TRIAL: Rule(CARE),
    # Anyone else asking for a trial report gets the patient's version.
    Action.READ_CLINICIAN_REPORT: Rule(CLINICIAN),
    Action.USE_CLINIC_PAGES: Rule(CLINICIAN),
    Action.LIST_ALERTS: Rule(CLINICIAN),
    Action.ACKNOWLEDGE_ALERT: Rule(CLINICIAN),
    Action.SWEEP_ALERTS: Rule(CLINICIAN),
    Action.READ_COHORT: Rule({R: DEID, C: SITE}),
    Action.USE_RESEARCH_PAGES: Rule({R: DEID}),
    # The export is de-identified by construction; a researcher's reaches their own site only,
    # an administrator's every site.
    Action.RESEARCH_EXPORT: Rule({R: SITE, ADM: ALL}),
    # The stored fits are refreshed by the operator's jobs (the server's sweep loop, the CLI,
    # the demo), never by a request: no role may start one.
    Action.REFRESH_RESULTS: Rule({}),
    # Any signed-in user may see who they are signed in as (``GET /me``).
    Action.SEE_OWN_ACCOUNT: Rule(dict.fromkeys((P, C, U, R, ADM), SELF)),
    # A password belongs to a signed-in person: the operator sets one with SET_PASSWORD.
    Action.CHANGE_OWN_PASSWORD: Rule(dict.fromkeys((P, C, U, R, ADM), SELF), system=False),
    # Without e-mail a patient asks the clinic: clinicians set new passwords for their site's
    # patients only (the service checks the account is a patient's), administrators for anyone.
    # Administrators work at their own site only (an admin elsewhere could otherwise make
    # themselves an unblinded login at any site); cross-site administration is the
    # installation's operator (the command line), who alone adds sites.
    Action.SET_PASSWORD: Rule({ADM: SITE, C: SITE}),
    Action.ADMINISTER: Rule({ADM: SITE}),
    Action.ADD_SITE: Rule({}),
    Action.ADD_USER: Rule({ADM: SITE}),
    Action.MANAGE_USERS: Rule({ADM: SITE}),
    Action.LIST_USERS: Rule({ADM: SITE}),
    # The sites an actor may name or list: their own (every site for the operator).
    Action.SET_SITE_SETTINGS: Rule({ADM: SITE}),
    Action.LIST_SITES: Rule({ADM: SITE, C: SITE, U: SITE, R: SITE, P: SITE}),
}


def scope_of(actor: Actor, action: Action) -> Scope | None:
    """The scope over which ``actor`` may take ``action``; None when it may not at all."""
    rule = POLICY[action]
    if actor.role is Role.SYSTEM:
        return Scope.ALL if rule.system else None
    return rule.roles.get(actor.role)


def allows(actor: Actor, action: Action) -> bool:
    """Whether ``actor`` may take ``action`` at all (scope aside)."""
    return scope_of(actor, action) is not None


def authorize(actor: Actor, action: Action, doing: str | None = None) -> Scope:
    """The actor's scope for ``action``; PermissionDenied naming the role otherwise.

    ``doing`` words the refusal when the action's own name is too general
    (for example "pause trials" for :attr:`Action.MOVE_TRIAL`).
    """
    scope = scope_of(actor, action)
    if scope is None:
        refusal = f"role {actor.role.value!r} may not {doing or action.value}"
        raise PermissionDenied(refusal, actor=actor)
    return scope


def allowed_roles(action: Action) -> frozenset[Role]:
    """The user roles (the operator aside) that may take ``action``."""
    return frozenset(POLICY[action].roles)


def user_may(actor: Actor, action: Action) -> bool:
    """Whether a signed-in user may take ``action``: pages and links, never the operator."""
    return actor.role in POLICY[action].roles


def sees_site(actor: Actor, action: Action, site_id: int | None) -> bool:
    """Whether ``action`` by ``actor`` reaches records of ``site_id``."""
    scope = scope_of(actor, action)
    if scope is Scope.ALL:
        return True
    return scope is not None and site_id is not None and actor.site_id == site_id


def sees_patient(actor: Actor, action: Action, patient_id: int, site_id: int) -> bool:
    """Whether ``action`` by ``actor`` reaches the identified record of one patient."""
    scope = scope_of(actor, action)
    if scope is Scope.ALL:
        return True
    if scope is Scope.SELF:
        return actor.patient_id == patient_id
    if scope is Scope.SITE:
        return actor.site_id == site_id
    return False
