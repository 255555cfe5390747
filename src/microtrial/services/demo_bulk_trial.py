"""One bulk demo patient computed in memory: enrolment, screening, the trial and its lifecycle.

Each step applies the domain rules the matching service applies (field checks, ``screen``,
``plan_design``, ``issue_kits``, ``build_calendar``, ``next_status``) and writes the rows and
audit events that service writes. The daily diary is in ``demo_bulk_days``.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from microtrial.domain import patients as rules
from microtrial.domain.actors import Actor, check_role, system_actor
from microtrial.domain.calendar import TrialCalendar, build_calendar
from microtrial.domain.catalog import load_catalog
from microtrial.domain.design import DesignSpec, plan_design
from microtrial.domain.kits import issue_kits, kit_codes_by_period
from microtrial.domain.lifecycle import TrialAction, TrialStatus, next_status, transition_for
from microtrial.domain.screening import PatientSnapshot, screen
from microtrial.domain.trial_plan import new_plan
from microtrial.errors import SafetyBlock
from microtrial.services.demo import DEMO_CONDITIONS, REGIMENS, TIME_ZONES, DemoPatient
from microtrial.services.demo_bulk_rows import PatientRows, Rows, stamped
from microtrial.services.screening import PREGNANCY_FLAG, history_flag_ids, screening_values
from microtrial.store import models

# About 120 diary days: a week's run-in and four pairs of two-week periods.
BULK_SPEC = DesignSpec(run_in_days=7, pairs=4, period_days=14, wash_in_days=3)
BULK_DAYS = BULK_SPEC.total_days
# One patient in each of these stages, in turn (screen-failed: a lithium user, do-not-start).
# Thirteen, prime to the four condition groups, so that every group has every stage.
BULK_STAGES = (
    "completed",
    "completed",
    "running",
    "completed",
    "planned",
    "completed",
    "withdrawn",
    "running",
    "completed",
    "paused",
    "completed",
    "screen-failed",
    "running",
)
RUNNING_DAYS = 60  # a running trial started this many days ago
WITHDRAWN_AFTER = 45  # days into the trial a withdrawn patient leaves
PAUSED_AFTER = 40  # days into the trial a paused patient's grade-3 event pauses it


@dataclass(frozen=True)
class Clinic:
    """What every bulk patient shares: the site, the clinician, the times, the password."""

    site_id: int
    doctor: Actor
    pharmacist: Actor  # fills and hands out each period's kit (``pharmacy.record_kit_step``)
    password_hash: str
    start: dt.datetime  # the simulation's first day (noon UTC)
    now: dt.datetime


# A kit as issued: not yet prepared, dispensed or returned (the pharmacy's columns).
UNTOUCHED_KIT: dict[str, Any] = {
    f"{step}_{column}": None
    for step in ("prepared", "dispensed")
    for column in ("at", "by", "by_user_id", "capsules")
} | {"returned_at": None, "returned_by": None}


@functools.cache
def _checked_zone(name: str) -> str:
    """``rules.check_time_zone`` once per zone (it lists every zone on disk: 70 ms a call)."""
    return rules.check_time_zone(name)


def midday(day: dt.date) -> dt.datetime:
    """Noon UTC on ``day``."""
    return dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC)


def enrol(
    rows: Rows, clinic: Clinic, index: int, rng: np.random.Generator
) -> tuple[PatientRows, DemoPatient, Actor]:
    """Patient, condition, login, history and medication (``enrol_patient``, ``add_user``...)."""
    groups = list(DEMO_CONDITIONS)
    group = groups[index % len(groups)]
    icd10 = DEMO_CONDITIONS[group][int(rng.integers(len(DEMO_CONDITIONS[group])))]
    out = DemoPatient(code=f"P{index + 1:05d}", group=group, icd10=icd10)
    out.stage = BULK_STAGES[index % len(BULK_STAGES)]
    at, doc = clinic.start, clinic.doctor
    patient = rows.add(
        models.PatientRow,
        {
            "site_id": clinic.site_id,
            "study_code": rules.check_study_code(out.code),
            "birth_year": rules.check_birth_year(int(rng.integers(1950, 2000)), at.date()),
            "sex": rules.check_sex(str(rng.choice(["female", "male"]))),
            "time_zone": _checked_zone(TIME_ZONES[index % len(TIME_ZONES)]),
            "created_at": at,
        },
    )
    p = PatientRows(rows, patient)
    code = rules.check_icd10(icd10)
    rows.add(
        models.ConditionRow,
        {"patient_id": p.pid, "icd10_code": code, "status": "active", **stamped(doc, at)},
    )
    p.audit(doc, "create", "patient", p.pid, at, conditions=[code])
    username = rules.check_username(f"patient{index + 1:05d}")
    user = rows.add(
        models.UserRow,
        {
            "username": username,
            "username_key": username.lower(),
            "password_hash": clinic.password_hash,
            "role": "patient",
            "site_id": clinic.site_id,
            "patient_id": p.pid,
            "email": None,
            "is_active": True,
            "created_at": at,
            "session_version": 0,
        },
    )
    p.audit(system_actor("demo"), "create", "user", user["id"], at, role="patient")
    me = Actor(check_role("patient"), username, user["id"], clinic.site_id, p.pid)
    for flag in history_flag_ids():
        detail = {"flag": flag, "version": 1}
        p.record(
            doc, models.HistoryFlagRow, "history", at, flag=flag, value=False, audit_detail=detail
        )
    return p, out, me


def medicate_and_screen(
    p: PatientRows, clinic: Clinic, out: DemoPatient, index: int
) -> tuple[str, dict[str, Any]]:
    """The medication and the screening for the regimen's substance, signed off if needed."""
    doc, at = clinic.doctor, clinic.start
    if out.stage == "screen-failed":
        medication = "Lithobid 300 mg ER tab"
    elif index % 4 == 1:
        medication = "Sertraline 50 mg"
    else:
        medication = "Gabapentin 300 mg"
    p.record(
        doc, models.MedicationRow, "medication", at, name_as_entered=medication, status="active"
    )
    substance = REGIMENS[index % len(REGIMENS)].substance
    catalog = load_catalog()
    flags: dict[str, bool | None] = dict.fromkeys(history_flag_ids(), False)
    pregnant = flags.pop(PREGNANCY_FLAG, None)
    birth_year = int(p.patient["birth_year"])
    snapshot = PatientSnapshot(
        history={k: v for k, v in flags.items() if k in catalog.history_flags},
        pregnant=pregnant,
        conditions=[out.icd10] if catalog.condition_by_code(out.icd10) is not None else [],
        medications=[medication],
        blood_pressures=[],
        age=at.date().year - birth_year,
    )
    result = screen(snapshot, substance)
    values: dict[str, Any] = {"substance": substance, **screening_values(result)}
    row = p.record(
        doc,
        models.ScreeningResultRow,
        "screening",
        at,
        **values,
        audit_detail={"substance": substance, "decision": result.decision},
    )
    out.decision = result.decision
    if result.decision == "clinician-review":
        row = _sign_off(p, doc, row, at)
    return result.decision, row


