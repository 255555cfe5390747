"""Medication-name matching: free text as entered -> ingredients and classes.

Matching ignores case, strength, dosage form, release and salt words, so "Lithobid 300 mg ER tab"
finds lithium. A combined entry is split at ``+ , / ; &`` and read part by part; within a part
every run of words is tried against the catalog's names, longest first, so "sumatriptan and
naproxen" finds both ingredients and "Tylenol with codeine" finds the product (the connector
words ``and``, ``with``, ``plus`` are skipped). A word left over is compared with the catalog's
one-word names by edit distance: a close name is screened as that drug and reported as a
suggestion ("did you mean ..."); anything else that is not a dose, unit, form or dosing
instruction is kept as unrecognised, never dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from microtrial.domain.catalog import Catalog, load_catalog
from microtrial.domain.catalog_files import normalize_medication_name

__all__ = [
    "MedicationMatch",
    "Suggestion",
    "edit_distance",
    "match_medication",
    "split_medication_entry",
]

_SEPARATORS = re.compile(r"[+,/;&]")
_CONNECTORS = frozenset({"and", "with", "plus"})
# Dosing instructions people write beside a name ("10 mg at night", "1 tab twice a day").
_INSTRUCTION_WORDS = frozenset(
    """a an at as of the for to in on per x every each when if take takes taken times once twice
    three night nightly nights bedtime morning mornings evening evenings noon day days week weeks
    weekly month monthly hour hours hr hrs h prn needed required bd bid tid qid qd od qds tds
    qhs nocte mane dose doses puff puffs""".split()  # noqa: SIM905 - a word list reads better
)
_MIN_FUZZY_LENGTH = 4


@dataclass(frozen=True, slots=True)
class Suggestion:
    """A misspelt word read as the closest catalog name ("did you mean ...")."""

    word: str
    names: tuple[str, ...]
    ingredients: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MedicationMatch:
    """The result of matching one entered medication name (all its parts)."""

    entered: str
    ingredients: tuple[str, ...]
    classes: tuple[str, ...]
    matched_names: tuple[str, ...]
    suggestions: tuple[Suggestion, ...] = ()
    unrecognised: tuple[str, ...] = ()

    @property
    def recognised(self) -> bool:
        """True when at least one ingredient was found (exactly or by a close spelling)."""
        return bool(self.ingredients)


def split_medication_entry(entered: str) -> tuple[str, ...]:
    """The parts of a combined entry, split at ``+ , / ; &`` (blank parts dropped)."""
    return tuple(p.strip() for p in _SEPARATORS.split(entered) if p.strip())


def edit_distance(a: str, b: str) -> int:
    """Optimal-string-alignment distance (insertions, deletions, substitutions, swaps)."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[len(b)]


def _threshold(word: str) -> int:
    """Edits allowed for a word: one up to 7 letters, two from 8."""
    return 1 if len(word) < 8 else 2


def _suggest(word: str, names: dict[str, tuple[str, ...]]) -> Suggestion | None:
    if len(word) < _MIN_FUZZY_LENGTH or word.isdigit():
        return None
    limit = _threshold(word)
    best: list[str] = []
    best_distance = limit + 1
    for name in names:
        if " " in name or abs(len(name) - len(word)) > limit:
            continue
        distance = edit_distance(word, name)
        if distance > limit:
            continue
        if distance < best_distance:
            best, best_distance = [name], distance
        elif distance == best_distance:
            best.append(name)
    if not best:
        return None
    ingredients: list[str] = []
    for name in sorted(best):
        ingredients.extend(i for i in names[name] if i not in ingredients)
    return Suggestion(word=word, names=tuple(sorted(best)), ingredients=tuple(ingredients))


def _read_part(
    tokens: tuple[str, ...], names: dict[str, tuple[str, ...]]
) -> tuple[list[str], list[str], list[list[str]]]:
    """Exact names found, and the runs of words left over (connectors split runs)."""
    ingredients: list[str] = []
    matched: list[str] = []
    leftover: list[list[str]] = [[]]
    start = 0
    while start < len(tokens):
        for end in range(len(tokens), start, -1):
            key = " ".join(tokens[start:end])
            if key in names and tokens[start] not in _CONNECTORS:
                matched.append(key)
                ingredients.extend(i for i in names[key] if i not in ingredients)
                leftover.append([])
                start = end
                break
        else:
            word = tokens[start]
            if word in _CONNECTORS or word in _INSTRUCTION_WORDS:
                leftover.append([])
            else:
                leftover[-1].append(word)
            start += 1
    return ingredients, matched, [run for run in leftover if run]


def match_medication(entered: str, catalog: Catalog | None = None) -> MedicationMatch:
    """Match one medication entry (possibly combined) to ingredients, suggestions and leftovers."""
    catalog = catalog or load_catalog()
    names = catalog.medication_names
    ingredients: list[str] = []
    matched: list[str] = []
    suggestions: list[Suggestion] = []
    unrecognised: list[str] = []
    for part in split_medication_entry(entered):
        found, part_names, leftover = _read_part(normalize_medication_name(part), names)
        ingredients.extend(i for i in found if i not in ingredients)
        matched.extend(part_names)
        for run in leftover:
            unknown: list[str] = []
            for word in run:
                suggestion = _suggest(word, names)
                if suggestion is None:
                    unknown.append(word)
                    continue
                suggestions.append(suggestion)
                ingredients.extend(i for i in suggestion.ingredients if i not in ingredients)
            if unknown:
                unrecognised.append(" ".join(unknown))
    classes: list[str] = []
    for ingredient in ingredients:
        classes.extend(c for c in catalog.ingredients[ingredient].classes if c not in classes)
    return MedicationMatch(
        entered=entered,
        ingredients=tuple(ingredients),
        classes=tuple(classes),
        matched_names=tuple(matched),
        suggestions=tuple(suggestions),
        unrecognised=tuple(unrecognised),
    )
