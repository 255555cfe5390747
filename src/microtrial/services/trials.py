"""Blinded n-of-1 trials: plan, screen-check, schedule, run, pause, dose, guess, unblind.

The allocation (seed and arm sequence) lives in ``allocations`` and is read only by
``kit_preparation`` (unblinded staff) and by the views of an unblinded trial. Every other view
is built from periods, kits and the regimen, which carry no arm.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from microtrial.domain.actors import Actor, Role
from microtrial.domain.alerts import Alert, check_dose_on_calendar
from microtrial.domain.calendar import (
    DoseEvent,
    TrialCalendar,
    build_calendar,
    find_deviations,
    shift_for_pause,
    summarise_adherence,
)
from microtrial.domain.design import (
    DesignSpec,
    DesignView,
    PlannedPeriod,
    new_allocation_seed,
    plan_design,
)
from microtrial.domain.kits import is_valid_kit_code, issue_kits, normalise_kit_code
from microtrial.domain.regimens import Regimen, parse_weekdays, regimen_from_template
from microtrial.errors import (
    ConflictError,
    NotFound,
    PermissionDenied,
    SafetyBlock,
    StaleVersion,
    ValidationError,
)
from microtrial.services.alerts import acknowledge_rows, dose_holds, mark_paused, raise_alerts
from microtrial.services.common import (
    Clock,
    audit,
    patient_for,
    patient_today,
    require_role,
    row_by_id,
    stamp,
    system_clock,
)
from microtrial.services.schemas import ReadModel
from microtrial.services.screening import current_screening
from microtrial.store.db import Database
from microtrial.store.models import (
    AllocationAnnotationRow,
    AllocationRow,
    BlindingGuessRow,
    DoseEventRow,
    KitRow,
    PatientRow,
    PeriodRow,
    TrialRow,
)

GUESSES = ("active", "placebo", "dont_know")
PLANNERS = {Role.CLINICIAN}
UNBLINDED_ROLES = {Role.UNBLINDED_STAFF}
# Lifecycle: which statuses each transition leaves from.
TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "confirm-screening": (("draft",), "screened"),
    "schedule": (("screened",), "scheduled"),
    "start": (("scheduled",), "running"),
    "pause": (("running",), "paused"),
    "resume": (("paused",), "running"),
    "complete": (("running", "paused"), "completed"),
    "withdraw": (("draft", "screened", "scheduled", "running", "paused"), "withdrawn"),
}


class PeriodRead(ReadModel):
    """A period as shown to everyone: dates and kit code; the arm only once unblinded."""

    number: int
    block: int
    start_date: dt.date
    end_date: dt.date
    wash_in_days: int
    kit_code: str
    arm: str | None = None


class TrialRead(ReadModel):
    """A trial as shown to patients, clinicians and researchers (blinded until unblinded)."""

    id: int
    patient_id: int
    patient_code: str
    status: str
    status_reason: str | None
    substance: str
    regimen: str
    regimen_name: str
    sub_perceptual: bool
    start_date: dt.date
    run_in_days: int
    period_days: int
    wash_in_days: int
    periods: list[PeriodRead]
    pauses: list[dict[str, str]]
    unblinded: bool
    unblinded_at: dt.datetime | None
    unblinded_early: bool
    unblind_reason: str | None
    lock_version: int


class DoseRead(ReadModel):
    """A recorded dose."""

    record_id: str
    trial_id: int | None
    local_date: dt.date
    kit_code: str | None
    status: str


class GuessRead(ReadModel):
    """A patient's guess of a period's arm."""

    record_id: str
    trial_id: int
    period_id: int
    guess: str
    confidence: int | None


@dataclass(frozen=True)
class KitSpec:
    """One kit for the preparation sheet (unblinded)."""

    code: str
    period: int
    arm: str
    start_date: dt.date
    end_date: dt.date
    regimen_text: str


@dataclass(frozen=True)
class KitPreparation:
    """What unblinded staff need to fill and label a trial's kits."""

    trial_id: int
    patient_code: str
    kits: tuple[KitSpec, ...]


