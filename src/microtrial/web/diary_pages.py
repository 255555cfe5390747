"""A patient's saved diary days: see them, correct them with a reason, fill in missed ones.

The same pages serve the patient (``/diary``) and their site's clinicians
(``/clinic/patients/{id}/diary``); every correction is a new version with the reason kept.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, replace
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from microtrial.domain.access import Action
from microtrial.domain.actors import Actor
from microtrial.domain.alerts import crisis_rule_fires
from microtrial.domain.catalog import load_catalog
from microtrial.domain.patients import parse_date
from microtrial.errors import MicroTrialError, NotFound, PermissionDenied, ValidationError
from microtrial.http.deps import AppContext, ContextDep
from microtrial.i18n import N_
from microtrial.services import attacks, diary_corrections, dosing, patients, records
from microtrial.services.diary_corrections import DiaryVersionRead
from microtrial.services.patient_status import patient_status
from microtrial.web.day_reports import day_entries, report_sections
from microtrial.web.forms import FormItem, FormState, answers_from_form, form_items
from microtrial.web.rendering import render
from microtrial.web.session import FormUserDep, FormValuesDep, PageUser, PageUserDep

router = APIRouter(include_in_schema=False)

DIARY = "daily_diary"
# Words for the fields that are not instrument items (error messages name these).
LABELS = {
    "note": "Note for the day",
    "reason": "Reason for the correction",
    "date": "Date",
    "local_date": "Date",
}
NOTE_MAX = records.MAX_NOTE_LENGTH


def plain_label(text: str) -> str:
    """An item's question without the catalog's notes for developers (after " — ")."""
    return text.split(" — ")[0].strip()


def catalog_items(instrument_id: str) -> list[FormItem]:
    """The form items of a catalog instrument (none for an imported one)."""
    if instrument_id not in load_catalog().instruments:
        return []
    return [replace(item, text=plain_label(item.text)) for item in form_items(instrument_id)]


def label_of(field: str) -> str:
    """The words a patient sees for a field: an item's question or a named form field."""
    if field in LABELS:
        return LABELS[field]
    instrument_id = field.partition(".")[0]
    for item in catalog_items(instrument_id):
        if item.name == field:
            return item.text
    return field.replace("_", " ").capitalize()


def plain_error(err: MicroTrialError) -> tuple[str, str | None]:
    """An error as a sentence naming the field by its label, and the form field it belongs to."""
    if not isinstance(err, ValidationError):
        return str(err), None
    message = str(err).removeprefix(f"{err.field}: ")
    return f"{label_of(err.field)}: {message}", err.field


def shown_value(item: FormItem, value: Any) -> str:
    """An answer in words: yes/no, a scale value with its label, a choice."""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, int) and item.labels:
        return f"{value} – {item.labels.get(value, value)}"
    if item.type == "choice":
        return str(value).replace("-", " ").capitalize()
    return str(value)


def shown_answers(instrument_id: str, answers: dict[str, Any]) -> list[tuple[str, str]]:
    """(question, answer in words) for each answered item, in the instrument's order."""
    items = catalog_items(instrument_id)
    if not items:
        return [(k.replace("_", " ").capitalize(), str(v)) for k, v in answers.items()]
    by_id = {i.name.partition(".")[2]: i for i in items}
    return [(by_id[k].text, shown_value(by_id[k], answers[k])) for k in by_id if k in answers]


def instrument_title(instrument_id: str) -> str:
    """An instrument's title in words."""
    catalog = load_catalog()
    if instrument_id in catalog.instruments:
        return catalog.instrument(instrument_id).title
    return instrument_id.replace("_", " ").capitalize()


def form_values(instrument_id: str, answers: dict[str, Any]) -> dict[str, str]:
    """Saved answers as the form's submitted values (a checked box is "on")."""
    values = {}
    for key, value in answers.items():
        name = f"{instrument_id}.{key}"
        values[name] = ("on" if value else "") if isinstance(value, bool) else str(value)
    return values


