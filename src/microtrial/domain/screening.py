"""Safety screening: a patient snapshot and a planned substance -> findings and a decision.

Decision rule (ARCHITECTURE.md safety model):

- ``do-not-start``: any ``contraindicated`` finding;
- ``clinician-review``: any ``major`` or ``moderate`` finding, including an unrecognised
  medication name or an unanswered required history question (both are ``moderate`` findings);
- ``no-known-issues``: otherwise (``minor`` findings are shown for information).

History answers are ``True`` (yes), ``False`` (no) or ``None``/absent (unanswered).

Blood pressure is judged on the mean of the recent readings the snapshot carries, as the sources
did (``blood_pressure_findings``; screening.yaml ``blood_pressure_averaging``).

A stopped medication is still screened, as if taken, while a timing rule's wash-out
(``separation_days_before`` after the stop day) covers the planned first dose
(``stopped_findings``): its interactions, its combinations with what is taken now, and the timing
rule itself, worded with the stop day and the date the wash-out ends (the finding's ``until``).
Once no window covers the first dose it is no finding.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from microtrial.domain.catalog import Catalog, CatalogError, load_catalog
from microtrial.domain.catalog_files import SEVERITY_ORDER, Match, TimingRule
from microtrial.domain.medications import MedicationMatch, match_medication
from microtrial.domain.screening_bp import BloodPressure, exceeds, listed, mmhg, plural
from microtrial.domain.screening_words import DECISION_CONTEXT, DECISION_WORDS, decision_words
from microtrial.errors import ValidationError

__all__ = [
    "DECISION_CONTEXT",
    "DECISION_WORDS",
    "DO_NOT_START",
    "BloodPressure",
    "Decision",
    "Finding",
    "PatientSnapshot",
    "ScreeningResult",
    "StoppedMedication",
    "blood_pressure_findings",
    "combination_findings",
    "decision_words",
    "medication_findings",
    "screen",
    "stopped_findings",
    "written_date",
]

Decision = Literal["do-not-start", "clinician-review", "no-known-issues"]
# The decision that blocks a trial: no start, no kits, no sign-off clears it.
DO_NOT_START: Decision = "do-not-start"
FindingSeverity = Literal["contraindicated", "major", "moderate", "minor"]
# The severity of a finding that makes the decision do-not-start.
CONTRAINDICATED: FindingSeverity = "contraindicated"


@dataclass(frozen=True, slots=True)
class StoppedMedication:
    """A medication the patient no longer takes, as entered, and the day it was stopped."""

    entered: str
    stopped_on: dt.date


@dataclass(frozen=True, slots=True)
class PatientSnapshot:
    """What screening needs to know about a patient at one moment."""

    history: Mapping[str, bool | None] = field(default_factory=dict)
    pregnant: bool | None = None
    conditions: Sequence[str] = ()
    medications: Sequence[str] = ()
    # the recent readings (screening.yaml's window), in any order; empty when none
    blood_pressures: Sequence[BloodPressure] = ()
    age: int | None = None
    # stopped medications: screened while a timing rule's wash-out still covers ``first_dose``
    stopped_medications: Sequence[StoppedMedication] = ()
    # the planned first dose (the screening day when no trial is planned); None: each stopped
    # medication is judged on its stop day, so every wash-out still covers it
    first_dose: dt.date | None = None


@dataclass(frozen=True, slots=True)
class Finding:
    """One screening finding with its rule, rationale and sources."""

    severity: FindingSeverity
    code: str
    title: str
    rationale: str
    sources: tuple[str, ...]
    matched: str | None = None
    evidence: tuple[str, ...] = ()
    unverified: bool = False
    # a stopped medication's finding: the first dose may be on or after this day (wash-out end)
    until: dt.date | None = None

    def as_dict(self) -> dict[str, object]:
        """The finding as plain JSON-ready values."""
        return {
            "severity": self.severity,
            "code": self.code,
            "title": self.title,
            "rationale": self.rationale,
            "sources": list(self.sources),
            "matched": self.matched,
            "until": None if self.until is None else self.until.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class ScreeningResult:
    """The decision and the findings behind it, most severe first."""

    substance: str
    decision: Decision
    findings: tuple[Finding, ...]
    catalog_versions: Mapping[str, str]

    def as_dict(self) -> dict[str, object]:
        """The result as plain JSON-ready values."""
        return {
            "substance": self.substance,
            "decision": self.decision,
            "findings": [f.as_dict() for f in self.findings],
        }


def _matches(rule_match: Match, med: MedicationMatch) -> bool:
    return bool(set(rule_match.classes) & set(med.classes)) or bool(
        set(rule_match.ingredients) & set(med.ingredients)
    )


def _unrecognised(words: str, entered: str, catalog: Catalog) -> Finding:
    within = "" if words == entered else f" (in {entered!r})"
    return Finding(
        severity="moderate",
        code="medication-unrecognised",
        title=f"Unrecognised medication: {words}{within}",
        rationale=(
            f"{words!r}{within} matches no name in the medication catalog; a clinician must "
            "check it for interactions."
        ),
        sources=catalog.cite(("design-choice",)),
        matched=words,
    )


def _reading_findings(med: MedicationMatch, catalog: Catalog) -> list[Finding]:
    """A close spelling ("did you mean") and each word left unrecognised in a matched entry."""
    found: list[Finding] = []
    for suggestion in med.suggestions:
        meant = " or ".join(suggestion.names)
        found.append(
            Finding(
                severity="moderate",
                code="medication-spelling",
                title=f"Did you mean {meant}? ({suggestion.word!r} in {med.entered!r})",
                rationale=(
                    f"{suggestion.word!r} is not in the medication catalog; it was screened as "
                    f"{meant} ({', '.join(suggestion.ingredients)}). A clinician must confirm "
                    "the medication and correct the entry."
                ),
                sources=catalog.cite(("design-choice",)),
                matched=f"{suggestion.word} -> {meant}",
            )
        )
    found.extend(_unrecognised(words, med.entered, catalog) for words in med.unrecognised)
    return found


def medication_findings(
    entered: str,
    substance: str,
    catalog: Catalog | None = None,
    condition_groups: frozenset[str] = frozenset(),
) -> tuple[Finding, ...]:
    """Findings for one medication name as entered (interactions, timing, or unrecognised).

    ``condition_groups`` are the patient's condition groups; empty means unknown, and then
    every timing rule applies.
    """
    catalog = catalog or load_catalog()
    med = match_medication(entered, catalog)
    if not med.recognised:
        return (_unrecognised(entered, entered, catalog),)
    found = _reading_findings(med, catalog)
    for irule in catalog.interaction_rules:
        if _matches(irule.match, med):
            found.append(
                Finding(
                    severity=irule.severity[substance],
                    code=irule.id,
                    title=irule.title,
                    rationale=irule.mechanism,
                    sources=catalog.cite(irule.sources),
                    matched=f"{entered} ({', '.join(med.ingredients)})",
                    evidence=irule.evidence,
                    unverified=irule.unverified,
                )
            )
    for trule in _timing_rules(med, catalog, condition_groups):
        found.append(
            Finding(
                severity=trule.severity,
                code=trule.id,
                title=trule.title,
                rationale=f"{trule.rationale} {_separation(trule)}",
                sources=catalog.cite(trule.sources),
                matched=f"{entered} ({', '.join(med.ingredients)})",
                evidence=trule.evidence,
                unverified=trule.unverified,
            )
        )
    return tuple(found)


def _timing_rules(
    med: MedicationMatch, catalog: Catalog, condition_groups: frozenset[str]
) -> list[TimingRule]:
    """The timing rules that apply to a medication, given the patient's condition groups."""
    return [
        rule
        for rule in catalog.timing_rules
        if _matches(rule.match, med)
        and not (
            rule.condition_groups
            and condition_groups
            and not condition_groups & set(rule.condition_groups)
        )
    ]


