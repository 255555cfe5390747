"""The substances a trial may use, from the catalog (their units and ranges: regimens.yaml)."""

from __future__ import annotations

from microtrial.domain.catalog import Catalog, load_catalog

__all__ = ["substance_ids"]


def substance_ids(catalog: Catalog | None = None) -> tuple[str, ...]:
    """The ids of the substances a trial may use, in catalog order."""
    return tuple((catalog or load_catalog()).substances)
