"""The next version of a saved diary entry, in the caller's transaction, with its safety checks.

Shared by a correction (``services.diary_corrections``) and a later report added to the day's
entry (``services.records``, see ``domain.later_reports``): both write the entry's next version,
scored again, and run the same safety path as a new entry: instrument alerts the earlier version
did not raise, side-effect records for the checklist, and the diary-history rules. It imports
neither of them, so that ``records`` can add to a day without importing ``diary_corrections``
(which reads ``records``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from microtrial.domain.actors import Actor
from microtrial.domain.alerts import alerts_for_score
from microtrial.domain.catalog import Instrument
from microtrial.domain.scoring import ScoreResult, score
from microtrial.errors import MicroTrialError
from microtrial.services.adverse_events import record_checklist_events
from microtrial.services.alerts import raise_alerts
from microtrial.services.common import audit_patient, supersede
from microtrial.services.diary_rules import NewEntries, run_diary_rules
from microtrial.store.models import DiaryEntryRow, PatientRow

# What a new version of a diary entry may change.
CORRECTABLE = ("answers", "scores", "note")


def score_json(result: ScoreResult) -> dict[str, Any]:
    """A scored entry as JSON-ready values."""
    return {
        "instrument_version": result.instrument_version,
        "primary": result.primary_score,
        "scores": {
            s.id: {"value": s.value, "band": s.band, "prorated": s.prorated}
            for s in result.scores.values()
        },
        "flags": [f.id for f in result.flags],
    }


def write_next_version(
    session: Session,
    actor: Actor,
    patient: PatientRow,
    old: DiaryEntryRow,
    instrument: Instrument,
    answers: dict[str, Any],
    note: str | None,
    reason: str,
    now: dt.datetime,
) -> DiaryEntryRow:
    """Write the next version of ``old`` (``instrument`` scores it) with its safety checks."""
    result = score(instrument, answers)
    try:
        before = {a.code for a in alerts_for_score(score(instrument, old.answers))}
    except MicroTrialError:  # the earlier answers no longer score: treat every alert as new
        before = set()
    changed = sorted(
        k for k in set(answers) | set(old.answers) if answers.get(k) != old.answers.get(k)
    )
    new = supersede(
        session,
        old,
        {"answers": answers, "scores": score_json(result), "note": note},
        actor=actor,
        at=now,
        reason=reason,
        editable=CORRECTABLE,
    )
    audit_patient(
        session,
        actor,
        "correct",
        "diary_entry",
        old.record_id,
        patient,
        at=now,
        version=new.version,
        date=old.local_date.isoformat(),
        instrument=old.instrument_id,
        items=changed,
        note_changed=note != old.note,
    )
    # The same safety path as a new entry, on the new values.
    events = record_checklist_events(session, actor, patient, new, now)
    alerts = [a for a in alerts_for_score(result) if a.code not in before]
    if alerts:
        trigger: dict[str, Any] = {
            "diary_entry": new.record_id,
            "version": new.version,
            "date": new.local_date.isoformat(),
        }
        if events:
            trigger["adverse_events"] = [e.record_id for e in events]
        raise_alerts(session, actor, patient, alerts, trigger=trigger, now=now)
    run_diary_rules(session, [NewEntries(actor, patient, [new])], now)
    return new
