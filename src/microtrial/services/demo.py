"""The demo clinic: staff, screened patients and their trials at every stage, simulated.

Everything is created through the same services a clinic uses, with a simulated clock: each
trial is planned on its start day, and nature (the simulation) reads the concealed allocation
only to decide how a patient's pain responds. Stages: screen failed (do-not-start), planned,
running and blinded, paused by a stop rule, completed and unblinded. Three more patients run
adaptive trials (7-day periods, up to 5 pairs) that stop early for benefit, stop for futility
and run to the maximum; their looks are made by the diary submissions, as in the clinic.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import or_, select

from microtrial.domain.actors import Actor, system_actor
from microtrial.domain.adaptive import AdaptiveRule
from microtrial.domain.design import DesignSpec
from microtrial.services import (
    adaptive_looks,
    admin,
    adverse_events,
    dosing,
    patients,
    pharmacy,
    records,
    screening,
    sweeps,
    trial_allocation,
    trial_lifecycle,
    trial_planning,
    trial_views,
)
from microtrial.services.common import Clock, system_clock
from microtrial.services.records import DiaryInput
from microtrial.services.security import verify_password
from microtrial.services.trial_allocation import KitSpec
from microtrial.services.trial_fits import refresh_fits
from microtrial.services.trial_planning import RegimenChoice
from microtrial.settings import Settings
from microtrial.store import migrate
from microtrial.store.db import Database
from microtrial.store.models import InterimLookRow, SiteRow, UserRow

DEMO_SITE = "DEMO"
DEMO_SITE_NAME = "MicroTrial demo clinic"  # with DEMO_SITE: how reports recognise demo data
DEMO_PASSWORD = "microtrial-demo"
DEMO_WEEKS = 13
SPEC = DesignSpec(run_in_days=7, pairs=3, period_days=14, wash_in_days=3)
# condition group -> ICD-10-CM codes (REFERENCE.md F.1) the demo draws from
DEMO_CONDITIONS: dict[str, tuple[str, ...]] = {
    "neuropathic": ("E11.42", "B02.29", "G50.0"),
    "migraine": ("G43.009", "G43.709"),
    "cluster": ("G44.019", "G44.029"),
    "fibromyalgia": ("M79.7",),
}
REGIMENS = (
    RegimenChoice("fadiman", "psilocybin", 100, "mg dried material"),
    RegimenChoice("every_fourth_day", "lsd", 10, "µg"),
    RegimenChoice("twice_weekly", "psilocybin", 150, "mg dried material", ("mon", "thu")),
)
STAFF = (
    ("dr.demo", "clinician"),
    ("pharmacist.demo", "unblinded_staff"),
    ("researcher.demo", "researcher"),
)
TIME_ZONES = ("Europe/London", "America/New_York", "Europe/Berlin", "Australia/Sydney")
STAGES = ("completed", "completed", "running", "completed", "planned", "completed")
ADAPTIVE_SEED = 20
ADAPTIVE_SPEC = DesignSpec(run_in_days=7, pairs=5, period_days=7, wash_in_days=1)
# (what the demo shows, the true effect nature gives the patient, the clinician's rule): a
# clear responder, a non-responder, and an effect at the MCID under a strict rule.
ADAPTIVE_CASES = (
    ("stop-benefit", -2.5, AdaptiveRule(max_pairs=5)),
    ("stop-futility", 0.3, AdaptiveRule(max_pairs=5)),
    (
        "maximum-reached",
        -1.0,
        AdaptiveRule(max_pairs=5, benefit_threshold=0.99, futility_threshold=0.01),
    ),
)


@dataclass
class DemoPatient:
    """What the demo made for one patient."""

    code: str
    group: str
    icd10: str
    stage: str = "completed"
    decision: str = ""
    trial_id: int | None = None
    diary_days: int = 0
    missing_days: int = 0
    mean_pain: float = float("nan")
    adverse_events: int = 0
    responder: bool = False
    adaptive: str = ""  # an adaptive trial's final decision (its looks' last)


@dataclass
class DemoSummary:
    """What the demo built, for the CLI's summary table."""

    database: Path
    site: str
    staff: list[tuple[str, str]]
    patients: list[DemoPatient] = field(default_factory=list)
    password: str = DEMO_PASSWORD
    # The safety states a visitor can look at, in words (who, what, where to see it).
    safety: list[str] = field(default_factory=list)
    adaptive: list[str] = field(default_factory=list)  # the adaptive trials, in words

    def by_group(self) -> dict[str, list[DemoPatient]]:
        """Patients grouped by condition group, in a fixed order."""
        return {g: [p for p in self.patients if p.group == g] for g in DEMO_CONDITIONS}


