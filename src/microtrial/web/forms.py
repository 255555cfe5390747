"""Forms on the web pages: instrument items as fields, and the state of a refused form.

A refused form is drawn again with what was typed and the error beside its field: the route
catches the refusal and builds a :class:`FormState` from the submitted values and the error
(:meth:`FormState.refused`); the template draws each field with the macros of ``_form.html``,
which mark the invalid one (``aria-invalid``, ``aria-describedby``); ``app.js`` moves the focus
to it. Messages name the field by the label the person reads, never by an internal id.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from microtrial.domain.catalog import Instrument, Item, load_catalog
from microtrial.errors import (
    ConflictError,
    InvalidFields,
    MicroTrialError,
    SafetyBlock,
    StaleVersion,
    ValidationError,
)
from microtrial.http.errors import status_for

Answer = int | bool | str

# The refusals a form answers by drawing itself again (others, such as 404 or 403, are pages).
REFUSALS: tuple[type[MicroTrialError], ...] = (ValidationError, ConflictError, SafetyBlock)

# Labels of the fields services name, for messages outside a form (the error page). A form's
# own labels (FormSpec) come first.
FIELD_LABELS: dict[str, str] = {
    "tz": "Time zone",
    "time_zone": "Time zone",
    "birth_year": "Year of birth",
    "study_code": "Study code",
    "sex": "Sex",
    "condition": "Conditions",
    "conditions": "Conditions",
    "local_date": "Date",
    "kit_code": "Kit code",
    "medication": "Medication",
    "substance": "Substance",
    "amount": "Amount per dose",
    "unit": "Unit",
    "start_date": "First day",
    "weekdays": "Dose weekdays",
    "template": "Regimen",
    "reason": "Reason",
    "note": "Note",
    "confirm": "Confirmation",
    "grade": "Grade",
    "onset_date": "Onset date",
    "resolved_date": "Resolution date",
    "outcome": "Outcome",
    "term": "Event",
    "username": "Username",
    "password": "Password",
    "email": "E-mail",
    "site": "Site",
    "role": "Role",
    "guess": "Your guess",
    "period": "Period",
    "trial": "Trial",
    "version": "Version",
    "screening": "Screening",
    "patient": "Patient",
}
LONG_LABEL = 60  # characters: a label this long is a question, not a field name
_FIELD_PREFIX = re.compile(r"^([a-z][a-z0-9_]*(?:\.[a-z0-9_]+)?): (.+)$", re.DOTALL)


@dataclass(frozen=True)
class FormSpec:
    """A form's fields: the label of each field name, and which service field names mean which."""

    labels: Mapping[str, str]
    aliases: Mapping[str, str] = field(default_factory=dict)
    secret: frozenset[str] = frozenset({"password"})
    # fields drawn as choices: a message need not list what is allowed, the page shows it
    choices: frozenset[str] = frozenset()

    def field_for(self, name: str) -> str | None:
        """The form field a service's field name refers to, if this form has it."""
        name = self.aliases.get(name, name)
        return name if name in self.labels else None


@dataclass(frozen=True)
class FormState:
    """A submitted form: its typed values, and the error of each field (or of the whole form)."""

    key: str
    values: Mapping[str, str]
    errors: Mapping[str, str]
    message: str
    status: int = 422

    @classmethod
    def refused(
        cls, key: str, values: Mapping[str, str], error: Exception, spec: FormSpec | None = None
    ) -> FormState:
        """The form ``key`` as typed, with ``error`` beside its field (secrets not kept); each
        error of an ``InvalidFields`` beside its own field, and all of them in the message."""
        spec = spec or FormSpec({})
        errors: dict[str, str] = {}
        messages: list[str] = []
        for one in error.errors if isinstance(error, InvalidFields) else (error,):
            target, message, beside = _placed(one, spec)
            if target and target not in errors:
                errors[target] = beside
            messages.append(message)
        kept = {k: v for k, v in values.items() if k not in spec.secret and k != "csrf_token"}
        status = status_for(error) if isinstance(error, MicroTrialError) else 422
        return cls(key, kept, errors, "; ".join(messages), status)

    def value(self, name: str, default: object = "") -> str:
        """The typed value of ``name`` (``default`` when it was not sent)."""
        return self.values.get(name, str(default))

    def error(self, name: str) -> str | None:
        """The message beside field ``name``, if it was refused."""
        return self.errors.get(name)


def _placed(error: Exception, spec: FormSpec) -> tuple[str | None, str, str]:
    """A refusal's field on the form (None: the whole form's), its message for the summary,
    and its message beside the field."""
    name, text = split_message(error)
    target = spec.field_for(name) if name else None
    if target is None and name and catalog_item(name) is not None:
        target = name  # an instrument item: its field is named <instrument>.<item>
    label = spec.labels.get(target or "") or (field_label(name) if name else "")
    if target in spec.choices:
        text = re.sub(r" \(allowed: [^)]*\)$", "", text)
    message = f"{label}: {text}" if label else text
    # Beside its field the message names it too, unless the label is a whole question
    # printed just above (the summary at the top of the page names it either way).
    beside = message if len(label) <= LONG_LABEL else text[:1].upper() + text[1:]
    return target, message, beside


