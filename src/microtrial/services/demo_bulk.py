"""The demo clinic at scale: thousands of patients computed in memory and written in bulk.

``services.demo`` builds each patient through the services, one transaction per step, which
costs about 0.2 s a patient. Here the site, the staff, the three adaptive trials, the blood
pressure hold, the alert sweep and the stored fits still go through the services; the other
patients are computed in memory by the same domain rules (``demo_bulk_trial``,
``demo_bulk_days``) and written per chunk of patients as multi-row INSERTs (``store.bulk``),
their audit events chained exactly as ``append_event`` chains them (``chain_values``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

from microtrial.domain.actors import system_actor
from microtrial.domain.lifecycle import TrialAction
from microtrial.errors import ValidationError
from microtrial.services import admin
from microtrial.services.common import Clock, system_clock
from microtrial.services.demo import (
    ADAPTIVE_CASES,
    ADAPTIVE_SEED,
    DEMO_SITE,
    STAFF,
    TIME_ZONES,
    DemoPatient,
    DemoSummary,
    _adaptive_patient,
    _hold_for_blood_pressure,
    _show_the_safety_loop,
    fresh_demo,
    open_clinic,
)
from microtrial.services.demo_bulk_days import adverse_event, simulate_days
from microtrial.services.demo_bulk_rows import MODELS, Rows
from microtrial.services.demo_bulk_trial import (
    BULK_DAYS,
    PAUSED_AFTER,
    RUNNING_DAYS,
    WITHDRAWN_AFTER,
    Clinic,
    confirm_screening,
    enrol,
    medicate_and_screen,
    midday,
    move,
    plan,
    unblind,
)
from microtrial.services.trial_fits import refresh_fits
from microtrial.store.audit import chain_values
from microtrial.store.bulk import (
    advance_sequences,
    insert_rows,
    next_ids,
    save_audit_heads,
    table_of,
)
from microtrial.store.db import Database
from microtrial.store.models import UserRow

PATIENTS_RANGE = (1, 10_000)  # what ``microtrial demo --patients`` accepts
BULK_FROM = 50  # from this many patients on, the demo is built by the bulk path
CHUNK = 200  # patients computed and written per transaction
SIM_DAYS = BULK_DAYS + 7  # the simulation starts this many days before today


def check_patients(n_patients: int) -> int:
    """``n_patients`` if the demo can build that many; ValidationError naming the range."""
    low, high = PATIENTS_RANGE
    if not low <= n_patients <= high:
        raise ValidationError(
            "--patients",
            f"{n_patients} is out of range",
            value=n_patients,
            allowed=f"{low}..{high}",
        )
    return n_patients


def build_bulk_demo(
    out_dir: Path, *, n_patients: int = 1000, seed: int = 2026, clock: Clock = system_clock
) -> DemoSummary:
    """Create ``out_dir/demo.db`` afresh and fill it with ``n_patients`` through the bulk path."""
    check_patients(n_patients)
    return fresh_demo(
        out_dir, lambda db, path: populate_bulk(db, path, n_patients, seed=seed, clock=clock)
    )


def populate_bulk(
    db: Database, path: Path, n_patients: int, *, seed: int = 2026, clock: Clock = system_clock
) -> DemoSummary:
    """Fill an empty, migrated database with the demo clinic (``n_patients`` + 3 adaptive)."""
    check_patients(n_patients)
    now = clock()
    clinic = _open_clinic(db, now)
    summary = DemoSummary(database=path, site=DEMO_SITE, staff=list(STAFF))
    with db.transaction() as session:
        ids = next_ids(session.connection(), MODELS)
    bulk = n_patients - len(ADAPTIVE_CASES)
    for first in range(0, bulk, CHUNK):
        rows = Rows(ids)
        for index in range(first, min(first + CHUNK, bulk)):
            rng = np.random.default_rng([seed, index])
            summary.patients.append(_patient(rows, clinic, index, rng))
        _write(db, rows)
        ids = rows.ids
    with db.transaction() as session:
        advance_sequences(session.connection(), [table_of(m) for m in MODELS])
    _service_side(db, summary, clinic, now)
    refresh_fits(db, system_actor("demo"), clock=clock)
    return summary


def _open_clinic(db: Database, now: dt.datetime) -> Clinic:
    """The site and its staff, through the services; what the bulk patients share."""
    start = midday((now - dt.timedelta(days=SIM_DAYS)).date())
    doctor = open_clinic(db, lambda: start)
    with db.transaction() as session:
        # Every demo login shares the published password: one hash (salted once) serves all.
        user = session.get(UserRow, doctor.user_id)
        assert user is not None
        password_hash = user.password_hash
    assert doctor.site_id is not None
    pharmacist = admin.user_actor(db, "pharmacist.demo")
    return Clinic(doctor.site_id, doctor, pharmacist, password_hash, start, now)


def _patient(rows: Rows, clinic: Clinic, index: int, rng: np.random.Generator) -> DemoPatient:
    """One bulk patient from enrolment to their trial's current stage."""
    p, out, me = enrol(rows, clinic, index, rng)
    decision, screening = medicate_and_screen(p, clinic, out, index)
    if decision == "do-not-start":
        out.stage = "screen-failed"
        return out
    doc, now = clinic.doctor, clinic.now
    if out.stage == "planned":
        at, start = now, now.date() + dt.timedelta(days=3)
    elif out.stage == "running":
        at = midday(now.date() - dt.timedelta(days=RUNNING_DAYS))
        start = at.date()
    else:
        at, start = clinic.start, clinic.start.date()
    calendar, sequence, period_ids = plan(p, clinic, index, start, at, int(rng.integers(2**31)))
    assert p.trial is not None
    out.trial_id = int(p.trial["id"])
    confirm_screening(p, doc, screening, at)
    move(p, doc, TrialAction.SCHEDULE, at)
    if out.stage == "planned":
        return out
    move(p, doc, TrialAction.START, at)
    first = calendar.first_date
    end = {
        "paused": first + dt.timedelta(days=PAUSED_AFTER),
        "withdrawn": first + dt.timedelta(days=WITHDRAWN_AFTER),
    }.get(out.stage, now.date())
    days = simulate_days(p, me, clinic.pharmacist, out, calendar, sequence, period_ids, end, rng)
    _finish(p, me, out, clinic, days, end, rng)
    return out


