"""A patient's own diary over time: daily pain, worst pain and sleep, mood scores, capsules, the
trial's periods (arms only once unblinded), and the rows of their diary export."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from microtrial.domain.access import Action, allows
from microtrial.domain.actors import Actor
from microtrial.domain.catalog import load_catalog
from microtrial.domain.lifecycle import STARTED
from microtrial.errors import PermissionDenied
from microtrial.i18n import N_
from microtrial.services.common import (
    Clock,
    audit_patient,
    patient_for,
    patient_today,
    system_clock,
)
from microtrial.services.schemas import ReadModel
from microtrial.services.trial_views import period_views
from microtrial.store.db import Database
from microtrial.store.models import DiaryEntryRow, DoseEventRow, PatientRow, TrialRow

DIARY = "daily_diary"
# Titles and answer words are catalog messages: the history page and the diary PDF show them in
# the patient's language (reports.diary_export, web.item_language.export_row_text).
MOOD = (("phq9", N_("Mood (PHQ-9)"), 27), ("gad7", N_("Anxiety (GAD-7)"), 21))
# Plain words for the stored answers a patient sees in their export.
CHOICE_WORDS = {"taken": N_("taken"), "missed": N_("missed"), "not-scheduled": N_("not due today")}
CAPSULE, KIT_CODE = N_("Capsule"), N_("Kit code")


class DiaryDay(ReadModel):
    """One day of the daily diary (None where not answered)."""

    date: dt.date
    average_pain: float | None
    worst_pain: float | None
    sleep: float | None


class ScorePoint(ReadModel):
    """A questionnaire total on a day."""

    date: dt.date
    value: float


class MoodSeries(ReadModel):
    """One mood questionnaire's totals over time."""

    instrument_id: str
    title: str
    max: int
    points: list[ScorePoint]


class DoseDay(ReadModel):
    """A capsule the patient reported (the kit code, never the arm)."""

    date: dt.date
    kit_code: str | None


class PeriodSpan(ReadModel):
    """A trial period's dates; ``arm`` only once the trial is unblinded."""

    number: int
    start_date: dt.date
    end_date: dt.date
    arm: str | None


class ExportRow(ReadModel):
    """One answer of the patient's diary, in words."""

    date: dt.date
    questionnaire: str
    question: str
    answer: str
    instrument_id: str = ""  # "" for a capsule check-in


class DiaryHistory(ReadModel):
    """Everything the History page and the diary export show."""

    study_code: str
    local_date: dt.date
    days: list[DiaryDay]
    mood: list[MoodSeries]
    doses: list[DoseDay]
    periods: list[PeriodSpan]
    unblinded: bool
    rows: list[ExportRow]

    @property
    def empty(self) -> bool:
        """Whether nothing has been recorded yet."""
        return not self.days and not self.doses and not any(m.points for m in self.mood)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _total(entry: DiaryEntryRow) -> float | None:
    scores = (entry.scores or {}).get("scores") or {}
    return _number((scores.get("total") or {}).get("value"))


def _answer_words(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return CHOICE_WORDS.get(value, value)
    return str(value)


def export_rows(entries: list[DiaryEntryRow]) -> list[ExportRow]:
    """Each answer as (date, questionnaire title, question text, answer), oldest first."""
    catalog = load_catalog()
    rows = []
    for entry in entries:
        instrument = catalog.instruments.get(entry.instrument_id)
        title = instrument.title if instrument else entry.instrument_id
        texts = {i.id: i.text for i in instrument.items} if instrument else {}
        order = list(texts) + sorted(set(entry.answers) - set(texts))
        for item in order:
            if item in entry.answers:
                rows.append(
                    ExportRow(
                        date=entry.local_date,
                        questionnaire=title,
                        question=texts.get(item, item),
                        answer=_answer_words(entry.answers[item]),
                        instrument_id=entry.instrument_id,
                    )
                )
    return rows


def _trial_parts(session: Session, patient: PatientRow) -> tuple[list[PeriodSpan], bool]:
    """The latest started trial's periods (arms only once unblinded)."""
    trial = session.execute(
        select(TrialRow)
        .where(TrialRow.patient_id == patient.id, TrialRow.status.in_(STARTED))
        .order_by(TrialRow.id.desc())
    ).scalar()
    if trial is None:
        return [], False
    views = period_views(session, trial)
    spans = [
        PeriodSpan(number=p.number, start_date=p.start_date, end_date=p.end_date, arm=p.arm)
        for p in views
    ]
    return spans, any(p.arm for p in views)


def history_of(session: Session, patient: PatientRow, now: dt.datetime) -> DiaryHistory:
    """The patient's diary history inside an open transaction (callers audit)."""
    entries = list(
        session.execute(
            select(DiaryEntryRow)
            .where(DiaryEntryRow.patient_id == patient.id, DiaryEntryRow.is_current.is_(True))
            .order_by(DiaryEntryRow.local_date, DiaryEntryRow.id)
        ).scalars()
    )
    days = [
        DiaryDay(
            date=e.local_date,
            average_pain=_number(e.answers.get("average_pain")),
            worst_pain=_number(e.answers.get("worst_pain")),
            sleep=_number(e.answers.get("sleep_quality")),
        )
        for e in entries
        if e.instrument_id == DIARY
    ]
    mood = []
    for instrument_id, title, top in MOOD:
        points = [
            ScorePoint(date=e.local_date, value=v)
            for e in entries
            if e.instrument_id == instrument_id and (v := _total(e)) is not None
        ]
        mood.append(MoodSeries(instrument_id=instrument_id, title=title, max=top, points=points))
    doses = [
        DoseDay(date=d.local_date, kit_code=d.kit_code)
        for d in session.execute(
            select(DoseEventRow)
            .where(
                DoseEventRow.patient_id == patient.id,
                DoseEventRow.is_current.is_(True),
                DoseEventRow.status == "taken",
            )
            .order_by(DoseEventRow.local_date, DoseEventRow.id)
        ).scalars()
    ]
    periods, unblinded = _trial_parts(session, patient)
    rows = export_rows(entries)
    rows += [
        ExportRow(date=d.date, questionnaire=CAPSULE, question=KIT_CODE, answer=d.kit_code or "")
        for d in doses
    ]
    rows.sort(key=lambda r: r.date)
    return DiaryHistory(
        study_code=patient.study_code,
        local_date=patient_today(patient, now),
        days=days,
        mood=mood,
        doses=doses,
        periods=periods,
        unblinded=unblinded,
        rows=rows,
    )


def diary_history(
    db: Database, actor: Actor, *, export: str | None = None, clock: Clock = system_clock
) -> DiaryHistory:
    """The signed-in patient's own diary history; ``export`` ("csv", "pdf") audits a download."""
    if not allows(actor, Action.USE_PATIENT_APP) or actor.patient_id is None:
        raise PermissionDenied("only a patient has their own diary history", actor=actor)
    now = clock()
    with db.transaction() as session:
        patient = patient_for(session, actor, actor.patient_id)
        history = history_of(session, patient, now)
        detail: dict[str, Any] = {"entries": len(history.rows)}
        if export:
            detail["format"] = export
        audit_patient(
            session,
            actor,
            "export" if export else "read",
            "diary_history",
            patient.id,
            patient,
            at=now,
            **detail,
        )
        return history