def split_message(error: Exception) -> tuple[str | None, str]:
    """A refusal as (service field name or None, the message without the field name)."""
    text = str(error)
    if isinstance(error, StaleVersion):
        return None, "someone changed this since the page was loaded: check it and try again"
    if isinstance(error, ValidationError):
        detail = text.removeprefix(f"{error.field}: ")
        return error.field, _plain_detail(error.field, detail)
    found = _FIELD_PREFIX.match(text)
    if found:
        return found.group(1), found.group(2)
    return None, text


def _plain_detail(name: str, detail: str) -> str:
    """Word a service's detail for a person (an unanswered question, allowed answers)."""
    if detail.startswith("required item not answered"):
        return "please answer this question"
    item = catalog_item(name)
    if item is not None and item.patient_answers is not None:
        return re.sub(r" \(allowed: [^)]*\)$", "", detail)
    detail = detail.removesuffix(" (allowed: non-empty text)")
    return detail.replace("(allowed: integer ", "(allowed: whole numbers ")


def catalog_item(name: str) -> Item | None:
    """The catalog item a form field ``<instrument>.<item>`` names, if any."""
    instrument_id, _, item_id = name.partition(".")
    if not item_id:
        return None
    try:
        return load_catalog().instrument(instrument_id).item(item_id)
    except (KeyError, MicroTrialError):
        return None


def field_label(name: str) -> str:
    """The label a person reads for a field a service names (never the internal id)."""
    item = catalog_item(name)
    if item is not None:
        return item.patient_text or item.text
    if name in FIELD_LABELS:
        return FIELD_LABELS[name]
    return name.rsplit(".", 1)[-1].replace("_", " ").capitalize()


def plain_message(text: str) -> str:
    """An error text with internal field names (of each "; " part) replaced by their labels."""
    return "; ".join(_plain_part(part) for part in text.split("; "))


def _plain_part(text: str) -> str:
    found = _FIELD_PREFIX.match(text)
    if not found:
        return text
    name, rest = found.groups()
    if name.startswith("required item not answered"):
        return text
    return f"{field_label(name)}: {_plain_detail(name, rest)}"


@dataclass(frozen=True)
class FormItem:
    """What a template needs to draw one item (patient words only: no staff notes)."""

    name: str
    id: str
    text: str
    type: str
    min: int | None
    max: int | None
    required: bool
    options: tuple[str, ...]
    labels: dict[int, str]
    choices: tuple[tuple[int, str], ...]
    numbered: bool


def instrument(instrument_id: str) -> Instrument:
    """A catalog instrument by id."""
    return load_catalog().instrument(instrument_id)


def _choices(item: Item) -> tuple[tuple[int, str], ...]:
    """The answers a patient is offered: plain words when the catalog maps them to grades."""
    if item.patient_answers is not None:
        return tuple(sorted(item.patient_answers.labels.items()))
    if item.type != "integer" or item.min is None or item.max is None:
        return ()
    labels = item.labels or {}
    return tuple((v, labels.get(v, str(v))) for v in range(item.min, item.max + 1))


def form_items(instrument_id: str) -> list[FormItem]:
    """The items of an instrument as form fields named ``<instrument>.<item>``."""
    inst = instrument(instrument_id)
    items = []
    for item in inst.items:
        plain = item.patient_answers is not None
        labels = item.patient_answers.labels if item.patient_answers else item.labels
        items.append(
            FormItem(
                name=f"{inst.id}.{item.id}",
                id=f"{inst.id}-{item.id}".replace("_", "-"),
                text=item.patient_text or item.text,
                type=item.type,
                min=item.min,
                max=item.max,
                required=item.required,
                options=tuple(item.options or ()),
                labels=dict(labels or {}),
                choices=_choices(item),
                numbered=not plain,
            )
        )
    return items


def _integer(item: Item, name: str, value: str) -> int:
    try:
        number = int(value)
    except ValueError as err:
        raise ValidationError(
            name, f"{value!r} is not a whole number", value=value, allowed=item.allowed()
        ) from err
    offered = item.patient_answers.labels if item.patient_answers is not None else None
    if offered is not None and number not in offered:
        raise ValidationError(
            name, "choose one of the answers", value=value, allowed=list(offered.values())
        )
    return number


def answers_from_form(instrument_id: str, form: Mapping[str, object]) -> dict[str, Answer]:
    """The answers to one instrument in a submitted form (blank fields are left out)."""
    inst = instrument(instrument_id)
    answers: dict[str, Answer] = {}
    for item in inst.items:
        name = f"{inst.id}.{item.id}"
        raw = form.get(name)
        if item.type == "boolean":
            if raw is not None:
                answers[item.id] = raw in ("on", "true", "1", "yes")
            continue
        if not isinstance(raw, str) or not raw.strip():
            continue
        value = raw.strip()
        answers[item.id] = _integer(item, name, value) if item.type == "integer" else value
    return answers