def _sign_off(p: PatientRows, doc: Actor, old: dict[str, Any], at: dt.datetime) -> dict[str, Any]:
    """The clinician's sign-off: the screening's next version (``sign_off_screening``)."""
    old["is_current"] = False
    new = {k: v for k, v in old.items() if k != "id"}
    new.update(
        version=old["version"] + 1,
        is_current=True,
        recorded_at=at,
        recorded_by=doc.label,
        recorded_by_user_id=doc.user_id,
        change_reason="clinician sign-off",
        signed_off_by_user_id=doc.user_id,
        signed_off_by=doc.label,
        signed_off_at=at,
        sign_off_reason="SSRI: possible blunting discussed; proceed",
    )
    p.rows.add(models.ScreeningResultRow, new)
    p.audit(doc, "sign-off", "screening", old["record_id"], at, version=new["version"])
    return new


def plan(
    p: PatientRows, clinic: Clinic, index: int, start_date: dt.date, at: dt.datetime, seed: int
) -> tuple[TrialCalendar, tuple[str, ...], dict[int, int]]:
    """Plan the trial: allocation, periods and kits (``plan_trial``); returns the calendar,
    the concealed arm sequence and the period ids by number."""
    doc = clinic.doctor
    regimen = REGIMENS[index % len(REGIMENS)]
    built = regimen.build()
    design = plan_design(BULK_SPEC, seed)
    issued = issue_kits(design)
    calendar = build_calendar(
        design.blinded(),
        built,
        start_date,
        str(p.patient["time_zone"]),
        kit_codes_by_period(issued.kits),
    )
    trial_plan = new_plan(regimen, BULK_SPEC)
    p.trial = p.rows.add(
        models.TrialRow,
        {
            "patient_id": p.pid,
            "protocol_id": None,
            "status": TrialStatus.DRAFT.value,
            "start_date": start_date,
            "plan": trial_plan,
            "lock_version": 1,
            "created_at": at,
            "unblinded_at": None,
            "unblind_reason": None,
            "unblinded_early": False,
            "status_reason": None,
            "kits_through_pair": None,
        },
    )
    tid = p.trial["id"]
    p.rows.add(
        models.AllocationRow,
        {
            "trial_id": tid,
            "seed": seed,
            "sequence": list(design.sequence),
            "max_run_length": BULK_SPEC.max_run_length,
            "created_at": at,
        },
    )
    period_ids: dict[int, int] = {}
    for period, kit in zip(design.periods, issued.kits, strict=True):
        row = p.rows.add(
            models.PeriodRow,
            {
                "trial_id": tid,
                "number": period.number,
                "block": period.block,
                "start_date": start_date + dt.timedelta(days=period.start_day),
                "end_date": start_date + dt.timedelta(days=period.end_day),
                "washin_days": period.wash_in_days,
            },
        )
        # Every column named: a multi-row INSERT takes its columns from the first row.
        p.rows.add(
            models.KitRow,
            {"trial_id": tid, "period_id": row["id"], "code": kit.code, **UNTOUCHED_KIT},
        )
        period_ids[period.number] = row["id"]
    p.audit(
        doc,
        "create",
        "trial",
        tid,
        at,
        regimen=regimen.template,
        periods=len(design.periods),
        adaptive=None,
    )
    return calendar, design.sequence, period_ids