@dataclass(frozen=True)
class RegimenChoice:
    """The clinician's regimen: a catalog template plus substance, amount and unit."""

    template: str
    substance: str
    amount: float
    unit: str
    weekdays: tuple[str, ...] | None = None

    def build(self) -> Regimen:
        """The domain regimen (validates every field)."""
        return regimen_from_template(
            self.template,
            substance=self.substance,
            amount=self.amount,
            unit=self.unit,
            weekdays=self.weekdays,
        )

    def as_plan(self) -> dict[str, Any]:
        """JSON form stored with the trial."""
        return {
            "template": self.template,
            "substance": self.substance,
            "amount": self.amount,
            "unit": self.unit,
            "weekdays": list(self.weekdays) if self.weekdays else None,
        }


def plan_trial(
    db: Database,
    actor: Actor,
    patient_id: int,
    regimen: RegimenChoice,
    spec: DesignSpec,
    *,
    start_date: dt.date,
    seed: int | None = None,
    clock: Clock = system_clock,
) -> TrialRead:
    """Plan a blinded n-of-1 trial: randomise, conceal the allocation, issue kit codes."""
    require_role(actor, PLANNERS, "plan trials")
    if regimen.weekdays is not None:
        parse_weekdays(regimen.weekdays)
    built = regimen.build()
    if regimen.substance not in ("psilocybin", "lsd"):
        raise ValidationError(
            "substance", f"unknown substance {regimen.substance!r}", allowed=("psilocybin", "lsd")
        )
    seed = new_allocation_seed() if seed is None else seed
    design = plan_design(spec, seed)
    now = clock()
    with db.transaction() as session:
        patient = patient_for(session, actor, patient_id)
        if start_date < patient_today(patient, now):
            raise ValidationError(
                "start_date", f"{start_date} is in the past", allowed="today or later"
            )
        build_calendar(design.blinded(), built, start_date, patient.time_zone)  # validates fit
        clash = session.execute(
            select(TrialRow.id).where(
                TrialRow.patient_id == patient.id,
                TrialRow.status.in_(("draft", "screened", "scheduled", "running", "paused")),
            )
        ).first()
        if clash:
            raise ConflictError(f"trial: patient already has an open trial ({clash[0]})")
        trial = TrialRow(
            patient_id=patient.id,
            status="draft",
            start_date=start_date,
            plan={
                "regimen": regimen.as_plan(),
                "design": {
                    "run_in_days": spec.run_in_days,
                    "pairs": spec.pairs,
                    "period_days": spec.period_days,
                    "wash_in_days": spec.wash_in_days,
                    "n_arms": len(spec.arms),
                },
                "pauses": [],
            },
            lock_version=1,
            created_at=now,
        )
        session.add(trial)
        session.flush()
        session.add(
            AllocationRow(
                trial_id=trial.id,
                seed=seed,
                sequence=list(design.sequence),
                max_run_length=spec.max_run_length,
                created_at=now,
            )
        )
        issued = issue_kits(design)
        for period, kit in zip(design.periods, issued.kits, strict=True):
            row = PeriodRow(
                trial_id=trial.id,
                number=period.number,
                block=period.block,
                start_date=start_date + dt.timedelta(days=period.start_day),
                end_date=start_date + dt.timedelta(days=period.end_day),
                washin_days=period.wash_in_days,
            )
            session.add(row)
            session.flush()
            session.add(KitRow(trial_id=trial.id, period_id=row.id, code=kit.code))
        session.flush()
        audit(
            session,
            actor,
            "create",
            "trial",
            trial.id,
            at=now,
            site_id=patient.site_id,
            patient_id=patient.id,
            detail={"regimen": regimen.template, "periods": len(design.periods)},
        )
        _maybe_confirm_screening(session, actor, trial, patient, now)
        return read_trial(session, trial, patient)


