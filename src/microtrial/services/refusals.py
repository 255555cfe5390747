"""Audit events for what was refused: out-of-scope or forbidden requests, failed sign-ins.

A refusal rolls back the transaction that raised it, so its event is written in a transaction of
its own. The event is filed under the caller's own site (never the refused object's patient or
site) and holds only what the caller sent: method, path, status; no data of the refused object.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from microtrial.domain.actors import Actor
from microtrial.services.common import audit
from microtrial.store.audit import append_event
from microtrial.store.db import Database
from microtrial.store.models import AuditEventRow

ANONYMOUS = "anonymous"  # the actor of a failed sign-in: nobody is signed in
MAX_TEXT = 200  # paths and usernames are cut to this length in an event


def record_refusal(
    db: Database,
    actor: Actor,
    *,
    status: int,
    method: str,
    path: str,
    at: dt.datetime,
    refusal: str | None = None,
) -> None:
    """Audit a request refused as out of scope (404) or forbidden (403) for ``actor``."""
    detail: dict[str, Any] = {"status": status, "method": method[:10], "path": path[:MAX_TEXT]}
    if refusal is not None:
        detail["refusal"] = refusal[:MAX_TEXT]
    with db.transaction() as session:
        audit(session, actor, "refused", "request", at=at, site_id=actor.site_id, detail=detail)


def record_failed_login(
    db: Database,
    *,
    user_id: int | None,
    username: str | None,
    site_id: int | None,
    why: str,
    client: str | None,
    at: dt.datetime,
) -> None:
    """Audit a failed sign-in: the account tried (only when it exists), why, and from where.

    A name that matches no account is not stored (it may be a password typed in the wrong
    field); an existing account's event is filed under its site.
    """
    detail: dict[str, Any] = {"username": username, "why": why}
    if client is not None:
        detail["client"] = client[:100]
    with db.transaction() as session:
        append_event(
            session,
            AuditEventRow(
                at=at,
                actor=ANONYMOUS,
                actor_user_id=None,
                actor_role=ANONYMOUS,
                site_id=site_id,
                patient_id=None,
                action="login-failed",
                entity="user",
                entity_id=None if user_id is None else str(user_id),
                detail=detail,
            ),
        )
