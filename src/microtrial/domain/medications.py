"""Medication-name matching: free text as entered -> ingredients and classes.

Matching ignores case, strength, dosage form, release and salt words, so "Lithobid 300 mg ER tab"
finds lithium. Every run of words is tried against the catalog's names, longest first, so
"sumatriptan and naproxen" finds both ingredients and "Tylenol with codeine" finds the product.
"""

from __future__ import annotations

from dataclasses import dataclass

from microtrial.domain.catalog import Catalog, load_catalog
from microtrial.domain.catalog_files import normalize_medication_name

__all__ = ["MedicationMatch", "match_medication"]


@dataclass(frozen=True, slots=True)
class MedicationMatch:
    """The result of matching one entered medication name."""

    entered: str
    ingredients: tuple[str, ...]
    classes: tuple[str, ...]
    matched_names: tuple[str, ...]

    @property
    def recognised(self) -> bool:
        """True when at least one ingredient was found."""
        return bool(self.ingredients)


def match_medication(entered: str, catalog: Catalog | None = None) -> MedicationMatch:
    """Match one medication name as entered to ingredients and classes (empty if unrecognised)."""
    catalog = catalog or load_catalog()
    tokens = normalize_medication_name(entered)
    names = catalog.medication_names
    ingredients: list[str] = []
    matched: list[str] = []
    start = 0
    while start < len(tokens):
        for end in range(len(tokens), start, -1):
            key = " ".join(tokens[start:end])
            if key in names:
                matched.append(key)
                ingredients.extend(i for i in names[key] if i not in ingredients)
                start = end
                break
        else:
            start += 1
    classes: list[str] = []
    for ingredient in ingredients:
        classes.extend(c for c in catalog.ingredients[ingredient].classes if c not in classes)
    return MedicationMatch(
        entered=entered,
        ingredients=tuple(ingredients),
        classes=tuple(classes),
        matched_names=tuple(matched),
    )