def get_trial(
    db: Database, actor: Actor, trial_id: int, *, clock: Clock = system_clock
) -> TrialRead:
    """One trial (blinded unless unblinded)."""
    with db.transaction() as session:
        trial, patient = load_trial(session, actor, trial_id)
        audit(
            session,
            actor,
            "read",
            "trial",
            trial.id,
            at=clock(),
            site_id=patient.site_id,
            patient_id=patient.id,
        )
        return read_trial(session, trial, patient)


def list_trials(
    db: Database, actor: Actor, *, patient_id: int | None = None, clock: Clock = system_clock
) -> list[TrialRead]:
    """Trials of the actor's site, or of one patient."""
    with db.transaction() as session:
        query = select(TrialRow).order_by(TrialRow.id)
        site_id = actor.site_id
        if patient_id is not None or actor.role is Role.PATIENT:
            patient = patient_for(session, actor, patient_id or actor.patient_id or 0)
            query = query.where(TrialRow.patient_id == patient.id)
            site_id = patient.site_id
        else:
            require_role(actor, {Role.CLINICIAN, Role.UNBLINDED_STAFF}, "list trials")
            if actor.role is not Role.SYSTEM:
                query = query.join(PatientRow).where(PatientRow.site_id == actor.site_id)
        trials = list(session.execute(query).scalars())
        result = [read_trial(session, t, _patient(session, t)) for t in trials]
        audit(
            session,
            actor,
            "list",
            "trial",
            None,
            at=clock(),
            site_id=site_id,
            patient_id=patient_id,
            detail={"trial_ids": [t.id for t in trials]},
        )
        return result


def trial_calendar(
    db: Database, actor: Actor, trial_id: int, *, clock: Clock = system_clock
) -> TrialCalendar:
    """The day-by-day plan (dose days and kit codes, no arm), shifted by any pauses."""
    with db.transaction() as session:
        trial, patient = load_trial(session, actor, trial_id)
        audit(
            session,
            actor,
            "read",
            "calendar",
            trial.id,
            at=clock(),
            site_id=patient.site_id,
            patient_id=patient.id,
        )
        return calendar_for(session, trial, patient)


def transition(
    db: Database,
    actor: Actor,
    trial_id: int,
    action: str,
    *,
    reason: str | None = None,
    expected_version: int | None = None,
    clock: Clock = system_clock,
) -> TrialRead:
    """Move a trial through its lifecycle, with the safety guards of each step."""
    if action not in TRANSITIONS:
        raise ValidationError("action", f"unknown action {action!r}", allowed=sorted(TRANSITIONS))
    require_role(actor, PLANNERS, f"{action} trials")
    sources, target = TRANSITIONS[action]
    if action in ("pause", "resume", "complete", "withdraw") and not (reason or "").strip():
        raise ValidationError("reason", f"{action} needs a reason", allowed="non-empty text")
    now = clock()
    with db.transaction() as session:
        trial, patient = load_trial(session, actor, trial_id)
        if expected_version is not None and expected_version != trial.lock_version:
            raise StaleVersion(expected_version, trial.lock_version)
        if trial.status not in sources:
            raise ConflictError(
                f"status: cannot {action} a {trial.status} trial",
            )
        if action in ("confirm-screening", "start"):
            _require_cleared_screening(session, trial, patient)
        if action == "resume":
            holds = dose_holds(session, patient.id)
            if holds:
                acknowledge_rows(session, actor, holds, f"resumed: {reason}", now, patient)
            _record_pause(trial, patient, now)
        if action == "pause":
            mark_paused(trial, (reason or "").strip(), patient_today(patient, now))
        else:
            trial.status = target
            trial.status_reason = (reason or "").strip() or None
            trial.lock_version += 1
        audit(
            session,
            actor,
            action,
            "trial",
            trial.id,
            at=now,
            site_id=patient.site_id,
            patient_id=patient.id,
            detail={"status": target, "reason": trial.status_reason},
        )
        return read_trial(session, trial, patient)


