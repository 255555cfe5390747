"""Adverse events as records: the symptoms a checklist reports, review statuses and episodes.

A grade of 2 or more on the side-effect checklist (``ae_checklist``) becomes an adverse-event
record awaiting a clinician's review. **Episodes**: a symptom's record stays open until a
clinician closes it (with a resolution date); every later report of the same symptom while it is
open, on consecutive days or not, belongs to the same episode. A report at the same or a lower
grade changes nothing; a higher grade makes a new version of the record with that grade, back
in review. A report dated on or before a closed record's resolution date (a late or corrected
entry) also belongs to that closed episode; only a report after it starts a new one. Patients
do not close episodes because a day without the symptom is often just a day without a diary.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from microtrial.domain.catalog import Instrument
from microtrial.errors import ValidationError

__all__ = [
    "AWAITING_REVIEW",
    "CHECKLIST",
    "CLINICIAN",
    "CLOSED",
    "CONFIRMED",
    "MIN_RECORDED_GRADE",
    "OTHER_TERM",
    "OUTCOMES",
    "PATIENT_REPORT",
    "REVIEW_ACTIONS",
    "Episode",
    "ReportedSymptom",
    "check_review",
    "checklist_symptoms",
    "episode_change",
    "exported_term",
    "pauses",
    "symptom_detail",
]

CHECKLIST = "ae_checklist"
MIN_RECORDED_GRADE = 2  # issue 14: a checklist grade >= 2 becomes a record
PATIENT_REPORT, CLINICIAN = "patient report", "clinician"
AWAITING_REVIEW, CONFIRMED, CLOSED = "awaiting review", "confirmed", "closed"
STATUSES = (AWAITING_REVIEW, CONFIRMED, CLOSED)
REVIEW_ACTIONS = ("confirm", "regrade", "close")
# How an event ended (the FHIR AdverseEvent outcome codes, in words).
OUTCOMES = (
    "recovered",
    "recovering",
    "not recovered",
    "recovered with sequelae",
    "fatal",
    "unknown",
)
PAUSING_GRADE = 3  # grade >= 3 or serious pauses the trial (catalog/alerts.yaml adverse_event)


@dataclass(frozen=True, slots=True)
class ReportedSymptom:
    """A graded checklist item: its item id, the label a person reads, and the CTCAE grade."""

    item: str
    label: str
    grade: int


@dataclass(frozen=True, slots=True)
class Episode:
    """The open or closed record a new report is compared with."""

    grade: int
    serious: bool
    status: str
    onset: date
    resolved: date | None


def _label(text: str) -> str:
    # "Nausea, GI discomfort or diarrhoea: CTCAE grade (0 = absent)" -> the part before ":".
    return text.split(":", 1)[0].strip()


# The research export's term of an event that names no checklist symptom: its words are free
# text, which may identify the patient, so they are not exported.
OTHER_TERM = "other (free text not exported)"


def exported_term(term: str, checklist: Instrument) -> str:
    """An event's term as de-identified data may carry it: the checklist symptom it names
    ("Nausea, GI discomfort or diarrhoea", "Other" without its description), else OTHER_TERM."""
    symptoms = {_label(item.text) for item in checklist.items if item.type == "integer"}
    named = _label(term)
    return named if named in symptoms else OTHER_TERM


def checklist_symptoms(
    instrument: Instrument, answers: Mapping[str, Any], min_grade: int = 1
) -> list[ReportedSymptom]:
    """The checklist's graded symptoms at ``min_grade`` or more, in the instrument's order."""
    found = []
    for item in instrument.items:
        grade = answers.get(item.id)
        if item.type != "integer" or isinstance(grade, bool) or not isinstance(grade, int):
            continue
        if grade < min_grade:
            continue
        label = _label(item.text)
        described = answers.get(f"{item.id}_description")
        if isinstance(described, str) and described.strip():
            label = f"{label}: {described.strip()}"
        found.append(ReportedSymptom(item.id, label[:120], grade))
    return found


def symptom_detail(symptoms: Iterable[ReportedSymptom], serious: bool, source: str) -> str:
    """How an alert names reported symptoms: "Nausea, grade 3 (patient report)"."""
    named = "; ".join(f"{s.label}, grade {s.grade}" for s in symptoms) or "no graded symptom"
    return named + (", serious" if serious else "") + f" ({source})"


def episode_change(episode: Episode | None, day: date, grade: int, serious: bool) -> str:
    """What a report of a symptom does: a "new" record, "raise" the open one, or "none"."""
    if episode is None:
        return "new"
    if episode.status == CLOSED:
        if episode.resolved is not None and day <= episode.resolved:
            return "none"  # a late or corrected entry inside the closed episode
        return "new"
    worse = grade > episode.grade or (serious and not episode.serious)
    return "raise" if worse else "none"


def pauses(grade: int, serious: bool) -> bool:
    """Whether an event of this grade and seriousness pauses the trial."""
    return serious or grade >= PAUSING_GRADE


def check_review(
    action: str,
    status: str,
    *,
    grade: int | None,
    outcome: str | None,
    resolved: date | None,
    onset: date,
) -> None:
    """Refuse a review action the record's status or the values do not allow (one field each)."""
    if action not in REVIEW_ACTIONS:
        raise ValidationError("action", f"unknown action {action!r}", allowed=list(REVIEW_ACTIONS))
    if status == CLOSED:
        raise ValidationError("status", "this adverse event is closed", value=status)
    if action == "confirm" and status != AWAITING_REVIEW:
        raise ValidationError("status", "only an event awaiting review is confirmed", value=status)
    if grade is not None and not 1 <= grade <= 5:
        raise ValidationError("grade", f"{grade} is out of range", value=grade, allowed="1..5")
    if action == "regrade" and grade is None:
        raise ValidationError("grade", "a regrade needs a grade", allowed="1..5")
    if action == "close":
        if outcome not in OUTCOMES:
            raise ValidationError(
                "outcome", "choose how the event ended", value=outcome, allowed=list(OUTCOMES)
            )
        if resolved is None:
            raise ValidationError("resolved_date", "closing needs a resolution date")
        if resolved < onset:
            raise ValidationError(
                "resolved_date",
                f"{resolved} is before the onset",
                value=str(resolved),
                allowed=f"on or after {onset}",
            )