def _midday(moment: dt.datetime) -> dt.datetime:
    """Noon UTC on ``moment``'s UTC date."""
    # At noon UTC every demo time zone (New York to Sydney) is on the same calendar date, so a
    # trial started "today" is today for each patient whatever the hour the demo is built.
    return dt.datetime.combine(moment.date(), dt.time(12), tzinfo=dt.UTC)


class SimClock:
    """A settable clock for the simulation."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


def build_demo(
    out_dir: Path, *, n_patients: int = 24, seed: int = 2026, clock: Clock = system_clock
) -> DemoSummary:
    """Create ``out_dir/demo.db`` afresh and fill it with a simulated clinic."""
    rng = np.random.default_rng(seed)
    return fresh_demo(out_dir, lambda db, path: _populate(db, path, n_patients, rng, clock))


def fresh_demo(out_dir: Path, fill: Callable[[Database, Path], DemoSummary]) -> DemoSummary:
    """Create ``out_dir/demo.db`` afresh (migrated) and ``fill(db, path)`` it."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "demo.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    db = Database.from_settings(Settings(database_url=f"sqlite:///{path}"))
    try:
        migrate.upgrade(db.engine)
        return fill(db, path)
    finally:
        db.dispose()


def _populate(
    db: Database, path: Path, n_patients: int, rng: np.random.Generator, clock: Clock
) -> DemoSummary:
    now = clock()
    # One day more than the trial's length: its last period then ended before "today" in every
    # demo time zone (New York's date lags UTC's by a day for some hours), so it can be completed.
    start = _midday(now - dt.timedelta(days=7 * DEMO_WEEKS + 1))
    sim = SimClock(start)
    doc = open_clinic(db, sim)
    summary = DemoSummary(database=path, site=DEMO_SITE, staff=list(STAFF))
    groups = list(DEMO_CONDITIONS)
    for i in range(n_patients):
        group = groups[i % len(groups)]
        icd10 = DEMO_CONDITIONS[group][int(rng.integers(len(DEMO_CONDITIONS[group])))]
        out = DemoPatient(code=f"P{i + 1:03d}", group=group, icd10=icd10)
        out.stage = "screen-failed" if i == 5 else "paused" if i == 9 else STAGES[i % len(STAGES)]
        sim.now = start
        patient_id = _enrol(
            db,
            doc,
            out,
            i,
            birth_year=int(rng.integers(1950, 2000)),
            sex=str(rng.choice(["female", "male"])),
            time_zone=TIME_ZONES[i % len(TIME_ZONES)],
            clock=sim,
        )
        _run_patient(db, doc, patient_id, out, rng, sim, now, i)
        if out.stage == "running" and not summary.safety:
            summary.safety.append(_hold_for_blood_pressure(db, patient_id, out, now))
        summary.patients.append(out)
    for case, (wanted, effect, rule) in enumerate(ADAPTIVE_CASES):
        # Each case draws from its own generator, so that it shows what it is meant to show
        # whatever the demo's seed and size (checked by tests/integration/test_demo.py).
        own = np.random.default_rng(ADAPTIVE_SEED + case)
        summary.patients.append(
            _adaptive_patient(db, doc, len(summary.patients), rule, effect, own, start, now)
        )
        got = summary.patients[-1]
        summary.adaptive.append(
            f"{got.code} (patient{len(summary.patients):02d}): adaptive trial, {got.adaptive} "
            f"(demo meant to show {wanted}); {rule.describe()}"
        )
    _show_the_safety_loop(db, summary, now)
    # The cohort page and report read stored fits: compute them once, as the server's sweep
    # would, so that the demo shows results at once.
    refresh_fits(db, system_actor("demo"), clock=clock)
    return summary