def move(
    p: PatientRows, actor: Actor, action: TrialAction, at: dt.datetime, reason: str | None = None
) -> None:
    """One lifecycle step with its audit event (``trial_lifecycle.transition``), refused as
    there while an alert stands in the way of a start or resumption."""
    assert p.trial is not None
    if transition_for(action).blocked_by_alerts and p.blocking:
        raise SafetyBlock(f"alert: acknowledge {', '.join(p.blocking)} first")
    target = next_status(str(p.trial["status"]), action)
    p.trial["status"] = target.value
    p.trial["lock_version"] += 1
    if action is TrialAction.CONFIRM_SCREENING:
        return
    p.trial["status_reason"] = reason
    p.audit(actor, action.value, "trial", p.trial["id"], at, status=target.value, reason=reason)


def confirm_screening(
    p: PatientRows, doc: Actor, screening: dict[str, Any], at: dt.datetime
) -> None:
    """Mark the new trial screened on a cleared screening (``confirm_screening_if_cleared``)."""
    assert p.trial is not None
    move(p, doc, TrialAction.CONFIRM_SCREENING, at)
    p.audit(
        doc,
        "confirm-screening",
        "trial",
        p.trial["id"],
        at,
        screening=screening["record_id"],
        version=screening["version"],
    )


def unblind(p: PatientRows, doc: Actor, at: dt.datetime) -> None:
    """Break the blind of a completed trial (``trial_lifecycle.unblind_trial``)."""
    assert p.trial is not None
    reason = "trial completed; analysis data locked"
    p.trial.update(
        plan=p.trial["plan"].locked(at),
        status=TrialStatus.UNBLINDED.value,
        unblinded_at=at,
        unblinded_early=False,
        unblind_reason=reason,
        lock_version=p.trial["lock_version"] + 1,
    )
    p.audit(doc, "unblind", "trial", p.trial["id"], at, early=False, reason=reason)
