"""What a patient is told about their own trial now: holds, crisis lines, an early end, and
how an unblinded adaptive trial ended."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from microtrial.domain import lifecycle
from microtrial.domain.actors import Actor
from microtrial.domain.adaptive import stop_in_words
from microtrial.domain.alerts import (
    crisis_codes,
    default_crisis_contacts,
    patient_notice,
    tel_uri,
    urgent_care_codes,
)
from microtrial.i18n import N_
from microtrial.services.adaptive import stop_facts_for_patient
from microtrial.services.alerts import DOSE_BLOCKING, open_alerts
from microtrial.services.common import (
    Clock,
    audit_patient,
    own_patient,
    patient_today,
    system_clock,
)
from microtrial.services.schemas import ReadModel
from microtrial.store.db import Database
from microtrial.store.models import AlertRow, PatientRow, SiteRow, TrialRow

DO_NOT_DOSE = N_("Do not take a capsule.")
CONTACT = N_(
    "Your clinic has been told and will contact you. Do not restart until they tell you to."
)
PAUSED = N_("Your clinic has paused your trial.")


class HoldNotice(ReadModel):
    """One reason the patient must not take a capsule, in plain words."""

    what: str
    since: dt.date
    code: str | None = None  # the alert's code: pages word it in the patient's language


class CrisisLine(ReadModel):
    """A crisis line with its ``tel:`` link."""

    label: str
    number: str
    tel: str


class PatientStatus(ReadModel):
    """The patient's own safety status (never the arm)."""

    trial_id: int | None
    trial_status: str | None
    held: bool
    holds: list[HoldNotice]
    instruction: str | None
    contact: str | None
    crisis: bool
    # An open alert whose rule asks for emergency care or urgent assessment: the patient is told
    # to get help now if unwell, not only that the clinic will call.
    urgent_care: bool = False
    crisis_lines: list[CrisisLine]
    ended_early: str | None
    # An unblinded adaptive trial: how it ended (pairs run and why), never before unblinding.
    adaptive_stop: str | None = None
    # The same as (decision, pairs run, max pairs), for pages that word it in their language.
    adaptive_stop_facts: tuple[str, int, int] | None = None
    ended_early_reason: str | None = None  # the reason given, for pages that word the rest


def patient_status(db: Database, actor: Actor, *, clock: Clock = system_clock) -> PatientStatus:
    """The signed-in patient's holds, crisis lines and any early end (PermissionDenied else)."""
    now = clock()
    with db.transaction() as session:
        patient = own_patient(session, actor, "a patient status")
        status = status_of(session, patient, now)
        audit_patient(session, actor, "read", "patient_status", patient.id, patient, at=now)
        return status


def status_of(session: Session, patient: PatientRow, now: dt.datetime) -> PatientStatus:
    """The patient's status inside an open transaction (callers audit)."""
    trial = session.execute(
        select(TrialRow).where(TrialRow.patient_id == patient.id).order_by(TrialRow.id.desc())
    ).scalar()
    alerts = open_alerts(session, patient.id)
    zone_today = patient_today(patient, now)
    holds = [
        HoldNotice(what=patient_notice(a.code, day), since=day, code=a.code)
        for a, day in ((a, reported_day(a, patient)) for a in alerts)
        if a.action in DOSE_BLOCKING
    ]
    if trial is not None and trial.status == lifecycle.TrialStatus.PAUSED and not holds:
        holds.append(HoldNotice(what=PAUSED, since=zone_today))
    crisis = any(a.code in crisis_codes() for a in alerts)
    urgent = urgent_care_codes()
    stop_facts = stop_facts_for_patient(session, trial) if trial is not None else None
    return PatientStatus(
        trial_id=trial.id if trial else None,
        trial_status=trial.status if trial else None,
        held=bool(holds),
        holds=holds,
        instruction=DO_NOT_DOSE if holds else None,
        contact=CONTACT if holds else None,
        crisis=crisis,
        urgent_care=any(a.code in urgent for a in alerts),
        crisis_lines=crisis_lines(session, patient.site_id),
        ended_early=_ended_early(trial),
        adaptive_stop=None if stop_facts is None else stop_in_words(*stop_facts),
        adaptive_stop_facts=stop_facts,
        ended_early_reason=_early_reason(trial),
    )


def reported_day(alert: AlertRow, patient: PatientRow) -> dt.date:
    """The day an alert is about: the diary or dose day that raised it (a day filled in later
    is that day, not the day it was sent), else the patient's day when it was raised."""
    named = (alert.trigger or {}).get("date")
    if isinstance(named, str):
        return dt.date.fromisoformat(named)
    return patient_today(patient, alert.created_at)


def own_crisis_lines(session: Session, site_id: int) -> list[tuple[str, str]]:
    """The crisis lines (label, number) a site set itself; empty when it uses the catalog's."""
    site = session.get(SiteRow, site_id)
    return [(c["label"], c["number"]) for c in (site.crisis_contacts or [])] if site else []


def crisis_lines(session: Session, site_id: int) -> list[CrisisLine]:
    """The site's crisis lines, or the catalog's default set when it names none."""
    own = own_crisis_lines(session, site_id)
    return [
        CrisisLine(label=label, number=number, tel=tel_uri(number))
        for label, number in (own or default_crisis_contacts())
    ]


def _early_reason(trial: TrialRow | None) -> str | None:
    """The reason the clinic gave for an early end (None without one)."""
    if trial is None:
        return None
    if trial.status == lifecycle.TrialStatus.UNBLINDED:
        return trial.unblind_reason
    return trial.status_reason


def _ended_early(trial: TrialRow | None) -> str | None:
    """Why the patient's trial ended before its end, in words for the patient."""
    if trial is None:
        return None
    if trial.status == lifecycle.TrialStatus.WITHDRAWN:
        return (
            "Your clinic stopped your trial early. Do not take any more trial capsules. "
            f"The reason they gave: {trial.status_reason or 'not recorded'}."
        )
    if trial.status == lifecycle.TrialStatus.UNBLINDED and trial.unblinded_early:
        return (
            "Your trial was ended early, and your clinic looked at which capsules you had, "
            "to keep you safe. Do not take any more trial capsules. "
            f"The reason they gave: {trial.unblind_reason}."
        )
    return None