def open_clinic(db: Database, clock: Clock) -> Actor:
    """Open the demo site with its staff logins, through the services; returns the doctor."""
    system = system_actor("demo")
    admin.add_site(db, system, DEMO_SITE, DEMO_SITE_NAME, clock=clock)
    for username, role in STAFF:
        admin.add_user(
            db,
            system,
            site_code=DEMO_SITE,
            role=role,
            username=username,
            password=DEMO_PASSWORD,
            clock=clock,
        )
    return admin.user_actor(db, "dr.demo")


def _enrol(
    db: Database,
    doc: Actor,
    out: DemoPatient,
    index: int,
    *,
    birth_year: int,
    sex: str,
    time_zone: str,
    clock: Clock,
) -> int:
    """Enrol a demo patient (their condition ``out.icd10``) with their login; the patient id."""
    patient = patients.enrol_patient(
        db,
        doc,
        site_code=DEMO_SITE,
        study_code=out.code,
        birth_year=birth_year,
        sex=sex,
        time_zone=time_zone,
        conditions=[out.icd10],
        clock=clock,
    )
    admin.add_user(
        db,
        system_actor("demo"),
        site_code=DEMO_SITE,
        role="patient",
        username=f"patient{index + 1:02d}",
        password=DEMO_PASSWORD,
        patient_code=out.code,
        clock=clock,
    )
    return patient.id


def _adaptive_patient(
    db: Database,
    doc: Actor,
    index: int,
    rule: AdaptiveRule,
    effect: float,
    rng: np.random.Generator,
    start: dt.datetime,
    now: dt.datetime,
) -> DemoPatient:
    """One patient with an adaptive trial from the demo's first day: looks on their diaries."""
    sim = SimClock(start)
    out = DemoPatient(code=f"P{index + 1:03d}", group="neuropathic", icd10="E11.42")
    patient_id = _enrol(
        db, doc, out, index, birth_year=1970, sex="female", time_zone=TIME_ZONES[0], clock=sim
    )
    for flag in screening.history_flag_ids():
        patients.set_history_flag(db, doc, patient_id, flag, False, clock=sim)
    regimen = REGIMENS[0]
    out.decision = screening.screen_patient(
        db, doc, patient_id, regimen.substance, clock=sim
    ).decision
    trial = trial_planning.plan_trial(
        db,
        doc,
        patient_id,
        regimen,
        ADAPTIVE_SPEC,
        start_date=start.astimezone(ZoneInfo(TIME_ZONES[0])).date(),
        adaptive=rule,
        clock=sim,
    )
    out.trial_id = trial.id
    for action in ("schedule", "start"):
        trial_lifecycle.transition(db, doc, trial.id, action, clock=sim)
    _simulate_trial(db, doc, patient_id, trial.id, out, rng, sim, now, ADAPTIVE_SPEC, effect)
    return out


def _hold_for_blood_pressure(db: Database, pid: int, out: DemoPatient, now: dt.datetime) -> str:
    """A running patient reports a home blood pressure of 210/125: the stop rule holds them."""
    when = now - dt.timedelta(hours=30)  # old enough to be escalated by the sweep below
    me = admin.actor_for_patient(db, pid)
    reading = DiaryInput(when.date(), {"systolic": 210, "diastolic": 125}, "home_bp")
    records.record_diary_entry(db, me, pid, reading, clock=lambda: when)
    out.stage = "paused"
    return (
        f"{out.code} (patient{int(out.code[1:]):02d}) is held after a home blood pressure of "
        "210/125: Today shows the hold instead of the capsule check-in"
    )


def _show_the_safety_loop(db: Database, summary: DemoSummary, now: dt.datetime) -> None:
    """Run the daily sweep once, as the server would: overdue urgent alerts are escalated."""
    done = sweeps.sweep_alerts(db, system_actor("demo"), clock=lambda: now)
    escalated = sum(len(site.escalated) for site in done)
    waiting = [p.code for p in summary.patients if p.adverse_events]
    summary.safety.append(
        f"{escalated} urgent alert(s) unacknowledged for over 24 h are escalated: "
        "a banner on every clinician page (sign in as dr.demo)"
    )
    if waiting:
        summary.safety.append(
            f"patient-reported adverse events await clinician review ({', '.join(waiting[:4])}"
            f"{', ...' if len(waiting) > 4 else ''}): the patient page lists them"
        )