def _separation(rule: TimingRule) -> str:
    return (
        f"Separation: {rule.separation_days_before} day(s) before and "
        f"{rule.separation_days_after} day(s) after a dose."
    )


def written_date(day: dt.date) -> str:
    """A date in English words, e.g. '1 December 2026' (no leading zero)."""
    return f"{day.day} {day.strftime('%B %Y')}"


def stopped_findings(
    stopped: StoppedMedication,
    substance: str,
    first_dose: dt.date | None,
    catalog: Catalog | None = None,
    condition_groups: frozenset[str] = frozenset(),
    taken: Sequence[MedicationMatch] = (),
) -> tuple[Finding, ...]:
    """Findings for a stopped medication while a wash-out still covers the first dose, else none.

    A timing rule that applies to it (as in ``medication_findings``) opens a wash-out of its
    ``separation_days_before`` days after the stop day; the first dose may fall on the day it
    ends. While one covers ``first_dose`` (None: the stop day), the medication is screened as if
    taken: each open wash-out in words with its end, its interactions, and its combinations with
    the ``taken`` medications, each carrying the latest end as ``until``.
    """
    catalog = catalog or load_catalog()
    med = match_medication(stopped.entered, catalog)
    on = stopped.stopped_on if first_dose is None else first_dose
    windows = [
        (rule, stopped.stopped_on + dt.timedelta(days=rule.separation_days_before))
        for rule in _timing_rules(med, catalog, condition_groups)
    ]
    windows = [(rule, end) for rule, end in windows if on < end]
    if not windows:
        return ()
    until = max(end for _, end in windows)
    when = f"stopped on {written_date(stopped.stopped_on)}"
    dose = "" if first_dose is None else f"The first dose, on {written_date(first_dose)}, "
    matched = f"{stopped.entered} ({', '.join(med.ingredients)}), {when}"
    found: list[Finding] = []
    for rule, end in windows:
        names = [i for i in med.ingredients if _takes(rule.match, i, catalog)]
        name = " and ".join(n[:1].upper() + n[1:] for n in names)
        found.append(
            Finding(
                severity=rule.severity,
                code=rule.id,
                title=(
                    f"{name} {when}: wait {plural(rule.separation_days_before, 'day')} after "
                    f"stopping — until {written_date(end)} — before the first dose"
                ),
                rationale=(
                    f"{rule.title}: {rule.rationale} {_separation(rule)} "
                    + (f"{dose}falls inside this wash-out." if dose else "")
                ).strip(),
                sources=catalog.cite(rule.sources),
                matched=matched,
                evidence=rule.evidence,
                unverified=rule.unverified,
                until=end,
            )
        )
    timing = {rule.id for rule in catalog.timing_rules}
    suffix = f" ({stopped.entered}, {when}; wash-out until {written_date(until)})"
    found.extend(
        replace(f, title=f.title + suffix, until=until)
        for f in medication_findings(stopped.entered, substance, catalog, condition_groups)
        if f.code not in timing
    )
    stopped_med = replace(med, entered=f"{stopped.entered} ({when})")
    found.extend(
        replace(f, title=f.title + suffix, until=until)
        for f in combination_findings([*taken, stopped_med], catalog, involving=stopped_med)
    )
    return tuple(found)


