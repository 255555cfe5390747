"""What the patient's own pages show at a glance (the clinician's list: ``services.worklist``)."""

from __future__ import annotations

import datetime as dt

from microtrial.domain.actors import Actor
from microtrial.services.common import (
    Clock,
    audit_patient,
    entries_since,
    own_patient,
    patient_today,
    system_clock,
)
from microtrial.services.records import DiaryEntryRead
from microtrial.services.schemas import ReadModel
from microtrial.store.db import Database

HISTORY_DAYS = 120


class PatientHome(ReadModel):
    """What a patient's own pages show: today's local date, today's entries, pain history."""

    patient_id: int
    study_code: str
    time_zone: str
    local_date: dt.date
    done_today: list[str]
    today: list[DiaryEntryRead]
    pain_history: list[tuple[dt.date, float]]


def patient_home(db: Database, actor: Actor, *, clock: Clock = system_clock) -> PatientHome:
    """The signed-in patient's own view (PermissionDenied for anyone else)."""
    now = clock()
    with db.transaction() as session:
        patient = own_patient(session, actor, "a patient home page")
        today = patient_today(patient, now)
        since = today - dt.timedelta(days=HISTORY_DAYS)
        rows = entries_since(session, patient.id, since)
        todays = [DiaryEntryRead.model_validate(r) for r in rows if r.local_date == today]
        history = [
            (r.local_date, float(r.answers["average_pain"]))
            for r in rows
            if r.instrument_id == "daily_diary"
            and isinstance(r.answers.get("average_pain"), int | float)
        ]
        audit_patient(
            session, actor, "read", "patient_home", patient.id, patient, at=now, entries=len(rows)
        )
        return PatientHome(
            patient_id=patient.id,
            study_code=patient.study_code,
            time_zone=patient.time_zone,
            local_date=today,
            done_today=sorted({e.instrument_id for e in todays}),
            today=todays,
            pain_history=history,
        )