def _run_patient(
    db: Database,
    doc: Actor,
    pid: int,
    out: DemoPatient,
    rng: np.random.Generator,
    sim: SimClock,
    now: dt.datetime,
    index: int,
) -> None:
    regimen = REGIMENS[index % len(REGIMENS)]
    for flag in screening.history_flag_ids():
        patients.set_history_flag(db, doc, pid, flag, False, clock=sim)
    if out.stage == "screen-failed":
        patients.add_medication(db, doc, pid, "Lithobid 300 mg ER tab", clock=sim)
    elif index % 4 == 1:
        patients.add_medication(db, doc, pid, "Sertraline 50 mg", clock=sim)
    else:
        patients.add_medication(db, doc, pid, "Gabapentin 300 mg", clock=sim)
    result = screening.screen_patient(db, doc, pid, regimen.substance, clock=sim)
    out.decision = result.decision
    if result.decision == "do-not-start":
        return
    if result.decision == "clinician-review":
        screening.sign_off_screening(
            db, doc, result.record_id, "SSRI: possible blunting discussed; proceed", clock=sim
        )
    if out.stage == "planned":
        sim.now = now
        start = now.date() + dt.timedelta(days=3)
    elif out.stage == "running":
        sim.now = _midday(now - dt.timedelta(days=50))
        start = sim.now.date()
    else:
        start = sim.now.date()
    trial = trial_planning.plan_trial(db, doc, pid, regimen, SPEC, start_date=start, clock=sim)
    out.trial_id = trial.id
    trial_lifecycle.transition(db, doc, trial.id, "schedule", clock=sim)
    if out.stage == "planned":
        return
    trial_lifecycle.transition(db, doc, trial.id, "start", clock=sim)
    _simulate_trial(db, doc, pid, trial.id, out, rng, sim, now)


def _simulate_trial(
    db: Database,
    doc: Actor,
    pid: int,
    trial_id: int,
    out: DemoPatient,
    rng: np.random.Generator,
    sim: SimClock,
    now: dt.datetime,
    spec: DesignSpec = SPEC,
    true_effect: float | None = None,
) -> None:
    """Nature's side: daily pain from the concealed arm, doses, guesses, events.

    ``true_effect`` fixes the patient's effect (the adaptive demo trials); an adaptive trial
    that stops is completed and unblinded the day after its decision.
    """
    nature = system_actor("simulation")
    me = admin.actor_for_patient(db, pid)
    kits = {k.period: k for k in trial_allocation.kit_preparation(db, nature, trial_id).kits}
    arms = {period: kit.arm for period, kit in kits.items()}
    calendar = trial_views.trial_calendar(db, doc, trial_id)
    baseline = rng.uniform(4.5, 7.5)
    out.responder = bool(rng.random() < 0.35)
    effect = -rng.uniform(1.2, 2.2) if out.responder else rng.normal(0.0, 0.2)
    if true_effect is not None:
        effect, out.responder = true_effect, true_effect <= -1.0
    placebo_response = rng.uniform(0.0, 1.0)
    rho, sd = 0.5, 0.9
    noise = 0.0
    pains: list[int] = []
    end = now.date() if out.stage != "paused" else calendar.days[0].date + dt.timedelta(days=40)
    days = [d for d in calendar.days if d.date < end]
    for day in days:
        if true_effect is not None and (decided := _decided(db, trial_id)):
            out.adaptive = decided  # the look after the last pair's diary stopped the trial
            break
        sim.now = dt.datetime.combine(day.date, dt.time(21), tzinfo=dt.UTC)
        noise = rho * noise + rng.normal(0.0, sd * np.sqrt(1 - rho**2))
        level = baseline
        if day.period is not None:
            level -= placebo_response
            if arms[day.period] == "active" and not day.is_wash_in:
                level += effect
        if rng.random() < 0.1:  # a missed diary day
            out.missing_days += 1
        else:
            pain = int(np.clip(round(level + noise), 0, 10))
            pains.append(pain)
            answers = {
                "average_pain": pain,
                "worst_pain": int(np.clip(pain + rng.integers(0, 3), 0, 10)),
                "sleep_quality": int(
                    np.clip(round(6 - 0.4 * (pain - 5) + rng.normal(0, 1)), 0, 10)
                ),
            }
            records.record_diary_entry(db, me, pid, DiaryInput(day.date, answers), clock=sim)
            out.diary_days += 1
        if day.period is not None and day.period in kits:
            _hand_out(db, trial_id, kits.pop(day.period), day.date)
        if day.is_dose_day and rng.random() < 0.95:
            dosing.record_dose(
                db,
                me,
                trial_id,
                taken_at=sim.now - dt.timedelta(hours=12),
                kit_code=str(day.kit_code),
                clock=sim,
            )
        if day.period is not None and day.period_day == spec.period_days - 1:
            believes_active = arms[day.period] == "active" and rng.random() < 0.65
            guess = str(rng.choice(["active", "placebo", "dont_know"], p=[0.45, 0.4, 0.15]))
            if believes_active:
                guess = "active"
            dosing.record_guess(
                db, me, trial_id, day.period, guess, int(rng.integers(30, 90)), clock=sim
            )
    out.mean_pain = float(np.mean(pains)) if pains else float("nan")
    if out.stage == "paused":
        adverse_events.record_adverse_event(
            db, me, pid, term="vomiting", grade=3, serious=False, onset_date=end, clock=_at(end)
        )
        out.adverse_events += 1
        return
    if rng.random() < 0.3:
        onset = days[int(rng.integers(10, len(days)))].date
        adverse_events.record_adverse_event(
            db,
            me,
            pid,
            term=str(rng.choice(["headache", "nausea", "insomnia", "anxiety"])),
            grade=1,
            serious=False,
            onset_date=onset,
            clock=_at(onset),
        )
        out.adverse_events += 1
    if true_effect is not None:  # completed and unblinded the day after the decision
        sim.now += dt.timedelta(days=1)
        adaptive_looks.looks_after_diary(db, pid, sim.now)  # a pair whose last diary day was missed
        out.adaptive = _decided(db, trial_id)
    if out.stage == "completed":
        sim.now = sim.now if true_effect is not None else now
        trial_lifecycle.transition(
            db, doc, trial_id, "complete", reason="all periods done", clock=sim
        )
        trial_lifecycle.unblind_trial(db, doc, trial_id, clock=sim)


