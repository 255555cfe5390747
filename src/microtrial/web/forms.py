"""Turn submitted form fields into instrument answers, using the catalog's item definitions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from microtrial.domain.catalog import Instrument, load_catalog
from microtrial.errors import ValidationError

Answer = int | bool | str


@dataclass(frozen=True)
class FormItem:
    """What a template needs to draw one item."""

    name: str
    id: str
    text: str
    type: str
    min: int | None
    max: int | None
    required: bool
    options: tuple[str, ...]
    labels: dict[int, str]


def instrument(instrument_id: str) -> Instrument:
    """A catalog instrument by id."""
    return load_catalog().instrument(instrument_id)


def form_items(instrument_id: str) -> list[FormItem]:
    """The items of an instrument as form fields named ``<instrument>.<item>``."""
    inst = instrument(instrument_id)
    items = []
    for item in inst.items:
        items.append(
            FormItem(
                name=f"{inst.id}.{item.id}",
                id=f"{inst.id}-{item.id}".replace("_", "-"),
                text=item.text,
                type=item.type,
                min=item.min,
                max=item.max,
                required=item.required,
                options=tuple(item.options or ()),
                labels=dict(item.labels or {}),
            )
        )
    return items


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
        if item.type == "integer":
            try:
                answers[item.id] = int(value)
            except ValueError as err:
                raise ValidationError(
                    name, f"{value!r} is not a whole number", value=value, allowed=item.allowed()
                ) from err
        else:
            answers[item.id] = value
    return answers