@dataclass(frozen=True)
class Who:
    """Whose diary a page shows, and where its pages live."""

    actor: Actor
    patient_id: int
    base: str  # "/diary" or "/clinic/patients/ID/diary"
    study_code: str | None  # shown to clinicians
    patient_facing: bool


def _patient(user: PageUser) -> Who:
    actor = user.require(Action.USE_PATIENT_APP)
    if actor.patient_id is None:
        raise PermissionDenied("this user is not linked to a patient")
    return Who(actor, actor.patient_id, "/diary", None, True)


def _clinic(context: AppContext, user: PageUser, patient_id: int) -> Who:
    actor = user.require(Action.USE_CLINIC_PAGES)
    patient = patients.get_patient(context.db, actor, patient_id, clock=context.clock)
    return Who(actor, patient_id, f"/clinic/patients/{patient_id}/diary", patient.study_code, False)


def _day(text: str) -> dt.date:
    try:
        return parse_date("date", text)
    except ValidationError as err:
        raise NotFound("date: no such day") from err


def _list_page(
    request: Request, context: AppContext, who: Who, before: str | None = None
) -> HTMLResponse:
    window = diary_corrections.diary_window(
        context.db, who.actor, who.patient_id, clock=context.clock
    )
    entries = records.list_diary_entries(context.db, who.actor, who.patient_id, clock=context.clock)
    by_day: dict[dt.date, list[str]] = {}
    notes: dict[dt.date, str] = {}
    for e in entries:
        by_day.setdefault(e.local_date, []).append(instrument_title(e.instrument_id))
        if e.note:
            notes[e.local_date] = e.note
    older = sorted((d for d in by_day if d < window.earliest), reverse=True)
    shown = window.open_days(_day(before) if before else None)
    kinds = attacks.patient_attack_instruments(context.db, who.actor, who.patient_id)
    earlier = shown[-1] if shown and shown[-1] > window.earliest else None
    return render(
        request,
        "diary_days.html",
        {
            "who": who,
            "window": window,
            "open_days": shown,
            "earlier": earlier,
            "older": older[:60] if not who.patient_facing else [],
            "by_day": by_day,
            "notes": notes,
            "attack_link": bool(kinds) and who.patient_facing,
            "attacks": []
            if who.patient_facing or not kinds
            else attacks.list_attacks(context.db, who.actor, who.patient_id, clock=context.clock),
        },
    )


def _day_page(
    request: Request,
    context: AppContext,
    who: Who,
    day: dt.date,
    *,
    flash: str | None = None,
    crisis: bool = False,
) -> HTMLResponse:
    window = diary_corrections.diary_window(
        context.db, who.actor, who.patient_id, clock=context.clock
    )
    found = diary_corrections.diary_day(
        context.db, who.actor, who.patient_id, day, clock=context.clock
    )
    entries: list[dict[str, Any]] = []
    for instrument_id, versions in sorted(found.items(), key=lambda kv: kv[0] != DIARY):
        latest: DiaryVersionRead = versions[-1]
        entries.append(
            {
                "id": instrument_id,
                "title": instrument_title(instrument_id),
                "answers": shown_answers(instrument_id, latest.answers),
                "latest": latest,
                "earlier": [
                    (v, shown_answers(instrument_id, v.answers)) for v in reversed(versions[:-1])
                ],
                "correctable": bool(catalog_items(instrument_id)),
            }
        )
    # The capsules recorded that day beside the diary's own answer: a check-in refused after
    # the diary was saved leaves the answer "taken" with no dose, and the page says so.
    doses = dosing.doses_on_day(context.db, who.actor, who.patient_id, day, clock=context.clock)
    diary = found.get(DIARY) or []
    said_taken = bool(diary) and diary[-1].answers.get("dose_check_in") == "taken"
    lines = (
        patient_status(context.db, who.actor, clock=context.clock).crisis_lines if crisis else []
    )
    return render(
        request,
        "diary_day.html",
        {
            "who": who,
            "day": day,
            "entries": entries,
            "doses": doses,
            "taken_not_recorded": said_taken and not doses,
            "may_correct": window.may_correct(who.actor, day),
            "may_fill": who.patient_facing
            and DIARY not in found
            and window.earliest <= day <= window.today,
            "flash": flash,
            "crisis": crisis,
            "crisis_lines": lines,
        },
    )