def _finish(p, me, out, clinic, days, end, rng) -> None:  # type: ignore[no-untyped-def]
    """The trial's end: the paused patient's grade-3 event, a withdrawal, or completion."""
    doc = clinic.doctor
    if out.stage == "paused":
        adverse_event(p, me, "vomiting", 3, end)
        out.adverse_events += 1
        return
    if rng.random() < 0.3 and len(days) > 10:
        onset = days[int(rng.integers(10, len(days)))].date
        term = str(rng.choice(["headache", "nausea", "insomnia", "anxiety"]))
        adverse_event(p, me, term, 1, onset)
        out.adverse_events += 1
    if out.stage == "withdrawn":
        at = midday(end)
        move(p, doc, TrialAction.WITHDRAW, at, reason="patient withdrew consent")
    elif out.stage == "completed":
        move(p, doc, TrialAction.COMPLETE, clinic.now, reason="all periods done")
        unblind(p, doc, clinic.now)


def _write(db: Database, rows: Rows) -> None:
    """Insert one chunk of patients, every table in one transaction, audit chain included."""
    for trial in rows.tables.get("trials", []):
        trial["plan"] = trial["plan"].to_json()
    audit = rows.tables.get("audit_events", [])
    heads: dict[str, tuple[str, int]] = {}
    chain_values(audit, heads)  # new patients: every stream starts at the genesis hash
    with db.transaction() as session:
        conn = session.connection()
        for model in MODELS:
            table = table_of(model)
            insert_rows(conn, table, rows.tables.get(table.name, []))
        save_audit_heads(conn, heads, set())
    rows.tables.clear()


def _service_side(db: Database, summary: DemoSummary, clinic: Clinic, now: dt.datetime) -> None:
    """What still goes through the services: a blood-pressure hold, adaptive trials, the sweep."""
    # The hold's reading is dated by its UTC day: a patient west of UTC would see it as tomorrow.
    running = next(
        (
            p
            for p in summary.patients
            if p.stage == "running"
            and not TIME_ZONES[(int(p.code[1:]) - 1) % len(TIME_ZONES)].startswith("America/")
        ),
        None,
    )
    if running is not None and running.trial_id is not None:
        pid = _patient_id(db, running.code)
        line = _hold_for_blood_pressure(db, pid, running, now)
        number = int(running.code[1:])  # the bulk logins are patient00001, ...
        summary.safety.append(line.replace(f"(patient{number:02d})", f"(patient{number:05d})"))
    for case, (wanted, effect, rule) in enumerate(ADAPTIVE_CASES):
        own = np.random.default_rng(ADAPTIVE_SEED + case)
        start = midday((now - dt.timedelta(days=7 * 13)).date())
        got = _adaptive_patient(
            db, clinic.doctor, len(summary.patients), rule, effect, own, start, now
        )
        summary.patients.append(got)
        summary.adaptive.append(
            f"{got.code} (patient{len(summary.patients):02d}): adaptive trial, {got.adaptive} "
            f"(demo meant to show {wanted}); {rule.describe()}"
        )
    _show_the_safety_loop(db, summary, now)


def _patient_id(db: Database, code: str) -> int:
    from sqlalchemy import select

    from microtrial.store.models import PatientRow

    with db.transaction() as session:
        return int(
            session.execute(select(PatientRow.id).where(PatientRow.study_code == code)).scalar_one()
        )