def unblind_trial(
    db: Database,
    actor: Actor,
    trial_id: int,
    reason: str | None = None,
    *,
    clock: Clock = system_clock,
) -> TrialRead:
    """Break the blind: at the end (data locked) or early for safety, with a reason."""
    require_role(actor, {Role.CLINICIAN, Role.UNBLINDED_STAFF}, "unblind trials")
    now = clock()
    with db.transaction() as session:
        trial, patient = load_trial(session, actor, trial_id)
        if trial.status == "unblinded":
            raise ConflictError(f"status: trial {trial_id} is already unblinded")
        early = trial.status != "completed"
        if early:
            if trial.status not in ("scheduled", "running", "paused"):
                raise ConflictError(f"status: a {trial.status} trial cannot be unblinded")
            if not (reason or "").strip():
                raise ValidationError(
                    "reason", "emergency unblinding needs a reason", allowed="non-empty text"
                )
        trial.plan = {**trial.plan, "data_locked_at": now.isoformat()}
        trial.status = "unblinded"
        trial.unblinded_at = now
        trial.unblinded_early = early
        trial.unblind_reason = (reason or "").strip() or "trial completed; analysis data locked"
        trial.lock_version += 1
        audit(
            session,
            actor,
            "unblind",
            "trial",
            trial.id,
            at=now,
            site_id=patient.site_id,
            patient_id=patient.id,
            detail={"early": early, "reason": trial.unblind_reason},
        )
        return read_trial(session, trial, patient)


def kit_preparation(
    db: Database, actor: Actor, trial_id: int, *, clock: Clock = system_clock
) -> KitPreparation:
    """The kit -> arm list for unblinded staff (audited; refused to everyone else)."""
    if actor.role not in (Role.UNBLINDED_STAFF, Role.SYSTEM):
        raise PermissionDenied("only unblinded staff see the allocation")
    now = clock()
    with db.transaction() as session:
        trial, patient = load_trial(session, actor, trial_id)
        allocation = allocation_of(session, trial)
        regimen = regimen_of(trial).describe()
        kits = tuple(
            KitSpec(
                code=kit.code,
                period=period.number,
                arm=allocation[period.number - 1],
                start_date=period.start_date,
                end_date=period.end_date,
                regimen_text=regimen,
            )
            for period, kit in _periods_and_kits(session, trial)
        )
        audit(
            session,
            actor,
            "read",
            "allocation",
            trial.id,
            at=now,
            site_id=patient.site_id,
            patient_id=patient.id,
        )
        return KitPreparation(trial_id=trial.id, patient_code=patient.study_code, kits=kits)


def annotate_allocation(
    db: Database, actor: Actor, trial_id: int, note: str, *, clock: Clock = system_clock
) -> int:
    """Add a reasoned note to a trial's allocation (the allocation itself never changes)."""
    require_role(actor, {Role.CLINICIAN, Role.UNBLINDED_STAFF}, "annotate allocations")
    if not note.strip():
        raise ValidationError("note", "an annotation needs text", allowed="non-empty text")
    now = clock()
    with db.transaction() as session:
        trial, patient = load_trial(session, actor, trial_id)
        row = AllocationAnnotationRow(
            trial_id=trial.id, note=note.strip(), created_at=now, created_by=actor.label
        )
        session.add(row)
        session.flush()
        audit(
            session,
            actor,
            "annotate",
            "allocation",
            trial.id,
            at=now,
            site_id=patient.site_id,
            patient_id=patient.id,
            detail={"annotation": row.id},
        )
        return row.id


