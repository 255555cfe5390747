"""Rules over a patient's recent diary, run on every new entry and adverse event.

Pain flare, weekly worsening (pain and headache days) and grade-2 persistence need more than the
new entry: they read the patient's trial diary. For a batch of new entries this costs one query
(every relevant entry of the batch's trials, run-in included), plus one for stored alerts and
one for doses only when a rule fires or a grade-2 symptom is reported. Each alert carries its
cause in its trigger (``cause``); a cause already stored, acknowledged or not, raises nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import case, null, select
from sqlalchemy.orm import Session

from microtrial.domain.actors import Actor
from microtrial.domain.adverse_events import PATIENT_REPORT
from microtrial.domain.alerts import checklist_linked_symptoms
from microtrial.domain.catalog import load_catalog
from microtrial.domain.trend_rules import (
    Cause,
    DiaryHistory,
    Episode,
    diary_trend_alerts,
    persistent_grade2_alerts,
)
from microtrial.services.alerts import Caused, raise_caused
from microtrial.services.common import patient_today
from microtrial.store.models import (
    AdverseEventRow,
    DiaryEntryRow,
    DoseEventRow,
    PatientRow,
    TrialRow,
)

TREND_INSTRUMENTS = ("daily_diary", "migraine_diary", "ae_checklist")


def trend_codes() -> tuple[str, ...]:
    """The alert codes these rules raise."""
    rules = load_catalog().alerts
    return (
        rules.pain_flare.code,
        rules.pain_worsening.code,
        rules.headache_worsening.code,
        rules.persistent_grade2.code,
    )


@dataclass(frozen=True)
class NewEntries:
    """One submission's newly written entries, with who wrote them for whom."""

    actor: Actor
    patient: PatientRow
    rows: Sequence[DiaryEntryRow]


def run_diary_rules(session: Session, written: Sequence[NewEntries], now: dt.datetime) -> None:
    """Raise the diary-history alerts that the new entries set off (in the caller's transaction)."""
    relevant = [
        w
        for w in written
        if any(r.instrument_id in TREND_INSTRUMENTS and r.trial_id for r in w.rows)
    ]
    if not relevant:
        return
    trial_ids = {r.trial_id for w in relevant for r in w.rows if r.trial_id}
    histories = _histories(session, trial_ids)
    if any(_needs_doses(w.rows) for w in relevant):
        _add_doses(session, histories)
    found: list[tuple[NewEntries, DiaryEntryRow, Cause]] = []
    for w in relevant:
        for row in w.rows:
            history = histories.get(row.trial_id or 0)
            if history is None or row.instrument_id not in TREND_INSTRUMENTS:
                continue
            found.extend((w, row, c) for c in diary_trend_alerts(history, row.local_date))
    if not found:
        return
    # the day reported on, which a patient's hold notice names (it may be an earlier day)
    caused = [
        Caused(w.actor, w.patient, c, {"diary_entry": row.record_id, "date": str(row.local_date)})
        for w, row, c in found
    ]
    raise_caused(session, caused, now)


def run_adverse_event_rules(
    session: Session, actor: Actor, patient: PatientRow, row: AdverseEventRow, now: dt.datetime
) -> None:
    """Grade-2 persistence for a newly recorded adverse event (its term's earlier episodes)."""
    rule = load_catalog().alerts.persistent_grade2
    if row.grade != rule.grade:
        return
    term = row.term.strip().lower()
    episodes = _grade2_events_by_patient(session, {patient.id: patient}).get(patient.id, {})
    doses = _dose_days(session, [patient.id]).get(patient.id, set())
    today = patient_today(patient, now)
    causes = persistent_grade2_alerts(term, episodes.get(term, []), doses, today)
    trigger = {"adverse_event": row.record_id}
    raise_caused(session, [Caused(actor, patient, c, trigger) for c in causes], now)


def ongoing_grade2_causes(
    session: Session, patients: dict[int, PatientRow], now: dt.datetime
) -> dict[int, list[Cause]]:
    """Per patient, the grade-2 persistence alerts that time alone sets off (for the sweep)."""
    events = _grade2_events_by_patient(session, patients)
    doses = _dose_days(session, events) if events else {}
    found: dict[int, list[Cause]] = {}
    for pid, by_term in events.items():
        today = patient_today(patients[pid], now)
        for term, episodes in by_term.items():
            causes = persistent_grade2_alerts(term, episodes, doses.get(pid, set()), today)
            if causes:
                found.setdefault(pid, []).extend(causes)
    return found


