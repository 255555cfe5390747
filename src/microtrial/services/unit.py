"""The one opening of a service call: authorise, take the clock once, open one transaction.

And the one opening of a read of a patient's data: the transaction with the patient gate.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from types import TracebackType
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from microtrial.domain.access import Action, Scope, authorize
from microtrial.domain.actors import Actor
from microtrial.domain.inputs import require_text
from microtrial.services.common import (
    Clock,
    audit_patient,
    current_version,
    patient_for,
    system_clock,
)
from microtrial.store.db import Database
from microtrial.store.models import PatientRow


class UnitOfWork:
    """One service call's unit of work: who may act, when, and the transaction it writes in.

    Building it authorises ``actor`` for ``action`` (PermissionDenied naming the role, worded
    with ``doing`` where given) and keeps the scope; entering it reads the clock once (unless
    :attr:`now` was read before) and opens one transaction, giving ``(session, now)``; leaving
    it commits, or rolls back on any error. Input checks that must answer after the refusal
    but before the transaction go between building and entering::

        work = UnitOfWork(db, actor, Action.ACKNOWLEDGE_ALERT, clock=clock)
        with work.needs_text("note", note, "an acknowledgement needs a note") as (session, now):
            ...
            audit(session, actor, "acknowledge", "alert", alert.id, at=now)

    Audit events go through :func:`services.common.audit` (and its patient and list forms)
    in the same session, so they commit or roll back with the change they record.
    """

    def __init__(
        self,
        db: Database,
        actor: Actor,
        action: Action,
        *,
        clock: Clock = system_clock,
        doing: str | None = None,
    ) -> None:
        """Authorise ``actor`` for ``action`` now; the clock and the transaction wait."""
        self.scope: Scope = authorize(actor, action, doing)
        self.actor = actor
        self._db = db
        self._clock = clock
        self._now: dt.datetime | None = None
        self._transaction: AbstractContextManager[Session] | None = None

    def needs_text(self, field: str, text: str | None, missing: str) -> UnitOfWork:
        """This unit of work, once ``text`` is checked not blank (ValidationError naming ``field``
        with ``missing`` otherwise): after the refusal of a forbidden actor, before any write."""
        require_text(field, text or "", missing)
        return self

    @property
    def now(self) -> dt.datetime:
        """The one time this unit of work runs at (the clock is read on first use only)."""
        if self._now is None:
            self._now = self._clock()
        return self._now

    def __enter__(self) -> tuple[Session, dt.datetime]:
        """Open the transaction; the session and the time."""
        now = self.now
        self._transaction = self._db.transaction()
        return self._transaction.__enter__(), now

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        """Commit, or roll back on an error (which goes on to the caller)."""
        transaction, self._transaction = self._transaction, None
        if transaction is None:  # pragma: no cover - only after a failed __enter__
            return None
        return transaction.__exit__(exc_type, exc, traceback)


@contextmanager
def patient_transaction(
    db: Database, actor: Actor, patient_id: int
) -> Iterator[tuple[Session, PatientRow]]:
    """One transaction with the patient ``actor`` may read: the gate of every patient read.

    The patient is loaded by :func:`services.common.patient_for` (READ_PATIENT, then the same
    NotFound for a patient out of reach as for a missing one); commits on success, rolls back on
    any error. Reads audit through :func:`services.common.audit_patient` in this session.
    """
    with db.transaction() as session:
        yield session, patient_for(session, actor, patient_id)


def read_record(
    db: Database,
    actor: Actor,
    patient_id: int,
    model: Any,
    entity: str,
    record_id: str,
    *,
    clock: Clock = system_clock,
) -> tuple[Any, PatientRow]:
    """One current record of a patient and the patient, the read audited as ``entity``.

    NotFound for a record of another patient, as for a missing one.
    """
    with patient_transaction(db, actor, patient_id) as (session, patient):
        row = current_version(session, model, record_id, patient_id=patient.id)
        audit_patient(session, actor, "read", entity, record_id, patient, at=clock())
        return row, patient


def read_records(
    db: Database,
    actor: Actor,
    patient_id: int,
    model: Any,
    entity: str,
    *order: Any,
    limit: int | None = None,
    clock: Clock = system_clock,
) -> tuple[list[Any], PatientRow]:
    """A patient's current records of one kind in ``order`` (``limit`` at most) and the patient.

    The list is audited as ``entity`` with its count.
    """
    with patient_transaction(db, actor, patient_id) as (session, patient):
        query = select(model).where(model.patient_id == patient.id, model.is_current.is_(True))
        rows = list(session.execute(query.order_by(*order).limit(limit)).scalars())
        audit_patient(session, actor, "list", entity, None, patient, at=clock(), count=len(rows))
        return rows, patient