def record_dose(
    db: Database,
    actor: Actor,
    trial_id: int,
    *,
    taken_at: dt.datetime,
    kit_code: str,
    clock: Clock = system_clock,
) -> DoseRead:
    """Record a dose check-in; refused while the trial is not running or dosing is held."""
    require_role(actor, {Role.PATIENT, Role.CLINICIAN}, "record doses")
    if taken_at.tzinfo is None:
        raise ValidationError("taken_at", "needs a time zone", allowed="an ISO time with offset")
    code = normalise_kit_code(kit_code)
    if not is_valid_kit_code(code):
        raise ValidationError(
            "kit_code", f"{kit_code!r} is not a kit code", allowed="8 characters as printed"
        )
    now = clock()
    if taken_at > now + dt.timedelta(minutes=5):
        raise ValidationError("taken_at", "is in the future", allowed=f"before {now.isoformat()}")
    with db.transaction() as session:
        trial, patient = load_trial(session, actor, trial_id)
        if trial.status != "running":
            raise SafetyBlock(f"trial: doses cannot be recorded while the trial is {trial.status}")
        holds = dose_holds(session, patient.id)
        if holds:
            raise SafetyBlock(
                f"trial: dosing is held by alert {holds[0].code} until a clinician acts"
            )
        calendar = calendar_for(session, trial, patient)
        local = taken_at.astimezone(patient_zone(patient)).date()
        row = stamp(
            DoseEventRow(
                patient_id=patient.id,
                trial_id=trial.id,
                local_date=local,
                taken_at=taken_at,
                kit_code=code,
                status="taken",
            ),
            actor,
            now,
        )
        session.add(row)
        session.flush()
        audit(
            session,
            actor,
            "create",
            "dose",
            row.record_id,
            at=now,
            site_id=patient.site_id,
            patient_id=patient.id,
            detail={"date": local.isoformat()},
        )
        alerts = []
        off = check_dose_on_calendar(local, set(calendar.dose_dates))
        if off is not None:
            alerts.append(off)
        planned = calendar.on(local)
        if planned is not None and planned.kit_code and planned.kit_code != code:
            alerts.append(
                Alert(
                    "wrong-kit",
                    "high",
                    "clinician-review",
                    "Dose recorded with another period's kit code",
                    ("protocol deviation (design choice)",),
                    f"expected kit {planned.kit_code}, recorded {code}",
                )
            )
        raise_alerts(session, actor, patient, alerts, trigger={"dose": row.record_id}, now=now)
        return DoseRead.model_validate(row)


def record_guess(
    db: Database,
    actor: Actor,
    trial_id: int,
    period_number: int,
    guess: str,
    confidence: int | None = None,
    *,
    clock: Clock = system_clock,
) -> GuessRead:
    """The patient's guess of a period's arm, from its last days on; once per period."""
    require_role(actor, {Role.PATIENT, Role.CLINICIAN}, "record guesses")
    if guess not in GUESSES:
        raise ValidationError("guess", f"unknown guess {guess!r}", allowed=GUESSES)
    if confidence is not None and not 0 <= confidence <= 100:
        raise ValidationError("confidence", f"{confidence} out of range", allowed="0..100")
    now = clock()
    with db.transaction() as session:
        trial, patient = load_trial(session, actor, trial_id)
        if trial.status not in ("running", "paused", "completed"):
            raise ConflictError(
                f"status: guesses are taken during the trial, not when {trial.status}"
            )
        period = session.execute(
            select(PeriodRow).where(
                PeriodRow.trial_id == trial.id, PeriodRow.number == period_number
            )
        ).scalar_one_or_none()
        if period is None:
            raise ValidationError("period", f"no period {period_number}", allowed="1..n")
        today = patient_today(patient, now)
        if today < period.end_date - dt.timedelta(days=2):
            raise ConflictError(f"period: period {period_number} has not reached its last days")
        exists = session.execute(
            select(BlindingGuessRow.id).where(
                BlindingGuessRow.trial_id == trial.id,
                BlindingGuessRow.period_id == period.id,
                BlindingGuessRow.is_current.is_(True),
            )
        ).first()
        if exists:
            raise ConflictError(f"period: a guess for period {period_number} exists")
        row = stamp(
            BlindingGuessRow(
                patient_id=patient.id,
                trial_id=trial.id,
                period_id=period.id,
                guess=guess,
                confidence=confidence,
            ),
            actor,
            now,
        )
        session.add(row)
        session.flush()
        audit(
            session,
            actor,
            "create",
            "guess",
            row.record_id,
            at=now,
            site_id=patient.site_id,
            patient_id=patient.id,
            detail={"period": period_number},
        )
        return GuessRead.model_validate(row)


