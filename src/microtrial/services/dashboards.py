"""What the patient's own pages and the clinician's patient list show at a glance."""

from __future__ import annotations

import datetime as dt
from collections import Counter

from sqlalchemy import func, select

from microtrial.domain.access import Action, Scope, authorize
from microtrial.domain.actors import Actor
from microtrial.errors import PermissionDenied
from microtrial.services.common import (
    Clock,
    audit_list,
    audit_patient,
    own_patient,
    patient_today,
    scoped,
    system_clock,
)
from microtrial.services.records import DiaryEntryRead
from microtrial.services.schemas import ReadModel
from microtrial.store.db import Database
from microtrial.store.models import AlertRow, DiaryEntryRow, PatientRow

ADHERENCE_WINDOW_DAYS = 14
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
        rows = list(
            session.execute(
                select(DiaryEntryRow)
                .where(
                    DiaryEntryRow.patient_id == patient.id,
                    DiaryEntryRow.is_current.is_(True),
                    DiaryEntryRow.local_date >= since,
                )
                .order_by(DiaryEntryRow.local_date, DiaryEntryRow.id)
            ).scalars()
        )
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


class PatientOverview(ReadModel):
    """One row of the clinician's patient list."""

    id: int
    study_code: str
    birth_year: int
    sex: str
    open_alerts: int
    urgent_alerts: int
    diary_days: int
    diary_window_days: int
    adherence: float
    last_entry: dt.date | None


def clinic_overview(
    db: Database, actor: Actor, *, clock: Clock = system_clock
) -> list[PatientOverview]:
    """The actor's site's patients with open-alert counts and diary adherence (last 14 days)."""
    if authorize(actor, Action.LIST_PATIENTS) is not Scope.SITE:
        raise PermissionDenied("the patient list is for site staff")
    now = clock()
    with db.transaction() as session:
        patients = list(
            session.execute(
                scoped(
                    select(PatientRow), actor, Action.LIST_PATIENTS, PatientRow.site_id
                ).order_by(PatientRow.study_code)
            ).scalars()
        )
        ids = [p.id for p in patients]
        alerts = session.execute(
            select(AlertRow.patient_id, AlertRow.severity, func.count(AlertRow.id))
            .where(AlertRow.patient_id.in_(ids), AlertRow.acknowledged_at.is_(None))
            .group_by(AlertRow.patient_id, AlertRow.severity)
        ).all()
        open_alerts: Counter[int] = Counter()
        urgent: Counter[int] = Counter()
        for pid, severity, count in alerts:
            open_alerts[pid] += count
            if severity == "urgent":
                urgent[pid] += count
        earliest = now.date() - dt.timedelta(days=ADHERENCE_WINDOW_DAYS + 1)
        diary = session.execute(
            select(DiaryEntryRow.patient_id, DiaryEntryRow.local_date)
            .where(
                DiaryEntryRow.patient_id.in_(ids),
                DiaryEntryRow.instrument_id == "daily_diary",
                DiaryEntryRow.is_current.is_(True),
                DiaryEntryRow.local_date >= earliest,
            )
            .distinct()
        ).all()
        last = dict(
            session.execute(
                select(DiaryEntryRow.patient_id, func.max(DiaryEntryRow.local_date))
                .where(DiaryEntryRow.patient_id.in_(ids), DiaryEntryRow.is_current.is_(True))
                .group_by(DiaryEntryRow.patient_id)
            )
            .tuples()
            .all()
        )
        result = []
        for p in patients:
            today = patient_today(p, now)
            start = today - dt.timedelta(days=ADHERENCE_WINDOW_DAYS - 1)
            days = sum(1 for pid, day in diary if pid == p.id and start <= day <= today)
            result.append(
                PatientOverview(
                    id=p.id,
                    study_code=p.study_code,
                    birth_year=p.birth_year,
                    sex=p.sex,
                    open_alerts=open_alerts[p.id],
                    urgent_alerts=urgent[p.id],
                    diary_days=days,
                    diary_window_days=ADHERENCE_WINDOW_DAYS,
                    adherence=days / ADHERENCE_WINDOW_DAYS,
                    last_entry=last.get(p.id),
                )
            )
        audit_list(session, actor, "patient", ids, at=now, site_id=actor.site_id, view="overview")
        return result
