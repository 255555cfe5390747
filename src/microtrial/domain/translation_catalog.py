"""Checks of ``catalog/instrument_translations.yaml``: the instrument texts in other languages.

Each instrument listed must exist in the catalog; each language it is given in must be a language
the app speaks and carry a ``source``; each translated item must be one of the instrument's items
and be given in exactly the languages that have a source, with no empty text.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import yaml

from microtrial.errors import ValidationError

if TYPE_CHECKING:
    from microtrial.domain.catalog import Catalog

ORIGIN = "instrument_translations.yaml"


def _mapping(value: object, field: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValidationError(field, "must be a mapping", value=type(value).__name__)
    return value


def _texts(value: object, field: str, languages: set[str]) -> None:
    """A ``{language: text}`` mapping in exactly ``languages``, no text empty."""
    texts = _mapping(value, field)
    if set(map(str, texts)) != languages:
        raise ValidationError(
            field,
            "must give every language with a source",
            value=sorted(map(str, texts)),
            allowed=sorted(languages),
        )
    for language, text in texts.items():
        if not isinstance(text, str) or not text.strip():
            raise ValidationError(f"{field}.{language}", "must be a non-empty text", value=text)


def parse_instrument_translations(
    text: str, catalog: Catalog | None, languages: Iterable[str]
) -> dict[str, Any]:
    """The translations file's instruments, checked (ValidationError naming the first problem)."""
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ValidationError(ORIGIN, f"not valid YAML: {err}") from err
    instruments = _mapping(_mapping(loaded, ORIGIN).get("instruments"), f"{ORIGIN}:instruments")
    spoken = set(languages)
    for instrument_id, entry in instruments.items():
        where = f"{ORIGIN}:instruments.{instrument_id}"
        entry = _mapping(entry, where)
        item_ids: set[str] | None = None
        if catalog is not None:
            known = set(catalog.instruments)
            if instrument_id not in known:
                raise ValidationError(where, "unknown instrument", allowed=sorted(known))
            item_ids = {item.id for item in catalog.instrument(instrument_id).items}
        sources = _mapping(entry.get("sources"), f"{where}.sources")
        if not sources:
            raise ValidationError(f"{where}.sources", "no source")
        with_source = set(map(str, sources))
        if not with_source <= spoken:
            raise ValidationError(
                f"{where}.sources",
                "unknown language",
                value=sorted(with_source - spoken),
                allowed=sorted(spoken),
            )
        _texts(sources, f"{where}.sources", with_source)
        for item_id, words in _mapping(entry.get("items", {}), f"{where}.items").items():
            if item_ids is not None and item_id not in item_ids:
                raise ValidationError(
                    f"{where}.items", "unknown item", value=item_id, allowed=sorted(item_ids)
                )
            _texts(words, f"{where}.items.{item_id}", with_source)
    return dict(instruments)
