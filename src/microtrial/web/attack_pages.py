"""The patient's headache-attack log (migraine, cluster headache), offered only to patients
whose conditions call for it."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from microtrial.domain.access import Action
from microtrial.domain.attacks import ATTACK_ITEMS
from microtrial.domain.catalog import load_catalog
from microtrial.domain.inputs import check_moment
from microtrial.errors import MicroTrialError, PermissionDenied, ValidationError
from microtrial.http.creates import create_once
from microtrial.http.deps import AppContext, ContextDep
from microtrial.i18n import N_
from microtrial.services import attacks
from microtrial.web.rendering import render
from microtrial.web.session import FormUserDep, FormValuesDep, PageUser, PageUserDep

router = APIRouter(include_in_schema=False)

LABELS = {
    "started": "When it started",
    "ended": "When it ended",
    "severity": "How bad it was",
    "medication": "Medicine",
    "instrument": "Kind of attack",
    "date": "When it started",
}
TITLES = {
    "migraine_diary": N_("Migraine attack"),
    "cluster_attack_log": N_("Cluster headache attack"),
}


def attack_form(instrument_id: str) -> dict[str, Any]:
    """What the form asks for one kind of attack, in the catalog's words."""
    inst = load_catalog().instrument(instrument_id)
    items = ATTACK_ITEMS[instrument_id]
    severity = inst.item(items.severity_item)
    low = 1 if severity.labels else (severity.min or 0)
    high = severity.max if severity.max is not None else low
    labels = dict(severity.labels or {})
    return {
        "id": instrument_id,
        "title": TITLES.get(instrument_id, inst.title),
        "severity": [
            (v, f"{v} – {labels[v]}" if v in labels else str(v)) for v in range(low, high + 1)
        ],
        "scale": not labels,
        "severity_item": items.severity_item,
        "labels": labels,
        "medications": [(i, inst.item(i).text) for i in items.medication_items],
    }


def _moment(field: str, text: str) -> dt.datetime | None:
    if not text.strip():
        return None
    try:
        moment = dt.datetime.fromisoformat(text.strip()).replace(second=0, microsecond=0)
    except ValueError as err:
        raise ValidationError(field, "enter the date and time") from err
    return check_moment(field, moment)


def _own(user: PageUser) -> tuple[Any, int]:
    actor = user.require(Action.USE_PATIENT_APP)
    if actor.patient_id is None:
        raise PermissionDenied("this user is not linked to a patient")
    return actor, actor.patient_id


def _page(
    request: Request,
    context: AppContext,
    user: PageUser,
    *,
    values: dict[str, str] | None = None,
    error: MicroTrialError | None = None,
    flash: str | None = None,
) -> HTMLResponse:
    actor, pid = _own(user)
    kinds = attacks.patient_attack_instruments(context.db, actor, pid)
    message, field = None, None
    if isinstance(error, ValidationError):
        text = str(error).removeprefix(f"{error.field}: ")
        message = f"{LABELS.get(error.field, error.field)}: {text}"
        field = error.field
    forms = [attack_form(k) for k in kinds]
    return render(
        request,
        "attacks.html",
        {
            "forms": forms,
            "names": {f["id"]: f for f in forms},
            "recent": attacks.list_attacks(context.db, actor, pid, clock=context.clock)
            if kinds
            else [],
            "values": values or {},
            "submission_id": (values or {}).get("submission_id") or uuid.uuid4().hex,
            "error": message,
            "error_field": field,
            "flash": flash,
        },
        status=422 if error is not None else 200,
    )


@router.get("/attacks")
def attack_log(
    context: ContextDep, request: Request, user: PageUserDep, saved: int = 0
) -> HTMLResponse:
    """Log an attack and see the latest ones."""
    return _page(request, context, user, flash=N_("Your attack is saved.") if saved else None)


@router.post("/attacks")
def log(
    context: ContextDep, request: Request, user: FormUserDep, values: FormValuesDep
) -> Response:
    """Save one attack (once per form submission: a form kept offline may be sent again);
    its day's headache diary is brought up to date."""
    actor, pid = _own(user)
    instrument_id = values.get("instrument", "")
    try:
        started = _moment("started", values.get("started", ""))
        if started is None:
            raise ValidationError("started", "enter the date and time")
        severity = values.get("severity", "")
        if not severity.isdigit():
            raise ValidationError("severity", "choose how bad it was")
        items = ATTACK_ITEMS.get(instrument_id)
        given = {i for i in (items.medication_items if items else ()) if values.get(i) == "on"}
        attack = attacks.AttackInput(
            instrument_id,
            started,
            _moment("ended", values.get("ended", "")),
            int(severity),
            frozenset(given),
            values.get("medication_text", ""),
        )
        create_once(
            context,
            Response(),
            key=f"web-{values.get('submission_id') or uuid.uuid4().hex}-attack",
            scope=f"attack:patient:{pid}:user:{actor.user_id}",
            resource="attack",
            payload={
                "instrument": instrument_id,
                "started": started.isoformat(),
                "ended": values.get("ended", "").strip(),
                "severity": int(severity),
                "medication_items": sorted(given),
                "medication": values.get("medication_text", "").strip(),
            },
            create=lambda: (
                attacks.log_attack(context.db, actor, pid, attack, clock=context.clock).record_id
            ),
            fetch=lambda record_id: record_id,
            ident=lambda record_id: record_id,
        )
    except ValidationError as err:
        return _page(request, context, user, values=values, error=err)
    return RedirectResponse("/attacks?saved=1", status_code=303)