def _takes(rule_match: Match, ingredient: str, catalog: Catalog) -> bool:
    return ingredient in rule_match.ingredients or bool(
        set(rule_match.classes) & set(catalog.ingredients[ingredient].classes)
    )


def combination_findings(
    meds: Sequence[MedicationMatch],
    catalog: Catalog | None = None,
    involving: MedicationMatch | None = None,
) -> tuple[Finding, ...]:
    """Findings for pairs of medications taken together (across entries or in one entry).

    With ``involving``, only pairs in which one side comes from that entry count (a new entry
    mid-trial).
    """
    catalog = catalog or load_catalog()
    found: list[Finding] = []
    for rule in catalog.combination_rules:
        pairs: list[str] = []
        for a in meds:
            for b in meds:
                if involving is not None and involving not in (a, b):
                    continue
                pairs.extend(
                    f"{a.entered} ({ia}) + {b.entered} ({ib})"
                    for ia in a.ingredients
                    for ib in b.ingredients
                    if ia != ib
                    and _takes(rule.first, ia, catalog)
                    and _takes(rule.second, ib, catalog)
                )
        if pairs:
            found.append(
                Finding(
                    severity=rule.severity,
                    code=rule.id,
                    title=rule.title,
                    rationale=rule.rationale,
                    sources=catalog.cite(rule.sources),
                    matched="; ".join(dict.fromkeys(pairs)),
                    evidence=rule.evidence,
                    unverified=rule.unverified,
                )
            )
    return tuple(found)


