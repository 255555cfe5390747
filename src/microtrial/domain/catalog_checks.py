"""The catalog's cross-file checks: one checker per catalog file.

Each checker takes its parsed file and the lookups it refers to and returns the problems it finds,
in file order; ``microtrial.domain.catalog`` runs them in a fixed order (sources, screening,
medications, conditions, instruments, alerts) so ``catalog validate`` lists problems the same way
every time. Regimens are checked by ``microtrial.domain.regimen_catalog``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from itertools import pairwise
from typing import TYPE_CHECKING

from microtrial.domain.catalog_files import (
    SEVERITY_ORDER,
    AlertCatalog,
    AlertRule,
    ConditionsFile,
    Ingredient,
    Match,
    MedicationClass,
    MedicationsFile,
    ScreeningFile,
    Source,
    SourcesFile,
    normalize_medication_name,
)

if TYPE_CHECKING:  # catalog.py imports this module; the instrument models live there
    from microtrial.domain.catalog_instruments import Instrument, InstrumentsFile

__all__ = [
    "alert_problems",
    "condition_problems",
    "duplicate_id_problems",
    "instrument_source_problems",
    "medication_problems",
    "screening_problems",
]

ICD10CM_RE = re.compile(r"^[A-TV-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$")


def _duplicates(ids: list[str]) -> set[str]:
    return {i for i, n in Counter(ids).items() if n > 1}


def _need_sources(where: str, ids: tuple[str, ...], sources: Mapping[str, Source]) -> list[str]:
    """Every rule, item set, threshold and code carries a resolvable source."""
    problems = [f"{where}: no source"] if not ids else []
    problems.extend(f"{where}: unknown source {s}" for s in ids if s not in sources)
    return problems


def duplicate_id_problems(
    src: SourcesFile,
    scr: ScreeningFile,
    med: MedicationsFile,
    con: ConditionsFile,
    ins: InstrumentsFile,
) -> list[str]:
    """Ids that appear twice within their kind, across all files."""
    rule_ids = [r.id for r in scr.condition_rules]
    rule_ids += [r.id for r in scr.interaction_rules]
    rule_ids += [r.id for r in scr.timing_rules]
    rule_ids += [r.id for r in scr.combination_rules]
    problems: list[str] = []
    for label, ids in (
        ("source", [s.id for s in src.sources]),
        ("substance", [s.id for s in scr.substances]),
        ("history flag", [h.id for h in scr.history_flags]),
        ("rule", [*rule_ids]),
        ("medication class", [c.id for c in med.classes]),
        ("ingredient", [i.id for i in med.ingredients]),
        ("condition", [c.id for c in con.conditions]),
        ("group", [g.id for g in con.groups]),
        ("instrument", [i.id for i in ins.instruments] + [i.id for i in ins.licensed_instruments]),
        ("ICD-10-CM code", [c.code for cond in con.conditions for c in cond.codes]),
    ):
        problems += [f"duplicate {label} id {d}" for d in sorted(_duplicates(ids))]
    return problems


def _match_problems(
    where: str,
    match: Match,
    classes: Mapping[str, MedicationClass],
    ingredients: Mapping[str, Ingredient],
) -> list[str]:
    problems = [f"{where}: unknown class {c}" for c in match.classes if c not in classes]
    problems.extend(
        f"{where}: unknown ingredient {i}" for i in match.ingredients if i not in ingredients
    )
    return problems


def _blood_pressure_problems(scr: ScreeningFile, sources: Mapping[str, Source]) -> list[str]:
    """The averaging carries a source; rules run most severe first (the first match wins)."""
    problems = _need_sources(
        "blood_pressure_averaging", scr.blood_pressure_averaging.sources, sources
    )
    rules = scr.blood_pressure_rules
    problems.extend(
        f"rule {later.id}: blood_pressure_rules must run most severe first "
        f"({later.severity} after {earlier.id} {earlier.severity})"
        for earlier, later in pairwise(rules)
        if SEVERITY_ORDER[earlier.severity] < SEVERITY_ORDER[later.severity]
    )
    return problems


def screening_problems(
    scr: ScreeningFile, sources: Mapping[str, Source], med: MedicationsFile, group_ids: set[str]
) -> list[str]:
    """screening.yaml: sources, history flags, medication matches and condition groups resolve."""
    classes = {c.id: c for c in med.classes}
    ingredients = {i.id: i for i in med.ingredients}
    substances = {s.id for s in scr.substances}
    flags = {h.id for h in scr.history_flags}
    problems: list[str] = []
    for substance in scr.substances:
        problems += _need_sources(f"substance {substance.id}", substance.sources, sources)
    for crule in scr.condition_rules:
        problems += _need_sources(f"rule {crule.id}", crule.sources, sources)
        if crule.history_flag not in flags:
            problems.append(f"rule {crule.id}: unknown history flag {crule.history_flag}")
    for simple in (scr.pregnancy_rule, scr.age_rule, *scr.blood_pressure_rules):
        problems += _need_sources(f"rule {simple.id}", simple.sources, sources)
    problems += _blood_pressure_problems(scr, sources)
    for irule in scr.interaction_rules:
        problems += _need_sources(f"rule {irule.id}", irule.sources, sources)
        problems += _match_problems(f"rule {irule.id}", irule.match, classes, ingredients)
        if set(irule.severity) != substances:
            problems.append(
                f"rule {irule.id}: severity must name every substance {sorted(substances)}"
            )
    for combo in scr.combination_rules:
        problems += _need_sources(f"rule {combo.id}", combo.sources, sources)
        for side in (combo.first, combo.second):
            problems += _match_problems(f"rule {combo.id}", side, classes, ingredients)
    for trule in scr.timing_rules:
        problems += _need_sources(f"rule {trule.id}", trule.sources, sources)
        problems += _match_problems(f"rule {trule.id}", trule.match, classes, ingredients)
        problems.extend(
            f"rule {trule.id}: unknown condition group {g}"
            for g in trule.condition_groups
            if g not in group_ids
        )
    return problems


def medication_problems(
    med: MedicationsFile, sources: Mapping[str, Source]
) -> tuple[dict[str, tuple[str, ...]], list[str]]:
    """medications.yaml: classes and ingredients resolve; the normalised name -> ingredients map.

    Every name must stay non-empty once normalised and map to one ingredient set only.
    """
    problems = _need_sources("medications.yaml", med.sources, sources)
    classes = {c.id for c in med.classes}
    ingredients = {i.id for i in med.ingredients}
    names: dict[str, tuple[str, ...]] = {}

    def add_name(name: str, target: tuple[str, ...]) -> None:
        key = " ".join(normalize_medication_name(name))
        if not key:
            problems.append(f"medication name {name!r} is empty once normalised")
        elif key in names and names[key] != target:
            problems.append(f"duplicate medication name {name!r} ({names[key]} and {target})")
        else:
            names[key] = target

    for ingredient in med.ingredients:
        problems.extend(
            f"ingredient {ingredient.id}: unknown class {c}"
            for c in ingredient.classes
            if c not in classes
        )
        add_name(ingredient.id, (ingredient.id,))
        for name in ingredient.names:
            key = " ".join(normalize_medication_name(name))
            if key in names and names[key] == (ingredient.id,):
                problems.append(f"duplicate medication name {name!r} for {ingredient.id}")
            add_name(name, (ingredient.id,))
    for product in med.products:
        problems.extend(
            f"product {product.name}: unknown ingredient {i}"
            for i in product.ingredients
            if i not in ingredients
        )
        add_name(product.name, product.ingredients)
    return names, problems


def condition_problems(
    con: ConditionsFile, sources: Mapping[str, Source], instruments: Mapping[str, Instrument]
) -> list[str]:
    """conditions.yaml: instruments, groups, notes and sources resolve; codes are ICD-10-CM."""
    groups = {g.id for g in con.groups}
    notes = {n.id for n in con.evidence_notes}
    problems: list[str] = []
    for group in con.groups:
        for inst_id in (*group.diary_instruments, *group.periodic_instruments):
            if inst_id not in instruments:
                problems.append(f"group {group.id}: unknown instrument {inst_id}")
        for endpoint in (*group.endpoints.primary, *group.endpoints.secondary):
            problems += _need_sources(
                f"endpoint {group.id}.{endpoint.id}", endpoint.sources, sources
            )
            if endpoint.instrument not in instruments:
                problems.append(f"endpoint {group.id}.{endpoint.id}: unknown instrument")
    for note in con.evidence_notes:
        problems += _need_sources(f"evidence note {note.id}", note.sources, sources)
    for condition in con.conditions:
        problems += _need_sources(f"condition {condition.id}", condition.sources, sources)
        if condition.group not in groups:
            problems.append(f"condition {condition.id}: unknown group {condition.group}")
        if condition.evidence_note not in notes:
            problems.append(f"condition {condition.id}: unknown evidence note")
        problems.extend(
            f"condition {condition.id}: malformed ICD-10-CM code {c.code}"
            for c in condition.codes
            if not ICD10CM_RE.match(c.code)
        )
    return problems


def instrument_source_problems(ins: InstrumentsFile, sources: Mapping[str, Source]) -> list[str]:
    """instruments.yaml: every instrument, score, band and flag source resolves."""
    problems: list[str] = []
    for instrument in ins.instruments:
        problems += _need_sources(f"instrument {instrument.id}", instrument.sources, sources)
        for rule in instrument.constraints:
            problems += _need_sources(
                f"instrument {instrument.id} constraint on {rule.item}", rule.sources, sources
            )
        for definition in instrument.scores:
            problems.extend(
                f"instrument {instrument.id}.{definition.id}: unknown source {s}"
                for s in (*definition.sources, *definition.band_sources)
                if s not in sources
            )
        for flag in instrument.flags:
            problems += _need_sources(
                f"instrument {instrument.id} flag {flag.id}", flag.sources, sources
            )
        for item in instrument.items:
            problems.extend(
                f"instrument {instrument.id}.{item.id}: unknown source {s}"
                for s in item.sources
                if s not in sources
            )
            if item.patient_answers is not None:
                problems += _need_sources(
                    f"instrument {instrument.id}.{item.id} patient answers",
                    item.patient_answers.sources,
                    sources,
                )
            if item.answer_codes is not None:
                problems += _need_sources(
                    f"instrument {instrument.id}.{item.id} answer codes",
                    item.answer_codes.sources,
                    sources,
                )
    for licensed in ins.licensed_instruments:
        problems += _need_sources(f"licensed instrument {licensed.id}", licensed.sources, sources)
    return problems


def _checklist_symptom_problems(alr: AlertCatalog, checklist: Instrument | None) -> list[str]:
    """The side-effect checklist reaches the symptom rules: each yes/no item (but 'serious') is a
    rule's symptom, each linked item is graded, and every urgent or stopping rule can be reported
    by a patient (a rule no patient can report never fires: the QA finding behind this check)."""
    if checklist is None:
        return []
    items = {i.id: i for i in checklist.items}
    known = {s for rule in alr.symptom_rules for s in rule.symptoms}
    problems = [
        f"ae_checklist.{i.id}: a yes/no item must be a symptom code of a symptom rule"
        for i in checklist.items
        if i.type == "boolean" and i.id != "serious" and i.id not in known
    ]
    for rule in alr.symptom_rules:
        link = rule.checklist_item
        if link is not None and (link.item not in items or items[link.item].type != "integer"):
            problems.append(f"alert {rule.code}: checklist item {link.item} is not a graded item")
        reachable = link is not None or any(
            s in items and items[s].type == "boolean" for s in rule.symptoms
        )
        if (rule.severity == "urgent" or rule.action == "stop") and not reachable:
            problems.append(f"alert {rule.code}: no ae_checklist item reports it")
        problems.extend(
            f"alert {rule.code}: symptom {s} has no name (names, or a yes/no checklist item)"
            for s in rule.symptoms
            if s not in rule.names and not (s in items and items[s].type == "boolean")
        )
    return problems


def alert_problems(
    alr: AlertCatalog, sources: Mapping[str, Source], instruments: Mapping[str, Instrument]
) -> list[str]:
    """alerts.yaml: sources, instruments, items and scores resolve; alert codes are unique."""
    problems: list[str] = []
    for arule in alr.instrument_rules:
        problems += _need_sources(f"alert {arule.code}", arule.sources, sources)
        target = instruments.get(arule.instrument)
        if target is None:
            problems.append(f"alert {arule.code}: unknown instrument {arule.instrument}")
        elif arule.item is not None and arule.item not in {i.id for i in target.items}:
            problems.append(f"alert {arule.code}: unknown item {arule.item}")
        elif arule.score is not None and arule.score not in {s.id for s in target.scores}:
            problems.append(f"alert {arule.code}: unknown score {arule.score}")
    single_alerts: list[AlertRule] = [
        alr.adverse_event,
        alr.persistent_grade2,
        alr.blood_pressure_strict,
        alr.pain_flare,
        alr.pain_worsening,
        alr.headache_worsening,
        alr.missed_diary,
        alr.dose_off_calendar,
        alr.dose_during_hold,
        alr.multiple_doses_per_day,
        alr.wrong_kit,
        alr.kit_not_dispensed,
        alr.new_medication,
        *alr.symptom_rules,
        *alr.blood_pressure_rules,
    ]
    for alert_rule in single_alerts:
        problems += _need_sources(f"alert {alert_rule.code}", alert_rule.sources, sources)
    problems += _checklist_symptom_problems(alr, instruments.get("ae_checklist"))
    problems += [
        f"duplicate alert code {d}"
        for d in sorted(_duplicates([r.code for r in (*single_alerts, *alr.instrument_rules)]))
    ]
    return problems
