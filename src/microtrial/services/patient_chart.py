"""The clinician's view of one patient's record over time, and the clinic's own entries.

``patient_chart`` reads, in one audited transaction, what the patient page shows beyond the
record itself: blood-pressure readings (home and clinic), PHQ-9 and GAD-7 totals with their
change, reported side effects, doses and adverse events, merged into one timeline.
``stop_medication`` and ``record_clinic_bp`` are the clinic's forms; a clinic reading is a
``clinic_bp`` diary entry, so it goes through the same blood-pressure rules as a home one, but it
may be dated from screening's blood-pressure look-back before enrolment (a referral or GP reading).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from microtrial.domain.access import Action, authorize
from microtrial.domain.actors import Actor
from microtrial.domain.adverse_events import CHECKLIST
from microtrial.domain.alerts import BP_INSTRUMENTS
from microtrial.domain.catalog import load_catalog
from microtrial.errors import ValidationError
from microtrial.services.common import (
    Clock,
    audit_patient,
    current_records,
    current_version,
    entries_since,
    patient_for,
    patient_today,
    supersede_audited,
    system_clock,
)
from microtrial.services.records import (
    CLINIC_BP,
    DiaryEntryRead,
    DiaryInput,
    clinic_bp_dates,
    record_diary_entry,
)
from microtrial.services.schemas import MedicationRead, ReadModel
from microtrial.services.screening import rescreen_after_change
from microtrial.services.unit import UnitOfWork, patient_transaction
from microtrial.store.db import Database
from microtrial.store.models import (
    AdverseEventRow,
    DiaryEntryRow,
    DoseEventRow,
    MedicationRow,
)

MOOD_INSTRUMENTS = ("phq9", "gad7")
CHART_DAYS = 365  # how far back the page reads


class BloodPressure(ReadModel):
    """One blood-pressure reading, at home or in the clinic."""

    local_date: dt.date
    systolic: int
    diastolic: int
    pulse: int | None
    where: str  # "home" or "clinic"


class MoodScore(ReadModel):
    """One PHQ-9 or GAD-7 total with its band and the change from the one before."""

    instrument: str
    local_date: dt.date
    total: float
    band: str | None
    change: float | None


class TimelineItem(ReadModel):
    """One dated event on the patient's timeline."""

    local_date: dt.date
    kind: str  # "dose", "adverse event", "side effect", "blood pressure", "mood"
    text: str


class ConditionChoice(ReadModel):
    """A catalog condition code the clinician may pick."""

    code: str
    label: str


class PatientChart(ReadModel):
    """What the patient page shows over time."""

    blood_pressure: list[BloodPressure]
    mood: dict[str, list[MoodScore]]
    timeline: list[TimelineItem]
    # the days a clinic blood pressure may be dated (``records.clinic_bp_dates``)
    clinic_bp_from: dt.date | None = None
    clinic_bp_to: dt.date | None = None


def condition_choices() -> list[ConditionChoice]:
    """Every ICD-10-CM code in the catalog, grouped by condition, for the condition form."""
    out = []
    for condition in load_catalog().conditions.values():
        for code in condition.codes:
            out.append(ConditionChoice(code=code.code, label=f"{condition.title}: {code.code}"))
    return out


def _symptom_words() -> dict[str, tuple[str, dict[int, str]]]:
    """Each checklist item's short name and its grade labels."""
    out: dict[str, tuple[str, dict[int, str]]] = {}
    for item in load_catalog().instrument(CHECKLIST).items:
        labels = {int(k): str(v) for k, v in (item.labels or {}).items()}
        out[item.id] = (item.text.split(":")[0], labels)
    return out


def _total(scores: dict[str, Any]) -> tuple[float, str | None] | None:
    total = scores.get("scores", {}).get("total")
    if not isinstance(total, dict) or not isinstance(total.get("value"), int | float):
        return None
    return float(total["value"]), total.get("band")


