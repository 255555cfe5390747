"""The bulk demo's in-memory rows: ids, versioned records, audit events and alerts.

What each service writes through the ORM (``stamp``, ``audit_patient``, ``raise_alerts``) is
mirrored here as column values, so that a patient computed in memory lands as the same rows and
audit events the normal path would have written.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

from microtrial.domain.actors import Actor
from microtrial.domain.alerts import Alert
from microtrial.domain.lifecycle import TrialAction, TrialStatus, next_status
from microtrial.services.alerts import DEDUPLICATED, DOSE_BLOCKING, PAUSING
from microtrial.store.bulk import table_of
from microtrial.store.models import (
    AdverseEventRow,
    AlertRow,
    AllocationRow,
    AuditEventRow,
    BlindingGuessRow,
    ConditionRow,
    DiaryEntryRow,
    DoseEventRow,
    HistoryFlagRow,
    KitRow,
    MedicationRow,
    PatientRow,
    PeriodRow,
    ScreeningResultRow,
    TrialRow,
    UserRow,
)

# Every table the bulk path writes, parents first (the order of the INSERTs).
MODELS = (
    PatientRow,
    UserRow,
    ConditionRow,
    HistoryFlagRow,
    MedicationRow,
    ScreeningResultRow,
    TrialRow,
    AllocationRow,
    PeriodRow,
    KitRow,
    DiaryEntryRow,
    DoseEventRow,
    BlindingGuessRow,
    AdverseEventRow,
    AlertRow,
    AuditEventRow,
)


@dataclass
class Rows:
    """Rows waiting to be inserted, by table name, with the next free id of each table."""

    ids: dict[str, int]
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def add(self, model: type[Any], values: dict[str, Any]) -> dict[str, Any]:
        """Give ``values`` the table's next id and queue it; return it."""
        name = table_of(model).name
        values["id"] = self.ids[name]
        self.ids[name] += 1
        self.tables.setdefault(name, []).append(values)
        return values

    def count(self, model: type[Any]) -> int:
        """How many rows of ``model`` are queued."""
        return len(self.tables.get(table_of(model).name, []))


def stamped(actor: Actor, at: dt.datetime, reason: str | None = None) -> dict[str, Any]:
    """A new versioned record's version columns, as ``services.common.stamp`` fills them."""
    return {
        "record_id": str(uuid.uuid4()),
        "version": 1,
        "is_current": True,
        "recorded_at": at,
        "recorded_by": actor.label,
        "recorded_by_user_id": actor.user_id,
        "change_reason": reason,
    }


@dataclass
class PatientRows:
    """One patient's rows being computed: the patient row, its open alerts and trial."""

    rows: Rows
    patient: dict[str, Any]
    trial: dict[str, Any] | None = None
    open_codes: list[tuple[str, str]] = field(default_factory=list)  # (code, action)
    # Codes of the open alerts that keep a trial from starting or resuming (``blocks_resume``;
    # the bulk demo acknowledges none, so a stop-for-good alert stays among them).
    blocking: list[str] = field(default_factory=list)
    causes: set[str] = field(default_factory=set)

    @property
    def pid(self) -> int:
        """The patient's id."""
        return int(self.patient["id"])

    def audit(
        self,
        actor: Actor,
        action: str,
        entity: str,
        entity_id: object,
        at: dt.datetime,
        /,
        **detail: Any,
    ) -> None:
        """One audit event about this patient (``services.common.audit_patient``)."""
        self.rows.add(
            AuditEventRow,
            {
                "at": at,
                "actor": actor.label,
                "actor_user_id": actor.user_id,
                "actor_role": actor.role.value,
                "site_id": self.patient["site_id"],
                "patient_id": self.pid,
                "action": action,
                "entity": entity,
                "entity_id": None if entity_id is None else str(entity_id),
                "detail": detail,
            },
        )

    def record(
        self, actor: Actor, model: type[Any], entity: str, at: dt.datetime, **values: Any
    ) -> dict[str, Any]:
        """A new versioned record of this patient and its audited creation (``add_audited``)."""
        detail = values.pop("audit_detail", {})
        row = self.rows.add(model, {"patient_id": self.pid, **values, **stamped(actor, at)})
        self.audit(actor, "create", entity, row["record_id"], at, **detail)
        return row

    def trial_record(
        self, actor: Actor, model: type[Any], entity: str, at: dt.datetime, **values: Any
    ) -> dict[str, Any]:
        """A new versioned record of this patient's trial (``record`` with the trial's id)."""
        assert self.trial is not None
        return self.record(actor, model, entity, at, trial_id=self.trial["id"], **values)

    def held(self) -> bool:
        """Whether an open alert forbids a dose now."""
        return any(action in DOSE_BLOCKING for _, action in self.open_codes)

    def raise_alerts(
        self,
        actor: Actor,
        alerts: list[Alert],
        trigger: dict[str, Any],
        at: dt.datetime,
        today: dt.date,
    ) -> list[dict[str, Any]]:
        """Store alerts and pause a running trial on a pausing one (``services.alerts``)."""
        stored: list[dict[str, Any]] = []
        for alert in alerts:
            if alert.code in DEDUPLICATED and any(c == alert.code for c, _ in self.open_codes):
                continue
            trial_id = self.trial["id"] if self.trial and self.active() else None
            row = self.rows.add(
                AlertRow,
                {
                    "site_id": self.patient["site_id"],
                    "patient_id": self.pid,
                    "trial_id": trial_id,
                    "code": alert.code,
                    "severity": alert.severity,
                    "action": alert.action,
                    "message": alert.message + (f" ({alert.detail})" if alert.detail else ""),
                    "source": "; ".join(alert.sources),
                    "trigger": trigger,
                    "created_at": at,
                },
            )
            self.audit(
                actor, "create", "alert", row["id"], at, code=alert.code, action=alert.action
            )
            self.open_codes.append((alert.code, alert.action))
            if alert.action in DOSE_BLOCKING or alert.severity == "urgent":
                self.blocking.append(alert.code)
            stored.append(row)
            if (
                self.trial
                and alert.action in PAUSING
                and self.trial["status"] == TrialStatus.RUNNING.value
            ):
                self.pause_trial(f"paused by alert {alert.code}", today)
                self.audit(actor, "pause", "trial", self.trial["id"], at, alert=row["id"])
        return stored

    def pause_trial(self, reason: str, today: dt.date) -> None:
        """Pause the running trial from ``today`` (``services.alerts.mark_paused``)."""
        assert self.trial is not None
        self.trial["status"] = next_status(str(self.trial["status"]), TrialAction.PAUSE).value
        self.trial["status_reason"] = reason
        self.trial["plan"] = self.trial["plan"].paused(today)
        self.trial["lock_version"] += 1

    def active(self) -> bool:
        """Whether the patient's trial is scheduled, running or paused (watched by the rules)."""
        return self.trial is not None and self.trial["status"] in (
            TrialStatus.SCHEDULED.value,
            TrialStatus.RUNNING.value,
            TrialStatus.PAUSED.value,
        )