def adherence(
    db: Database, actor: Actor, trial_id: int, *, clock: Clock = system_clock
) -> dict[str, Any]:
    """Planned and taken doses so far, and the deviations (no arm)."""
    now = clock()
    with db.transaction() as session:
        trial, patient = load_trial(session, actor, trial_id)
        calendar = calendar_for(session, trial, patient)
        doses = [
            DoseEvent(taken_at=_aware(r.taken_at), kit_code=r.kit_code, event_id=r.record_id)
            for r in session.execute(
                select(DoseEventRow).where(
                    DoseEventRow.trial_id == trial.id, DoseEventRow.is_current.is_(True)
                )
            ).scalars()
            if r.taken_at is not None
        ]
        through = min(patient_today(patient, now) - dt.timedelta(days=1), calendar.last_date)
        summary = summarise_adherence(calendar, doses, through=through)
        deviations = find_deviations(calendar, doses, through=through)
        audit(
            session,
            actor,
            "read",
            "adherence",
            trial.id,
            at=now,
            site_id=patient.site_id,
            patient_id=patient.id,
        )
        return {
            "planned": summary.planned,
            "taken": summary.taken,
            "proportion": summary.proportion,
            "deviations": [
                {"kind": d.kind.value, "date": d.date.isoformat(), "period": d.period}
                for d in deviations
            ],
        }


# ----------------------------------------------------------------------------- helpers


def patient_zone(patient: PatientRow) -> ZoneInfo:
    """The patient's ZoneInfo."""
    return ZoneInfo(patient.time_zone)


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _patient(session: Session, trial: TrialRow) -> PatientRow:
    patient = session.get(PatientRow, trial.patient_id)
    if patient is None:  # foreign key guarantees it
        raise NotFound(f"trial: no trial {trial.id}")
    return patient


def load_trial(session: Session, actor: Actor, trial_id: int) -> tuple[TrialRow, PatientRow]:
    """A trial and its patient if the actor may see them (NotFound otherwise)."""
    if actor.role in (Role.RESEARCHER, Role.ADMIN):
        raise PermissionDenied(f"role {actor.role.value!r} may not read identified trials")
    trial = row_by_id(session, TrialRow, trial_id)
    if trial is None:
        raise NotFound(f"trial: no trial {trial_id}")
    try:
        patient = patient_for(session, actor, trial.patient_id)
    except NotFound as err:
        raise NotFound(f"trial: no trial {trial_id}") from err
    return trial, patient


def allocation_of(session: Session, trial: TrialRow) -> list[str]:
    """The concealed arm sequence (callers must have checked who may see it)."""
    row = session.execute(
        select(AllocationRow).where(AllocationRow.trial_id == trial.id)
    ).scalar_one()
    return [str(a) for a in row.sequence]


def _periods_and_kits(session: Session, trial: TrialRow) -> list[tuple[PeriodRow, KitRow]]:
    return [
        (p, k)
        for p, k in session.execute(
            select(PeriodRow, KitRow)
            .join(KitRow, KitRow.period_id == PeriodRow.id)
            .where(PeriodRow.trial_id == trial.id)
            .order_by(PeriodRow.number)
        ).tuples()
    ]


def regimen_of(trial: TrialRow) -> Regimen:
    """The trial's regimen, rebuilt from its stored plan."""
    r = trial.plan["regimen"]
    return regimen_from_template(
        r["template"],
        substance=r["substance"],
        amount=r["amount"],
        unit=r["unit"],
        weekdays=r.get("weekdays"),
    )


def _view(session: Session, trial: TrialRow) -> DesignView:
    design = trial.plan["design"]
    start = trial.start_date
    assert start is not None  # set when planned
    periods = tuple(
        PlannedPeriod(
            number=p.number,
            block=p.block,
            start_day=(p.start_date - start).days,
            end_day=(p.end_date - start).days,
            wash_in_days=p.washin_days,
        )
        for p, _ in _periods_and_kits(session, trial)
    )
    return DesignView(
        run_in_days=design["run_in_days"],
        period_days=design["period_days"],
        wash_in_days=design["wash_in_days"],
        periods=periods,
    )


