"""The demo clinic: a site, its staff and patients, and 13 weeks of simulated diaries."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from microtrial.domain.actors import Actor, system_actor
from microtrial.services import admin, patients, records
from microtrial.services.common import Clock, system_clock
from microtrial.settings import Settings
from microtrial.store import migrate
from microtrial.store.db import Database

DEMO_SITE = "DEMO"
DEMO_PASSWORD = "microtrial-demo"
DEMO_WEEKS = 13
# condition group -> ICD-10-CM codes (REFERENCE.md F.1) the demo draws from
DEMO_CONDITIONS: dict[str, tuple[str, ...]] = {
    "neuropathic": ("E11.42", "B02.29", "G50.0"),
    "migraine": ("G43.009", "G43.709"),
    "cluster": ("G44.019", "G44.029"),
    "fibromyalgia": ("M79.7",),
}
STAFF = (
    ("dr.demo", "clinician"),
    ("pharmacist.demo", "unblinded_staff"),
    ("researcher.demo", "researcher"),
)
TIME_ZONES = ("Europe/London", "America/New_York", "Europe/Berlin", "Australia/Sydney")


@dataclass
class DemoPatient:
    """What the demo made for one patient."""

    code: str
    group: str
    icd10: str
    diary_days: int = 0
    missing_days: int = 0
    mean_pain: float = float("nan")
    adverse_events: int = 0
    responder: bool = False


@dataclass
class DemoSummary:
    """What the demo built, for the CLI's summary table."""

    database: Path
    site: str
    staff: list[tuple[str, str]]
    patients: list[DemoPatient] = field(default_factory=list)
    password: str = DEMO_PASSWORD

    def by_group(self) -> dict[str, list[DemoPatient]]:
        """Patients grouped by condition group, in a fixed order."""
        return {g: [p for p in self.patients if p.group == g] for g in DEMO_CONDITIONS}


def build_demo(
    out_dir: Path, *, n_patients: int = 24, seed: int = 2026, clock: Clock = system_clock
) -> DemoSummary:
    """Create ``out_dir/demo.db`` afresh and fill it with a simulated clinic."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "demo.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    db = Database.from_settings(Settings(database_url=f"sqlite:///{path}"))
    try:
        migrate.upgrade(db.engine)
        return _populate(db, path, n_patients, np.random.default_rng(seed), clock)
    finally:
        db.dispose()


def _populate(
    db: Database, path: Path, n_patients: int, rng: np.random.Generator, clock: Clock
) -> DemoSummary:
    system = system_actor("demo")
    admin.add_site(db, system, DEMO_SITE, "MicroTrial demo clinic", clock=clock)
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
    clinician = admin.user_actor(db, "dr.demo")
    summary = DemoSummary(database=path, site=DEMO_SITE, staff=list(STAFF))
    groups = list(DEMO_CONDITIONS)
    today = clock().date()
    start = today - dt.timedelta(days=7 * DEMO_WEEKS)
    for i in range(n_patients):
        group = groups[i % len(groups)]
        icd10 = DEMO_CONDITIONS[group][int(rng.integers(len(DEMO_CONDITIONS[group])))]
        code = f"P{i + 1:03d}"
        patient = patients.enrol_patient(
            db,
            clinician,
            site_code=DEMO_SITE,
            study_code=code,
            birth_year=int(rng.integers(1950, 2000)),
            sex=str(rng.choice(["female", "male"])),
            time_zone=TIME_ZONES[i % len(TIME_ZONES)],
            conditions=[icd10],
            clock=clock,
        )
        admin.add_user(
            db,
            system,
            site_code=DEMO_SITE,
            role="patient",
            username=f"patient{i + 1:02d}",
            password=DEMO_PASSWORD,
            patient_code=code,
            clock=clock,
        )
        demo_patient = DemoPatient(code=code, group=group, icd10=icd10)
        _simulate_diary(db, clinician, patient.id, start, today, rng, demo_patient, clock)
        summary.patients.append(demo_patient)
    return summary


def _simulate_diary(
    db: Database,
    actor: Actor,
    patient_id: int,
    start: dt.date,
    today: dt.date,
    rng: np.random.Generator,
    out: DemoPatient,
    clock: Clock,
) -> None:
    """Autocorrelated daily pain with a placebo response, missing days and some responders."""
    days = (today - start).days
    baseline = rng.uniform(4.5, 7.5)
    out.responder = bool(rng.random() < 0.3)
    effect = -rng.uniform(1.0, 2.0) if out.responder else 0.0
    placebo_response = rng.uniform(0.0, 1.0)
    # 7 days run-in, then six 14-day periods alternating in a random order within pairs.
    arms = [a for _ in range(3) for a in rng.permutation(["active", "placebo"])]
    rho, sd = 0.5, 0.8
    noise = 0.0
    entries: list[records.DiaryInput] = []
    pains: list[int] = []
    for d in range(days):
        noise = rho * noise + rng.normal(0.0, sd * np.sqrt(1 - rho**2))
        period = (d - 7) // 14
        level = baseline
        if d >= 7:
            level -= placebo_response
            if period < len(arms) and arms[period] == "active" and (d - 7) % 14 >= 3:
                level += effect
        if rng.random() < 0.12:  # missed diary day
            out.missing_days += 1
            continue
        pain = int(np.clip(round(level + noise), 0, 10))
        worst = int(np.clip(pain + rng.integers(0, 3), 0, 10))
        sleep = int(np.clip(round(6 - 0.4 * (pain - 5) + rng.normal(0, 1)), 0, 10))
        pains.append(pain)
        entries.append(
            records.DiaryInput(
                local_date=start + dt.timedelta(days=d),
                answers={"average_pain": pain, "worst_pain": worst, "sleep_quality": sleep},
            )
        )
    records.record_diary_entries(db, actor, patient_id, entries, clock=clock)
    out.diary_days = len(entries)
    out.mean_pain = float(np.mean(pains)) if pains else float("nan")
    if rng.random() < 0.25:
        term = str(rng.choice(["headache", "nausea", "insomnia", "anxiety"]))
        records.record_adverse_event(
            db,
            actor,
            patient_id,
            term=term,
            grade=int(rng.integers(1, 3)),
            serious=False,
            onset_date=start + dt.timedelta(days=int(rng.integers(10, days))),
            clock=clock,
        )
        out.adverse_events += 1


def group_counts(summary: DemoSummary) -> Counter[str]:
    """How many demo patients each condition group has."""
    return Counter(p.group for p in summary.patients)