def _correct_page(
    request: Request,
    context: AppContext,
    who: Who,
    day: dt.date,
    instrument_id: str,
    *,
    values: dict[str, str] | None = None,
    error: MicroTrialError | None = None,
) -> HTMLResponse:
    items = catalog_items(instrument_id)
    if not items:
        raise NotFound("record: this entry cannot be corrected here")
    entry = diary_corrections.get_diary_entry(
        context.db, who.actor, who.patient_id, instrument_id, day, clock=context.clock
    )
    window = diary_corrections.diary_window(
        context.db, who.actor, who.patient_id, clock=context.clock
    )
    if not window.may_correct(who.actor, day):
        earliest = window.earliest.strftime("%d %B %Y")
        raise PermissionDenied(f"days before {earliest} can only be corrected by your clinic")
    if values is None:
        values = form_values(instrument_id, entry.answers) | {"note": entry.note or ""}
    message, field = plain_error(error) if error is not None else (None, None)
    return render(
        request,
        "diary_correct.html",
        {
            "who": who,
            "day": day,
            "instrument_id": instrument_id,
            "title": instrument_title(instrument_id),
            "items": items,
            "values": values,
            "version": entry.version,
            "with_note": instrument_id == DIARY,
            "note_max": NOTE_MAX,
            "error": message,
            "error_field": field,
        },
        status=422 if error is not None else 200,
    )


def _submit_correction(
    request: Request, context: AppContext, who: Who, day: dt.date, values: dict[str, str]
) -> Response:
    instrument_id = values.get("instrument", DIARY)
    try:
        correction = diary_corrections.DiaryCorrection(
            local_date=day,
            reason=values.get("reason", ""),
            answers=dict(answers_from_form(instrument_id, values)),
            instrument_id=instrument_id,
            replace=True,
            note=values.get("note", ""),
            note_given=instrument_id == DIARY,
        )
        version = values.get("version", "")
        diary_corrections.correct_diary_entry(
            context.db,
            who.actor,
            who.patient_id,
            correction,
            expected_version=int(version) if version.isdigit() else None,
            clock=context.clock,
        )
    except ValidationError as err:
        return _correct_page(request, context, who, day, instrument_id, values=values, error=err)
    if who.patient_facing and crisis_rule_fires(instrument_id, correction.answers):
        return _day_page(
            request, context, who, day, flash=N_("Your correction is saved."), crisis=True
        )
    return RedirectResponse(f"{who.base}/{day.isoformat()}?corrected=1", status_code=303)


# ------------------------------------------------------------------ the patient's own pages


@router.get("/diary")
def my_diary(
    context: ContextDep, request: Request, user: PageUserDep, before: str | None = None
) -> HTMLResponse:
    """The days the patient can still fill in or correct, and which are saved."""
    return _list_page(request, context, _patient(user), before)


@router.get("/diary/{day}")
def my_day(
    context: ContextDep, request: Request, user: PageUserDep, day: str, corrected: int = 0
) -> HTMLResponse:
    """One saved day: the answers, the note, earlier versions."""
    flash = N_("Your correction is saved.") if corrected else None
    return _day_page(request, context, _patient(user), _day(day), flash=flash)


@router.get("/diary/{day}/correct")
def my_correct_form(
    context: ContextDep, request: Request, user: PageUserDep, day: str, instrument: str = DIARY
) -> HTMLResponse:
    """The day's saved answers in a form, with a reason to give."""
    return _correct_page(request, context, _patient(user), _day(day), instrument)


@router.post("/diary/{day}/correct")
def my_correct(
    context: ContextDep, request: Request, user: FormUserDep, values: FormValuesDep, day: str
) -> Response:
    """Save the correction (a new version; the earlier answers are kept)."""
    return _submit_correction(request, context, _patient(user), _day(day), values)


