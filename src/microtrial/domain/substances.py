"""The substances a trial may use and the units their amounts are given in, from the catalog."""

from __future__ import annotations

from microtrial.domain.catalog import Catalog, load_catalog

__all__ = ["dose_units", "substance_ids"]


def substance_ids(catalog: Catalog | None = None) -> tuple[str, ...]:
    """The ids of the substances a trial may use, in catalog order."""
    return tuple((catalog or load_catalog()).substances)


def dose_units(catalog: Catalog | None = None) -> tuple[str, ...]:
    """Every unit some substance's amount may be given in, in catalog order, each once."""
    substances = (catalog or load_catalog()).substances.values()
    return tuple(dict.fromkeys(u.value for s in substances for u in s.units))