def blood_pressure_findings(
    readings: Sequence[BloodPressure], catalog: Catalog | None = None
) -> tuple[Finding, ...]:
    """Findings on the mean of the recent readings; fewer days than required ask for a recheck.

    Readings without a date each count as a separate occasion (a caller that passes them says
    they were taken on different days).
    """
    catalog = catalog or load_catalog()
    if not readings:
        return (
            Finding(
                "minor",
                "bp-not-recorded",
                "No recent blood-pressure reading",
                "Record a resting blood pressure before the first dose; screening averages "
                f"readings from the last {catalog.blood_pressure_averaging.window_days} days.",
                catalog.cite(("design-choice",)),
                None,
            ),
        )
    for reading in readings:
        reading.check()
    ordered = sorted(readings, key=lambda r: r.taken_on or dt.date.min)
    n = len(ordered)
    systolic_sum = sum(r.systolic for r in ordered)
    diastolic_sum = sum(r.diastolic for r in ordered)
    rule = next(
        (r for r in catalog.blood_pressure_rules if exceeds(r, systolic_sum, diastolic_sum, n)),
        None,
    )
    if rule is None:
        return ()
    averaging = catalog.blood_pressure_averaging
    dated = {r.taken_on for r in ordered if r.taken_on is not None}
    days = len(dated) + sum(1 for r in ordered if r.taken_on is None)
    mean = f"{mmhg(systolic_sum, n)}/{mmhg(diastolic_sum, n)} mmHg"
    word = "above" if rule.comparison == "above" else "at or above"
    threshold = f"{word} {rule.systolic}/{rule.diastolic} mmHg"
    measured = "1 reading" if n == 1 else f"mean of {n} readings on {plural(days, 'day')}"
    sources = catalog.cite(tuple(dict.fromkeys((*rule.sources, *averaging.sources))))
    if days >= averaging.min_days:
        return (
            Finding(
                rule.severity,
                rule.id,
                f"{rule.title}: {mean} ({measured}), {threshold}",
                f"{rule.rationale} The {measured} is {mean}, {threshold}.",
                sources,
                f"{mean} ({measured}: {listed(ordered)})",
                rule.evidence,
                rule.unverified,
            ),
        )
    severity = min(rule.severity, averaging.recheck_max_severity, key=lambda s: SEVERITY_ORDER[s])
    return (
        Finding(
            severity,
            "bp-recheck",
            f"Recheck blood pressure: {mean} ({measured}) is {threshold}",
            f"Recheck: average at least {averaging.min_days} readings on separate "
            f"occasions (different days within {averaging.window_days} days). "
            f"{averaging.rationale} If the mean stays {threshold}: {rule.title.lower()} "
            f"({rule.severity}; {rule.id}). {rule.rationale}",
            sources,
            f"{mean} ({measured}: {listed(ordered)})",
            rule.evidence,
            rule.unverified,
        ),
    )


def _decide(findings: Sequence[Finding]) -> Decision:
    severities = {f.severity for f in findings}
    if CONTRAINDICATED in severities:
        return "do-not-start"
    if severities & {"major", "moderate"}:
        return "clinician-review"
    return "no-known-issues"