def _fill_page(
    request: Request,
    who: Who,
    day: dt.date,
    *,
    values: dict[str, str] | None = None,
    error: ValidationError | None = None,
) -> HTMLResponse:
    values = values or {}
    # A refusal shows beside the field it names (a diary item, a side effect, the blood pressure).
    form = FormState.refused("fill", values, error) if error is not None else None
    return render(
        request,
        "diary_fill.html",
        {
            "who": who,
            "day": day,
            "items": [i for i in catalog_items(DIARY) if i.name != f"{DIARY}.dose_check_in"],
            **report_sections(values),
            "values": values,
            "submission_id": values.get("submission_id") or uuid.uuid4().hex,
            "note_max": NOTE_MAX,
            "form": form,
            "error": form.message if form else None,
        },
        status=422 if error is not None else 200,
    )


@router.get("/diary/{day}/fill")
def fill_form(context: ContextDep, request: Request, user: PageUserDep, day: str) -> Response:
    """The diary form for a missed day inside the site's window."""
    who, when = _patient(user), _day(day)
    if DIARY in diary_corrections.diary_day(context.db, who.actor, who.patient_id, when):
        return RedirectResponse(f"/diary/{when.isoformat()}", status_code=303)
    return _fill_page(request, who, when)


@router.post("/diary/{day}/fill")
def fill(
    context: ContextDep, request: Request, user: FormUserDep, values: FormValuesDep, day: str
) -> Response:
    """Save a missed day's diary with its side effects and blood pressure when given (the same
    records path and safety checks as Today, inside the site's window)."""
    who, when = _patient(user), _day(day)
    try:
        entries = day_entries(when, values, diary=True)
        records.record_diary_entries(
            context.db, who.actor, who.patient_id, entries, clock=context.clock
        )
    except ValidationError as err:
        return _fill_page(request, who, when, values=values, error=err)
    if patient_status(context.db, who.actor, clock=context.clock).urgent_care:
        # What was reported calls for medical help now: Today says so, with the numbers.
        return RedirectResponse("/today?saved=day", status_code=303)
    return RedirectResponse(f"/diary/{when.isoformat()}?saved=1", status_code=303)


# ------------------------------------------------------------------ the clinic's pages


@router.get("/clinic/patients/{patient_id}/diary")
def clinic_diary(
    context: ContextDep,
    request: Request,
    user: PageUserDep,
    patient_id: int,
    before: str | None = None,
) -> HTMLResponse:
    """A patient's diary days, for their site's clinicians."""
    return _list_page(request, context, _clinic(context, user, patient_id), before)


@router.get("/clinic/patients/{patient_id}/diary/{day}")
def clinic_day(
    context: ContextDep,
    request: Request,
    user: PageUserDep,
    patient_id: int,
    day: str,
    corrected: int = 0,
) -> HTMLResponse:
    """One day of a patient's diary with every version."""
    flash = "The correction is saved." if corrected else None
    return _day_page(request, context, _clinic(context, user, patient_id), _day(day), flash=flash)


@router.get("/clinic/patients/{patient_id}/diary/{day}/correct")
def clinic_correct_form(
    context: ContextDep,
    request: Request,
    user: PageUserDep,
    patient_id: int,
    day: str,
    instrument: str = DIARY,
) -> HTMLResponse:
    """Correct a patient's day (with a reason)."""
    return _correct_page(
        request, context, _clinic(context, user, patient_id), _day(day), instrument
    )


@router.post("/clinic/patients/{patient_id}/diary/{day}/correct")
def clinic_correct(
    context: ContextDep,
    request: Request,
    user: FormUserDep,
    values: FormValuesDep,
    patient_id: int,
    day: str,
) -> Response:
    """Save a clinician's correction (a new version; the patient's answers are kept)."""
    return _submit_correction(
        request, context, _clinic(context, user, patient_id), _day(day), values
    )