def _entries(rows: list[DiaryEntryRow]) -> tuple[PatientChart, list[TimelineItem]]:
    """Blood pressure, mood scores and side effects from diary rows (oldest first)."""
    pressure: list[BloodPressure] = []
    mood: dict[str, list[MoodScore]] = {i: [] for i in MOOD_INSTRUMENTS}
    timeline: list[TimelineItem] = []
    symptoms = _symptom_words()
    for row in rows:
        answers = row.answers
        if row.instrument_id in BP_INSTRUMENTS:
            where = "clinic" if row.instrument_id == CLINIC_BP else "home"
            reading = BloodPressure(
                local_date=row.local_date,
                systolic=int(answers["systolic"]),
                diastolic=int(answers["diastolic"]),
                pulse=answers.get("pulse"),
                where=where,
            )
            pressure.append(reading)
            text = f"{reading.systolic}/{reading.diastolic} mmHg ({where})"
            timeline.append(
                TimelineItem(local_date=row.local_date, kind="blood pressure", text=text)
            )
        elif row.instrument_id in mood:
            found = _total(row.scores)
            if found is None:
                continue
            series = mood[row.instrument_id]
            change = found[0] - series[-1].total if series else None
            score = MoodScore(
                instrument=row.instrument_id,
                local_date=row.local_date,
                total=found[0],
                band=found[1],
                change=change,
            )
            series.append(score)
            text = f"{row.instrument_id.upper()} {score.total:g}" + (
                f" ({score.band})" if score.band else ""
            )
            timeline.append(TimelineItem(local_date=row.local_date, kind="mood", text=text))
        elif row.instrument_id == CHECKLIST:
            reported = [
                f"{symptoms[k][0]}: {symptoms[k][1].get(v, v)}"
                for k, v in answers.items()
                if k in symptoms and isinstance(v, int) and v > 0
            ]
            if reported:
                timeline.append(
                    TimelineItem(
                        local_date=row.local_date, kind="side effect", text="; ".join(reported)
                    )
                )
    return PatientChart(blood_pressure=pressure, mood=mood, timeline=[]), timeline


def patient_chart(
    db: Database, actor: Actor, patient_id: int, *, clock: Clock = system_clock
) -> PatientChart:
    """The patient's readings, scores and events of the last year, newest first on the timeline."""
    now = clock()
    with patient_transaction(db, actor, patient_id) as (session, patient):
        since = patient_today(patient, now) - dt.timedelta(days=CHART_DAYS)
        instruments = {*BP_INSTRUMENTS, *MOOD_INSTRUMENTS, CHECKLIST}
        rows = entries_since(session, patient.id, since, instruments)
        chart, timeline = _entries(rows)
        for dose in current_records(session, DoseEventRow, patient.id):
            if dose.local_date < since:
                continue
            text = f"capsule {dose.status}" + (f", kit {dose.kit_code}" if dose.kit_code else "")
            if dose.deviation:
                text += f" (deviation: {dose.deviation})"
            timeline.append(TimelineItem(local_date=dose.local_date, kind="dose", text=text))
        for event in current_records(session, AdverseEventRow, patient.id):
            text = f"{event.term}, grade {event.grade}" + (", serious" if event.serious else "")
            text += f" ({event.status})"
            if event.resolved_date:
                text += f", resolved {event.resolved_date.isoformat()}"
            timeline.append(
                TimelineItem(local_date=event.onset_date, kind="adverse event", text=text)
            )
        timeline.sort(key=lambda t: t.local_date, reverse=True)  # stable: same-day order kept
        audit_patient(
            session, actor, "read", "patient_chart", None, patient, at=now, events=len(timeline)
        )
        earliest, latest = clinic_bp_dates(
            patient_today(patient, patient.created_at), patient_today(patient, now)
        )
        return chart.model_copy(
            update={"timeline": timeline, "clinic_bp_from": earliest, "clinic_bp_to": latest}
        )


def record_clinic_bp(
    db: Database,
    actor: Actor,
    patient_id: int,
    local_date: dt.date,
    systolic: int,
    diastolic: int,
    pulse: int | None = None,
    *,
    clock: Clock = system_clock,
) -> DiaryEntryRead:
    """Record a blood pressure measured in the clinic (the blood-pressure rules apply)."""
    authorize(actor, Action.ADD_RECORDS, "record clinic blood pressure")
    answers: dict[str, Any] = {"systolic": systolic, "diastolic": diastolic}
    if pulse is not None:
        answers["pulse"] = pulse
    return record_diary_entry(
        db, actor, patient_id, DiaryInput(local_date, answers, CLINIC_BP), clock=clock
    )


def stop_medication(
    db: Database,
    actor: Actor,
    patient_id: int,
    record_id: str,
    end_date: dt.date,
    reason: str,
    *,
    clock: Clock = system_clock,
) -> MedicationRead:
    """Mark a medication stopped on ``end_date`` with a reason (a new version; screening re-run)."""
    work = UnitOfWork(db, actor, Action.CORRECT_RECORDS, clock=clock, doing="stop medications")
    with work as (session, now):
        patient = patient_for(session, actor, patient_id)
        old = current_version(session, MedicationRow, record_id, patient_id=patient.id)
        if old.status == "stopped":
            raise ValidationError("medication", "this medication is already stopped")
        if end_date > patient_today(patient, now):
            raise ValidationError(
                "end_date", "the end date cannot be in the future", value=end_date.isoformat()
            )
        new = supersede_audited(
            session,
            old,
            {"status": "stopped", "end_date": end_date},
            patient,
            "medication",
            actor=actor,
            at=now,
            reason=reason,
            editable=("status", "end_date"),
            fields=["end_date", "status"],
        )
        rescreen_after_change(session, actor, patient, now)
        return MedicationRead.model_validate(new)