def screen(
    snapshot: PatientSnapshot, substance: str, catalog: Catalog | None = None
) -> ScreeningResult:
    """Screen a patient snapshot for a planned substance ('psilocybin' or 'lsd')."""
    catalog = catalog or load_catalog()
    if substance not in catalog.substances:
        raise ValidationError(
            "substance",
            f"unknown substance {substance!r}",
            value=substance,
            allowed=sorted(catalog.substances),
        )
    unknown = sorted(set(snapshot.history) - set(catalog.history_flags))
    if unknown:
        raise ValidationError(
            "history",
            f"unknown history flag {unknown[0]!r}",
            value=unknown[0],
            allowed=sorted(catalog.history_flags),
        )
    groups: set[str] = set()
    for condition in snapshot.conditions:
        found = catalog.conditions.get(condition) or catalog.condition_by_code(condition)
        if found is not None:
            groups.add(found.group)
        else:
            raise CatalogError(
                "conditions",
                f"unknown condition {condition!r} (give a condition id or ICD-10-CM code)",
                value=condition,
                allowed=sorted(catalog.conditions),
            )

    findings: list[Finding] = []
    for crule in catalog.condition_rules:
        if snapshot.history.get(crule.history_flag) is True:
            findings.append(
                Finding(
                    severity=crule.severity,
                    code=crule.id,
                    title=crule.title,
                    rationale=crule.rationale,
                    sources=catalog.cite(crule.sources),
                    matched=crule.history_flag,
                    evidence=crule.evidence,
                    unverified=crule.unverified,
                )
            )
    for flag in catalog.history_flags.values():
        if flag.required and snapshot.history.get(flag.id) is None:
            findings.append(
                Finding(
                    severity="moderate",
                    code="history-unanswered",
                    title=f"Required history question unanswered: {flag.id}",
                    rationale=f"{flag.question} Screening cannot clear the patient without it.",
                    sources=catalog.cite(("design-choice",)),
                    matched=flag.id,
                )
            )

    preg = catalog.pregnancy_rule
    if snapshot.pregnant is True:
        findings.append(
            Finding(
                preg.severity,
                preg.id,
                preg.title,
                preg.rationale,
                catalog.cite(preg.sources),
                "pregnant",
                preg.evidence,
            )
        )
    elif snapshot.pregnant is None:
        findings.append(
            Finding(
                "moderate",
                "pregnancy-unanswered",
                "Pregnancy status unknown",
                "Pregnancy is a contraindication; its status must be recorded.",
                catalog.cite(("design-choice",)),
                "pregnant",
            )
        )

    age_rule = catalog.age_rule
    if snapshot.age is None:
        findings.append(
            Finding(
                "moderate",
                "age-unknown",
                "Age not recorded",
                f"Age under {age_rule.min_age} is a contraindication; record the age.",
                catalog.cite(("design-choice",)),
                "age",
            )
        )
    elif snapshot.age < age_rule.min_age:
        findings.append(
            Finding(
                age_rule.severity,
                age_rule.id,
                age_rule.title,
                age_rule.rationale,
                catalog.cite(age_rule.sources),
                f"age {snapshot.age}",
                age_rule.evidence,
            )
        )

    findings.extend(blood_pressure_findings(snapshot.blood_pressures, catalog))

    entries = [entered for entered in snapshot.medications if entered.strip()]
    for entered in entries:
        findings.extend(medication_findings(entered, substance, catalog, frozenset(groups)))
    taken = [match_medication(e, catalog) for e in entries]
    findings.extend(combination_findings(taken, catalog))
    for stopped in snapshot.stopped_medications:
        findings.extend(
            stopped_findings(
                stopped, substance, snapshot.first_dose, catalog, frozenset(groups), taken
            )
        )

    findings.sort(key=lambda f: (-SEVERITY_ORDER[f.severity], f.code))
    return ScreeningResult(
        substance=substance,
        decision=_decide(findings),
        findings=tuple(findings),
        catalog_versions=dict(catalog.versions),
    )