def _histories(session: Session, trial_ids: set[int]) -> dict[int, DiaryHistory]:
    """Each trial's diary by date: one query over the trials and their entries.

    Only the answers the rules read are selected (JSON paths), and whole answers only for the
    checklist, so that a long diary costs little to load.
    """
    d, t = DiaryEntryRow, TrialRow
    checklist = d.instrument_id == "ae_checklist"
    rows = session.execute(
        select(
            t.id,
            t.start_date,
            t.plan["design"]["run_in_days"].as_integer(),
            d.instrument_id,
            d.local_date,
            d.answers["average_pain"].as_float(),
            d.answers["dose_check_in"].as_string(),
            # The checklist's "headache" is a grade, not a yes/no: cast the migraine diary's only
            # (PostgreSQL refuses to cast a number to boolean).
            case((d.instrument_id == "migraine_diary", d.answers["headache"].as_boolean())),
            case((checklist, d.answers), else_=null()),
        )
        .join(d, d.trial_id == t.id)
        .where(
            t.id.in_(trial_ids),
            d.is_current.is_(True),
            d.instrument_id.in_(TREND_INSTRUMENTS),
        )
    )
    histories: dict[int, DiaryHistory] = {}
    for tid, start, run_in, instrument, day, pain, dose, headache, answers in rows:
        if start is None:
            continue
        history = histories.get(tid)
        if history is None:
            history = histories[tid] = DiaryHistory(start, int(run_in or 0))
        if instrument == "daily_diary":
            if pain is not None:
                history.pain[day] = float(pain)
            if dose == "taken":
                history.doses.add(day)
        elif instrument == "migraine_diary":
            if headache is not None:
                history.headache[day] = bool(headache)
        elif isinstance(answers, dict):
            history.ae_grades[day] = {
                k: v for k, v in answers.items() if isinstance(v, int) and not isinstance(v, bool)
            }
    return histories


def _needs_doses(rows: Iterable[DiaryEntryRow]) -> bool:
    """Whether a checklist entry asks for the capsules taken: a grade-2 symptom (recurrence after
    doses), or an answer that counts only on a day without a capsule."""
    grade = load_catalog().alerts.persistent_grade2.grade
    return any(
        r.instrument_id == "ae_checklist"
        and (
            grade in r.answers.values()
            or checklist_linked_symptoms(r.answers, day_without_capsule=True)
        )
        for r in rows
    )


def _add_doses(session: Session, histories: dict[int, DiaryHistory]) -> None:
    rows = session.execute(
        select(DoseEventRow.trial_id, DoseEventRow.local_date).where(
            DoseEventRow.trial_id.in_(set(histories)),
            DoseEventRow.is_current.is_(True),
            DoseEventRow.status == "taken",
        )
    )
    for tid, day in rows:
        if tid is not None and tid in histories:
            histories[tid].doses.add(day)


def _dose_days(session: Session, patient_ids: Iterable[int]) -> dict[int, set[dt.date]]:
    rows = session.execute(
        select(DoseEventRow.patient_id, DoseEventRow.local_date).where(
            DoseEventRow.patient_id.in_(set(patient_ids)),
            DoseEventRow.is_current.is_(True),
            DoseEventRow.status == "taken",
        )
    )
    days: dict[int, set[dt.date]] = {}
    for pid, day in rows:
        days.setdefault(pid, set()).add(day)
    return days


def _grade2_events_by_patient(
    session: Session, patients: dict[int, PatientRow]
) -> dict[int, dict[str, list[Episode]]]:
    if not patients:
        return {}
    rule = load_catalog().alerts.persistent_grade2
    rows = session.execute(
        select(AdverseEventRow).where(
            AdverseEventRow.patient_id.in_(set(patients)),
            AdverseEventRow.is_current.is_(True),
            AdverseEventRow.grade == rule.grade,
            # Checklist reports are followed through the diary history (TREND_INSTRUMENTS).
            AdverseEventRow.source != PATIENT_REPORT,
        )
    ).scalars()
    found: dict[int, dict[str, list[Episode]]] = {}
    for r in rows:
        episode = Episode(f"ae-{r.record_id}", r.onset_date, r.resolved_date)
        found.setdefault(r.patient_id, {}).setdefault(r.term.strip().lower(), []).append(episode)
    return found