def calendar_for(session: Session, trial: TrialRow, patient: PatientRow) -> TrialCalendar:
    """The trial's calendar inside an open transaction (no audit: callers audit)."""
    regimen = regimen_of(trial)
    codes = {p.number: k.code for p, k in _periods_and_kits(session, trial)}
    assert trial.start_date is not None
    calendar = build_calendar(
        _view(session, trial), regimen, trial.start_date, patient.time_zone, codes
    )
    for pause in trial.plan.get("pauses", []):
        calendar = shift_for_pause(
            calendar,
            dt.date.fromisoformat(pause["from"]),
            dt.date.fromisoformat(pause["to"]),
            regimen=regimen,
        )
    return calendar


def _record_pause(trial: TrialRow, patient: PatientRow, now: dt.datetime) -> None:
    paused_on = trial.plan.get("paused_on")
    resume = patient_today(patient, now)
    plan = {k: v for k, v in trial.plan.items() if k != "paused_on"}
    if paused_on and dt.date.fromisoformat(paused_on) < resume:
        plan["pauses"] = [*plan.get("pauses", []), {"from": paused_on, "to": resume.isoformat()}]
    trial.plan = plan


def _maybe_confirm_screening(
    session: Session, actor: Actor, trial: TrialRow, patient: PatientRow, now: dt.datetime
) -> None:
    screening = current_screening(session, patient.id, trial.plan["regimen"]["substance"])
    if screening is not None and screening.cleared:
        trial.status = "screened"
        trial.lock_version += 1
        audit(
            session,
            actor,
            "confirm-screening",
            "trial",
            trial.id,
            at=now,
            site_id=patient.site_id,
            patient_id=patient.id,
            detail={"screening": screening.record_id, "version": screening.version},
        )


def _require_cleared_screening(session: Session, trial: TrialRow, patient: PatientRow) -> None:
    substance = trial.plan["regimen"]["substance"]
    screening = current_screening(session, patient.id, substance)
    if screening is None:
        raise SafetyBlock(f"screening: patient has no {substance} screening")
    if screening.decision == "do-not-start":
        raise SafetyBlock("screening: decision is do-not-start")
    if not screening.cleared:
        raise SafetyBlock("screening: clinician-review screening is not signed off")


def period_views(session: Session, trial: TrialRow) -> list[PeriodRead]:
    """The trial's periods with kit codes; the arm only once the trial is unblinded.

    The one place that decides whether an arm may be shown: every view and export uses it.
    """
    arms = allocation_of(session, trial) if trial.status == "unblinded" else None
    return [
        PeriodRead(
            number=p.number,
            block=p.block,
            start_date=p.start_date,
            end_date=p.end_date,
            wash_in_days=p.washin_days,
            kit_code=k.code,
            arm=arms[p.number - 1] if arms else None,
        )
        for p, k in _periods_and_kits(session, trial)
    ]


def read_trial(session: Session, trial: TrialRow, patient: PatientRow) -> TrialRead:
    """The trial view (arms only once unblinded)."""
    unblinded = trial.status == "unblinded"
    regimen = regimen_of(trial)
    design = trial.plan["design"]
    assert trial.start_date is not None
    periods = period_views(session, trial)
    return TrialRead(
        id=trial.id,
        patient_id=patient.id,
        patient_code=patient.study_code,
        status=trial.status,
        status_reason=trial.status_reason,
        substance=regimen.substance,
        regimen=regimen.describe(),
        regimen_name=regimen.name,
        sub_perceptual=regimen.sub_perceptual,
        start_date=trial.start_date,
        run_in_days=design["run_in_days"],
        period_days=design["period_days"],
        wash_in_days=design["wash_in_days"],
        periods=periods,
        pauses=list(trial.plan.get("pauses", [])),
        unblinded=unblinded,
        unblinded_at=trial.unblinded_at,
        unblinded_early=trial.unblinded_early,
        unblind_reason=trial.unblind_reason,
        lock_version=trial.lock_version,
    )
