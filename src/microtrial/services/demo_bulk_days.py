"""A bulk demo trial's days computed in memory: diaries, doses, guesses and adverse events.

Nature's side follows ``services.demo`` (an AR(1) daily pain around the patient's baseline, the
concealed arm's effect); the clinic's side applies the rules the services apply: each entry is
scored by ``domain.scoring.score``, raises ``alerts_for_score`` and the diary-trend rules
(``diary_trend_alerts``, once per cause), each dose is checked by ``check_dose_report``, each
adverse event by ``check_adverse_event``, and a pausing alert pauses the running trial. The
pharmacist hands out each period's kit on its first day, so no dose is from a kit never dispensed.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np

from microtrial.domain.actors import Actor
from microtrial.domain.adverse_events import AWAITING_REVIEW, PATIENT_REPORT
from microtrial.domain.alerts import AdverseEventReport, alerts_for_score, check_adverse_event
from microtrial.domain.calendar import CalendarDay, TrialCalendar, zone
from microtrial.domain.catalog import load_catalog
from microtrial.domain.design import ACTIVE
from microtrial.domain.lifecycle import TrialStatus
from microtrial.domain.scoring import score
from microtrial.domain.trend_rules import DiaryHistory, diary_trend_alerts
from microtrial.services.demo import DemoPatient
from microtrial.services.demo_bulk_rows import PatientRows, stamped
from microtrial.services.diary_versions import score_json
from microtrial.store.bulk import table_of
from microtrial.store.models import (
    AdverseEventRow,
    BlindingGuessRow,
    DiaryEntryRow,
    DoseEventRow,
    KitRow,
)

DAILY = "daily_diary"
GUESSES = ("active", "placebo", "dont_know")


class Nature:
    """One patient's simulated pain: baseline, placebo response, the active arm's effect."""

    def __init__(self, rng: np.random.Generator, out: DemoPatient) -> None:
        self.rng = rng
        self.baseline = rng.uniform(4.5, 7.5)
        out.responder = bool(rng.random() < 0.35)
        self.effect = -rng.uniform(1.2, 2.2) if out.responder else rng.normal(0.0, 0.2)
        self.placebo = rng.uniform(0.0, 1.0)
        self.noise = 0.0

    def pain(self, day: CalendarDay, arm: str | None) -> float:
        """Today's underlying pain level (before rounding)."""
        rho, sd = 0.5, 0.9
        self.noise = rho * self.noise + self.rng.normal(0.0, sd * np.sqrt(1 - rho**2))
        level = self.baseline
        if day.period is not None:
            level -= self.placebo
            if arm == ACTIVE and not day.is_wash_in:
                level += self.effect
        return float(level + self.noise)

    def answers(self, level: float) -> dict[str, Any]:
        """The day's diary answers (0-10 scales; Python's round, like NumPy's, halves to even)."""
        pain = _scale(round(level))
        sleep = 6 - 0.4 * (pain - 5) + float(self.rng.normal(0, 1))
        return {
            "average_pain": pain,
            "worst_pain": _scale(pain + int(self.rng.integers(0, 3))),
            "sleep_quality": _scale(round(sleep)),
        }


def _scale(value: int) -> int:
    """``value`` clipped to the 0-10 scale."""
    return min(max(int(value), 0), 10)


def evening(day: dt.date) -> dt.datetime:
    """21:00 UTC on ``day``: when the demo's patients fill in their diary."""
    return dt.datetime.combine(day, dt.time(21), tzinfo=dt.UTC)


def local_today(p: PatientRows, at: dt.datetime) -> dt.date:
    """The patient's date at ``at`` (``services.common.patient_today``)."""
    return at.astimezone(zone(str(p.patient["time_zone"]))).date()


def simulate_days(
    p: PatientRows,
    me: Actor,
    pharmacist: Actor,
    out: DemoPatient,
    calendar: TrialCalendar,
    sequence: tuple[str, ...],
    period_ids: dict[int, int],
    end: dt.date,
    rng: np.random.Generator,
) -> list[CalendarDay]:
    """Every calendar day before ``end``: a period's kit handed out on its first day, diary, dose
    and period guess; returns those days."""
    assert p.trial is not None
    kits = {
        k["period_id"]: k
        for k in p.rows.tables[table_of(KitRow).name]
        if k["trial_id"] == p.trial["id"]
    }
    nature = Nature(rng, out)
    instrument = load_catalog().instrument(DAILY)
    history = DiaryHistory(calendar.first_date, int(p.trial["plan"].design.run_in_days))
    days = [d for d in calendar.days if d.date < end]
    pains: list[int] = []
    for day in days:
        at = evening(day.date)
        arm = sequence[day.period - 1] if day.period is not None else None
        level = nature.pain(day, arm)
        if rng.random() < 0.1:  # a missed diary day
            out.missing_days += 1
        else:
            answers = nature.answers(level)
            pains.append(int(answers["average_pain"]))
            _diary(p, me, day.date, answers, score(instrument, answers), history, at)
            out.diary_days += 1
        if day.period is not None and period_ids[day.period] in kits:
            kit = kits.pop(period_ids[day.period])
            capsules = sum(1 for d in calendar.days if d.period == day.period and d.is_dose_day)
            _hand_out(p, pharmacist, kit, capsules, day.date)
        if day.is_dose_day and rng.random() < 0.95:
            _dose(p, me, calendar, day, at)
        if day.period is not None and day.period_day == p.trial["plan"].design.period_days - 1:
            believes_active = arm == ACTIVE and rng.random() < 0.65
            guess = str(rng.choice(GUESSES, p=[0.45, 0.4, 0.15]))
            _guess(
                p,
                me,
                day.period,
                period_ids[day.period],
                "active" if believes_active else guess,
                int(rng.integers(30, 90)),
                at,
            )
    out.mean_pain = float(np.mean(pains)) if pains else float("nan")
    return days