def _hand_out(db: Database, trial_id: int, kit: KitSpec, day: dt.date) -> None:
    """The pharmacist fills a period's kit (one capsule per dose day) and hands it out early on
    its first day, through the pharmacy's service, as a clinic records it: a capsule from a kit
    never marked dispensed would raise an alert for every demo patient."""
    pharmacist = admin.user_actor(db, "pharmacist.demo")
    at = dt.datetime.combine(day, dt.time(6), tzinfo=dt.UTC)
    for step in ("prepared", "dispensed"):
        pharmacy.record_kit_step(
            db, pharmacist, trial_id, step, kit.code, len(kit.dose_days), clock=lambda: at
        )


def _decided(db: Database, trial_id: int) -> str:
    """An adaptive trial's decision once its looks reached one ("" while it continues).

    Nature's side, like the allocation it reads: the demo looks at the stored decision itself.
    """
    with db.transaction() as session:
        found = session.execute(
            select(InterimLookRow.decision).where(
                InterimLookRow.trial_id == trial_id, InterimLookRow.decision != "continue"
            )
        ).scalar()
    return str(found or "")


def _at(day: dt.date) -> Callable[[], dt.datetime]:
    moment = dt.datetime.combine(day, dt.time(22), tzinfo=dt.UTC)
    return lambda: moment


def demo_logins(db: Database) -> list[str]:
    """Usernames here that still sign in with the published demo password (production refuses)."""
    with db.transaction() as session:
        demo_site = select(SiteRow.id).where(SiteRow.code == DEMO_SITE).scalar_subquery()
        query = (
            select(UserRow)
            .where(
                or_(UserRow.username.in_([name for name, _ in STAFF]), UserRow.site_id == demo_site)
            )
            .order_by(UserRow.id)
            .limit(100)
        )
        users = list(session.execute(query).scalars())
    return [u.username for u in users if verify_password(u.password_hash, DEMO_PASSWORD)]
