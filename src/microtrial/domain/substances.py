"""The substances a trial may use, from the catalog (their units and ranges: regimens.yaml)."""

from __future__ import annotations

from microtrial.domain.catalog import Catalog, load_catalog

__all__ = ["substance_ids", "substance_title"]


def substance_ids(catalog: Catalog | None = None) -> tuple[str, ...]:
    """The ids of the substances a trial may use, in catalog order."""
    return tuple((catalog or load_catalog()).substances)


def substance_title(substance_id: str, catalog: Catalog | None = None) -> str:
    """A substance's name as the catalog writes it ("LSD (lysergide)"); an unknown id as given."""
    found = (catalog or load_catalog()).substances.get(substance_id)
    return found.title if found is not None else substance_id