def _diary(
    p: PatientRows,
    me: Actor,
    day: dt.date,
    answers: dict[str, Any],
    result: Any,
    history: DiaryHistory,
    at: dt.datetime,
) -> None:
    """One diary entry with its audit event and alerts (``records.write_diary_batch``)."""
    trial_id = p.trial["id"] if p.trial is not None and p.active() else None
    row = p.rows.add(
        DiaryEntryRow,
        {
            "patient_id": p.pid,
            "trial_id": trial_id,
            "instrument_id": DAILY,
            "local_date": day,
            "answers": answers,
            "scores": score_json(result),
            "submitted_at": at,
            "note": None,
            **stamped(me, at),
        },
    )
    p.audit(
        me, "create", "diary_entry", row["record_id"], at, date=day.isoformat(), instrument=DAILY
    )
    today = local_today(p, at)
    alerts = alerts_for_score(result)
    if alerts:
        p.raise_alerts(me, alerts, {"diary_entry": row["record_id"]}, at, today)
    if trial_id is None:
        return
    history.pain[day] = float(answers["average_pain"])
    for cause in diary_trend_alerts(history, day):
        if cause.cause in p.causes:
            continue
        p.causes.add(cause.cause)
        trigger = {"diary_entry": row["record_id"], "cause": cause.cause}
        p.raise_alerts(me, [cause.alert], trigger, at, today)


def _hand_out(
    p: PatientRows, pharmacist: Actor, kit: dict[str, Any], capsules: int, day: dt.date
) -> None:
    """The pharmacist fills a period's kit and hands it out early on its first day
    (``pharmacy.record_kit_step``, prepared then dispensed, each audited)."""
    at = dt.datetime.combine(day, dt.time(6), tzinfo=dt.UTC)
    for verb, action in (("prepared", "prepare"), ("dispensed", "dispense")):
        kit[f"{verb}_at"] = at
        kit[f"{verb}_by"] = pharmacist.label
        kit[f"{verb}_by_user_id"] = pharmacist.user_id
        kit[f"{verb}_capsules"] = capsules
        p.audit(pharmacist, action, "kit", kit["code"], at, capsules=capsules)


def _dose(
    p: PatientRows, me: Actor, calendar: TrialCalendar, day: CalendarDay, at: dt.datetime
) -> None:
    """A dose reported the morning of a dose day (``dosing.record_dose``), unless held."""
    from microtrial.domain.alerts import check_dose_report

    assert p.trial is not None
    if p.trial["status"] != TrialStatus.RUNNING.value or p.held():
        return  # the patient follows the hold: no capsule while the trial is not running
    taken_at = at - dt.timedelta(hours=12)
    local = local_today(p, taken_at)
    planned = calendar.on(local)
    code = str(day.kit_code)
    alerts = check_dose_report(
        local,
        set(calendar.dose_dates),
        held_by=None,
        doses_that_day=0,
        expected_kit=planned.kit_code if planned is not None else None,
        kit=code,
    )
    row = p.trial_record(
        me,
        DoseEventRow,
        "dose",
        at,
        local_date=local,
        taken_at=taken_at,
        kit_code=code,
        status="taken",
        deviation=",".join(a.code for a in alerts) or None,
        audit_detail={"date": local.isoformat()},
    )
    if alerts:
        p.raise_alerts(me, alerts, {"dose": row["record_id"]}, at, local)


def _guess(
    p: PatientRows,
    me: Actor,
    period: int,
    period_id: int,
    guess: str,
    confidence: int,
    at: dt.datetime,
) -> None:
    """The patient's guess of a period's arm on its last day (``dosing.record_guess``)."""
    assert p.trial is not None
    if p.trial["status"] not in (
        TrialStatus.RUNNING.value,
        TrialStatus.PAUSED.value,
        TrialStatus.COMPLETED.value,
    ):
        return
    detail = {"period": period}
    p.trial_record(
        me,
        BlindingGuessRow,
        "guess",
        at,
        period_id=period_id,
        guess=guess,
        confidence=confidence,
        audit_detail=detail,
    )


def adverse_event(p: PatientRows, me: Actor, term: str, grade: int, onset: dt.date) -> None:
    """A patient-reported adverse event and its alerts (``adverse_events.record_adverse_event``)."""
    at = dt.datetime.combine(onset, dt.time(22), tzinfo=dt.UTC)
    row = p.record(
        me,
        AdverseEventRow,
        "adverse_event",
        at,
        trial_id=p.trial["id"] if p.trial is not None and p.active() else None,
        term=term,
        grade=grade,
        serious=False,
        onset_date=onset,
        resolved_date=None,
        source=PATIENT_REPORT,
        status=AWAITING_REVIEW,
        outcome=None,
        symptom=None,
        audit_detail={"grade": grade, "serious": False},
    )
    alerts = check_adverse_event(AdverseEventReport(term=term, grade=grade, serious=False))
    if alerts:
        p.raise_alerts(me, alerts, {"adverse_event": row["record_id"]}, at, local_today(p, at))
