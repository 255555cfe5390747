"""Alert rules (REFERENCE.md D.3): pure checks run on every new diary entry, dose or adverse event.

Every threshold comes from ``catalog/alerts.yaml`` (with its source); each function returns
``Alert`` value objects (or an empty list / None) and never touches storage. Services call them
with plain values and persist or route the alerts.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Literal

from microtrial.domain.adverse_events import (
    CHECKLIST,
    PATIENT_REPORT,
    checklist_symptoms,
    symptom_detail,
)
from microtrial.domain.catalog import Catalog, load_catalog
from microtrial.domain.catalog_files import (
    SEVERITY_ORDER,
    AlertAction,
    AlertRule,
    AlertSeverity,
    InstrumentAlertRule,
)
from microtrial.domain.medications import match_medication
from microtrial.domain.scoring import ScoreResult
from microtrial.domain.screening import combination_findings, medication_findings
from microtrial.errors import ValidationError

# Instruments holding a blood-pressure reading: the patient's own at home, and one the clinic
# measured; both go through the same blood-pressure rules.
BP_INSTRUMENTS = frozenset({"home_bp", "clinic_bp"})

__all__ = [
    "BP_INSTRUMENTS",
    "AdverseEventReport",
    "Alert",
    "alerts_for_score",
    "check_adverse_event",
    "check_blood_pressure",
    "check_dose_on_calendar",
    "check_dose_report",
    "check_kit_dispensed",
    "check_missed_diary_days",
    "check_new_medications",
    "check_pain_flare",
    "check_persistent_grade2",
    "check_symptom_codes",
    "check_symptoms",
    "check_weekly_worsening",
    "checklist_linked_symptoms",
    "crisis_codes",
    "crisis_item_rules",
    "crisis_rule_fires",
    "default_crisis_contacts",
    "emergency_numbers",
    "known_symptoms",
    "patient_notice",
    "symptom_names",
    "tel_uri",
    "trial_ending_codes",
    "urgent_care_codes",
]


@dataclass(frozen=True, slots=True)
class Alert:
    """An alert raised by a rule: what, how urgent, what to do, and why."""

    code: str
    severity: AlertSeverity
    action: AlertAction
    message: str
    sources: tuple[str, ...]
    detail: str | None = None

    def as_dict(self) -> dict[str, object]:
        """The alert as plain JSON-ready values."""
        return {
            "code": self.code,
            "severity": self.severity,
            "action": self.action,
            "message": self.message,
            "detail": self.detail,
            "sources": list(self.sources),
        }


@dataclass(frozen=True, slots=True)
class AdverseEventReport:
    """An adverse event as recorded: term, CTCAE grade (1–5), seriousness and symptom codes."""

    term: str
    grade: int
    serious: bool = False
    symptoms: frozenset[str] = frozenset()


def _compare(op: str, value: float, threshold: float) -> bool:
    return {
        "ge": value >= threshold,
        "gt": value > threshold,
        "le": value <= threshold,
        "lt": value < threshold,
        "eq": value == threshold,
    }[op]


def alerts_for_score(result: ScoreResult, catalog: Catalog | None = None) -> list[Alert]:
    """Alerts from a scored instrument (e.g. PHQ-9 item 9 >= 1, whatever the total)."""
    catalog = catalog or load_catalog()
    alerts: list[Alert] = []
    for rule in catalog.alerts.instrument_rules:
        if rule.instrument != result.instrument_id:
            continue
        value: float | None
        if rule.item is not None:
            value = _item_value(result.answers, rule.item)
        else:
            value = result.scores[rule.score or ""].value
        if value is not None and _compare(rule.op, value, rule.value):
            target = rule.item or rule.score
            alerts.append(
                Alert(
                    rule.code,
                    rule.severity,
                    rule.action,
                    rule.message,
                    catalog.cite(rule.sources),
                    f"{target} = {value:g}",
                )
            )
    answers = result.answers
    if result.instrument_id in BP_INSTRUMENTS:
        systolic, diastolic = answers.get("systolic"), answers.get("diastolic")
        if isinstance(systolic, int) and isinstance(diastolic, int):
            alerts.extend(check_blood_pressure(systolic, diastolic, catalog=catalog))
    if result.instrument_id == CHECKLIST:
        alerts.extend(_checklist_alerts(answers, catalog))
    return alerts


def _item_value(answers: Mapping[str, object], item: str) -> float | None:
    raw = answers.get(item)
    return float(raw) if isinstance(raw, int) else None  # bool is an int: True = 1


def crisis_item_rules(
    instrument_id: str, catalog: Catalog | None = None
) -> tuple[InstrumentAlertRule, ...]:
    """The instrument's urgent item rules: an answer tripping one is a crisis (PHQ-9 item 9)."""
    catalog = catalog or load_catalog()
    return tuple(
        rule
        for rule in catalog.alerts.instrument_rules
        if rule.instrument == instrument_id and rule.item is not None and rule.severity == "urgent"
    )


def crisis_rule_fires(
    instrument_id: str, answers: Mapping[str, object], catalog: Catalog | None = None
) -> bool:
    """Whether an answer trips an urgent item rule of the instrument (e.g. PHQ-9 item 9 >= 1).

    Such an answer is a crisis: the patient sees crisis resources at once, before any review.
    """
    for rule in crisis_item_rules(instrument_id, catalog):
        value = _item_value(answers, rule.item or "")
        if value is not None and _compare(rule.op, value, rule.value):
            return True
    return False


def _checklist_alerts(answers: Mapping[str, object], catalog: Catalog) -> list[Alert]:
    """The checklist's alerts, naming each symptom at the pausing grade: "Nausea, grade 3"."""
    symptoms = {k for k, v in answers.items() if v is True and k != "serious"}
    symptoms |= checklist_linked_symptoms(answers, day_without_capsule=False, catalog=catalog)
    graded = checklist_symptoms(catalog.instrument(CHECKLIST), answers)
    serious = answers.get("serious") is True
    report = AdverseEventReport(
        term="checklist",
        grade=max((s.grade for s in graded), default=0),
        serious=serious,
        symptoms=frozenset(symptoms),
    )
    found = check_adverse_event(report, catalog=catalog)
    rule = catalog.alerts.adverse_event
    # A serious report names every graded symptom; otherwise those at the pausing grade.
    named = graded if serious else [s for s in graded if s.grade >= rule.min_grade]
    detail = symptom_detail(named, serious, PATIENT_REPORT)
    return [
        replace(a, detail=detail) if a.code == rule.code and a.action == rule.action else a
        for a in found
    ]


def checklist_linked_symptoms(
    answers: Mapping[str, object], *, day_without_capsule: bool, catalog: Catalog | None = None
) -> set[str]:
    """Symptom codes that the checklist's graded items report through a symptom rule's
    ``checklist_item`` link: the links for a day without a capsule when ``day_without_capsule``
    (the caller knows the day had none), else the links that need no such day."""
    catalog = catalog or load_catalog()
    found: set[str] = set()
    for rule in catalog.alerts.symptom_rules:
        link = rule.checklist_item
        if link is None or link.day_without_capsule != day_without_capsule:
            continue
        grade = _item_value(answers, link.item)
        if grade is not None and grade >= link.min_grade:
            found.add(rule.symptoms[0])
    return found


def known_symptoms(catalog: Catalog | None = None) -> frozenset[str]:
    """The symptom codes that the symptom rules recognise."""
    catalog = catalog or load_catalog()
    return frozenset(s for rule in catalog.alerts.symptom_rules for s in rule.symptoms)


def symptom_names(catalog: Catalog | None = None) -> dict[str, str]:
    """Every symptom code the rules recognise with its staff name, in the rules' order (the
    rule's ``names``, else the text of the yes/no checklist item of that code)."""
    catalog = catalog or load_catalog()
    items = {i.id: i.text for i in catalog.instrument(CHECKLIST).items if i.type == "boolean"}
    return {
        s: rule.names.get(s) or items.get(s, s)
        for rule in catalog.alerts.symptom_rules
        for s in rule.symptoms
    }


def check_symptom_codes(symptoms: Iterable[str], catalog: Catalog | None = None) -> frozenset[str]:
    """The reported symptom codes, refused (naming the field and the codes allowed) when one is
    not a symptom that a rule recognises: an unknown code would silently raise nothing."""
    known = known_symptoms(catalog)
    given = frozenset(symptoms)
    unknown = sorted(given - known)
    if unknown:
        raise ValidationError(
            "symptoms",
            f"unknown symptom {', '.join(unknown)}",
            value=", ".join(unknown),
            allowed=sorted(known),
        )
    return given


def check_symptoms(symptoms: Iterable[str], catalog: Catalog | None = None) -> list[Alert]:
    """Alerts for reported symptoms: seizure, serotonin toxicity, psychosis/mania, pregnancy..."""
    catalog = catalog or load_catalog()
    reported = set(symptoms)
    alerts = []
    for rule in catalog.alerts.symptom_rules:
        hits = sorted(reported & set(rule.symptoms))
        if hits:
            alerts.append(
                Alert(
                    rule.code,
                    rule.severity,
                    rule.action,
                    rule.message,
                    catalog.cite(rule.sources),
                    ", ".join(hits),
                )
            )
    return alerts


def check_adverse_event(event: AdverseEventReport, catalog: Catalog | None = None) -> list[Alert]:
    """Alerts for an adverse event: grade >= 3 or serious pauses the trial; red flags stop."""
    catalog = catalog or load_catalog()
    if not 0 <= event.grade <= 5:
        raise ValidationError("grade", "CTCAE grade out of range", value=event.grade, allowed="1–5")
    rule = catalog.alerts.adverse_event
    alerts: list[Alert] = []
    if event.grade >= rule.min_grade or (rule.serious_triggers and event.serious):
        detail = f"{event.term}: grade {event.grade}" + (", serious" if event.serious else "")
        alerts.append(
            Alert(
                rule.code,
                rule.severity,
                rule.action,
                rule.message,
                catalog.cite(rule.sources),
                detail,
            )
        )
    alerts.extend(check_symptoms(event.symptoms, catalog=catalog))
    return alerts


def check_persistent_grade2(
    grade: int,
    days_lasting: int,
    doses_recurred_after: int = 0,
    catalog: Catalog | None = None,
) -> Alert | None:
    """Grade 2 AE lasting > 7 days or recurring after >= 2 doses -> clinician review."""
    catalog = catalog or load_catalog()
    rule = catalog.alerts.persistent_grade2
    if grade != rule.grade:
        return None
    if days_lasting >= rule.min_days or doses_recurred_after >= rule.min_doses_recurring:
        return Alert(
            rule.code,
            rule.severity,
            rule.action,
            rule.message,
            catalog.cite(rule.sources),
            f"{days_lasting} day(s), recurred after {doses_recurred_after} dose(s)",
        )
    return None


def check_blood_pressure(
    systolic: int, diastolic: int, strict: bool = False, catalog: Catalog | None = None
) -> list[Alert]:
    """Alert for a pre-dose home reading: >=180/120 stop; >=160/90 (or 140/90 strict) withhold."""
    catalog = catalog or load_catalog()
    rules = list(catalog.alerts.blood_pressure_rules)
    if strict:
        rules.append(catalog.alerts.blood_pressure_strict)
    for rule in rules:  # most severe first
        if systolic >= rule.systolic_min or diastolic >= rule.diastolic_min:
            return [
                Alert(
                    rule.code,
                    rule.severity,
                    rule.action,
                    rule.message,
                    catalog.cite(rule.sources),
                    f"{systolic}/{diastolic} mmHg",
                )
            ]
    return []


def check_pain_flare(
    recent_scores: Sequence[float | None],
    baseline_mean: float,
    catalog: Catalog | None = None,
) -> Alert | None:
    """Pain flare: the last N daily scores (oldest first, None = missing) all >= baseline + 3."""
    catalog = catalog or load_catalog()
    rule = catalog.alerts.pain_flare
    window = list(recent_scores)[-rule.consecutive_days :]
    if len(window) < rule.consecutive_days:
        return None
    limit = baseline_mean + rule.points_above_baseline
    if all(s is not None and s >= limit for s in window):
        return Alert(
            rule.code,
            rule.severity,
            rule.action,
            rule.message,
            catalog.cite(rule.sources),
            f"last {rule.consecutive_days} days {window} vs baseline {baseline_mean:g}",
        )
    return None


def check_weekly_worsening(
    weekly_values: Sequence[float | None],
    baseline: float,
    kind: Literal["pain", "headache"] = "pain",
    catalog: Catalog | None = None,
) -> Alert | None:
    """Weekly mean pain >= 30% (or migraine days/attacks >= 50%) above baseline, 2 weeks running."""
    catalog = catalog or load_catalog()
    rule = catalog.alerts.pain_worsening if kind == "pain" else catalog.alerts.headache_worsening
    window = list(weekly_values)[-rule.consecutive_weeks :]
    if len(window) < rule.consecutive_weeks or baseline <= 0:
        return None
    limit = baseline * (1 + rule.relative_increase)
    if all(v is not None and v >= limit for v in window):
        return Alert(
            rule.code,
            rule.severity,
            rule.action,
            rule.message,
            catalog.cite(rule.sources),
            f"weeks {window} vs baseline {baseline:g}",
        )
    return None


def check_missed_diary_days(
    entry_dates: Collection[date],
    today: date,
    expected_from: date,
    catalog: Catalog | None = None,
) -> Alert | None:
    """Alert when the diary is missing on N consecutive days before ``today``.

    Days before ``expected_from`` (e.g. enrolment) do not count; today may still be filled in.
    """
    catalog = catalog or load_catalog()
    rule = catalog.alerts.missed_diary
    entered = set(entry_dates)
    missed = 0
    day = today - timedelta(days=1)
    while day >= expected_from and day not in entered:
        missed += 1
        day -= timedelta(days=1)
    if missed >= rule.consecutive_days:
        return Alert(
            rule.code,
            rule.severity,
            rule.action,
            rule.message,
            catalog.cite(rule.sources),
            f"{missed} consecutive day(s) without an entry",
        )
    return None


def check_dose_on_calendar(
    dose_date: date,
    scheduled_dates: Collection[date],
    catalog: Catalog | None = None,
) -> Alert | None:
    """Protocol deviation when a dose is taken on a day the calendar does not schedule."""
    catalog = catalog or load_catalog()
    rule = catalog.alerts.dose_off_calendar
    tolerance = timedelta(days=rule.tolerance_days)
    if any(abs(dose_date - d) <= tolerance for d in scheduled_dates):
        return None
    return Alert(
        rule.code,
        rule.severity,
        rule.action,
        rule.message,
        catalog.cite(rule.sources),
        f"dose on {dose_date.isoformat()}",
    )


def _rule_alert(rule: AlertRule, catalog: Catalog, detail: str) -> Alert:
    return Alert(
        rule.code, rule.severity, rule.action, rule.message, catalog.cite(rule.sources), detail
    )


def check_dose_report(
    dose_date: date,
    scheduled_dates: Collection[date],
    *,
    held_by: str | None,
    doses_that_day: int,
    expected_kit: str | None,
    kit: str,
    catalog: Catalog | None = None,
) -> list[Alert]:
    """The deviations of a reported dose, as alerts: taken while held (``held_by`` says why),
    more than one on a day (``doses_that_day``: the earlier ones), off the calendar, wrong kit.
    """
    catalog = catalog or load_catalog()
    rules = catalog.alerts
    found: list[Alert] = []
    if held_by is not None:
        found.append(_rule_alert(rules.dose_during_hold, catalog, held_by))
    if doses_that_day > 0:
        detail = f"{doses_that_day + 1} doses on {dose_date.isoformat()}"
        found.append(_rule_alert(rules.multiple_doses_per_day, catalog, detail))
    off = check_dose_on_calendar(dose_date, scheduled_dates, catalog)
    if off is not None:
        found.append(off)
    if expected_kit and expected_kit != kit:
        detail = f"expected kit {expected_kit}, recorded {kit}"
        found.append(_rule_alert(rules.wrong_kit, catalog, detail))
    return found


def check_kit_dispensed(kit: str, dispensed: bool, catalog: Catalog | None = None) -> Alert | None:
    """A clinician's check when a capsule is recorded from a kit of the trial that the pharmacy
    has not marked dispensed (a record gap or a wrong kit; the dose itself stands)."""
    if dispensed:
        return None
    catalog = catalog or load_catalog()
    return _rule_alert(catalog.alerts.kit_not_dispensed, catalog, f"kit {kit}")


def patient_notice(code: str, day: date, catalog: Catalog | None = None) -> str:
    """What a patient is told about an alert that holds their dosing, in plain words."""
    catalog = catalog or load_catalog()
    when = f"{day.day} {day.strftime('%B %Y')}"
    for rule in catalog.alerts.rules():
        if rule.code == code and rule.patient_message:
            return rule.patient_message.format(date=when)
    return f"Something you reported on {when} needs your clinic's review."


def crisis_codes(catalog: Catalog | None = None) -> frozenset[str]:
    """Codes of the alerts during which the patient sees crisis resources."""
    catalog = catalog or load_catalog()
    return frozenset(rule.code for rule in catalog.alerts.rules() if rule.crisis)


def urgent_care_codes(catalog: Catalog | None = None) -> frozenset[str]:
    """Codes of the alerts during which the patient is told to get emergency care if unwell."""
    catalog = catalog or load_catalog()
    return frozenset(rule.code for rule in catalog.alerts.rules() if rule.urgent_care)


def trial_ending_codes(catalog: Catalog | None = None) -> frozenset[str]:
    """Codes of the alerts that end a trial for good (never started or resumed after them)."""
    catalog = catalog or load_catalog()
    return frozenset(rule.code for rule in catalog.alerts.rules() if rule.ends_trial)


def default_crisis_contacts(catalog: Catalog | None = None) -> list[tuple[str, str]]:
    """The catalog's crisis lines as (label, number), for sites that set none."""
    catalog = catalog or load_catalog()
    return [(c.label, c.number) for c in catalog.alerts.crisis_contacts]


def emergency_numbers(catalog: Catalog | None = None) -> str:
    """The catalog's emergency-services numbers in one short line for a kit label, each with its
    region ("911 (US, Canada) · 999 (UK) · 112 (EU)"), or "your local emergency number"."""
    catalog = catalog or load_catalog()
    found = [
        f"{c.number} ({c.emergency_region})"
        for c in catalog.alerts.crisis_contacts
        if c.emergency_region
    ]
    return " \u00b7 ".join(found) or "your local emergency number"


def tel_uri(number: str) -> str:
    """A ``tel:`` link for a phone number as people write it ("116 123" -> "tel:116123")."""
    return "tel:" + "".join(ch for ch in number if ch.isdigit() or ch == "+")


def check_new_medications(
    previous: Sequence[str],
    current: Sequence[str],
    substance: str,
    catalog: Catalog | None = None,
) -> list[Alert]:
    """Alert for each newly added medication with a contraindicated or major finding.

    Findings include the catalog's combinations of the new entry with any listed medication
    (e.g. linezolid added to sertraline). A medication counts as new unless its text or all its
    ingredients were already listed.
    """
    catalog = catalog or load_catalog()
    rule = catalog.alerts.new_medication
    threshold = SEVERITY_ORDER[rule.min_severity]
    before_text = {p.strip().lower() for p in previous}
    before_ingredients = {i for p in previous for i in match_medication(p, catalog).ingredients}
    alerts = []
    matches = [match_medication(entered, catalog) for entered in current if entered.strip()]
    for med in matches:
        entered = med.entered
        ingredients = set(med.ingredients)
        if entered.strip().lower() in before_text or (
            ingredients and ingredients <= before_ingredients
        ):
            continue  # same text, or only ingredients already taken (e.g. a new strength)
        combined = combination_findings(matches, catalog, involving=med)
        for finding in (*medication_findings(entered, substance, catalog), *combined):
            if SEVERITY_ORDER[finding.severity] >= threshold:
                alerts.append(
                    Alert(
                        rule.code,
                        rule.severity,
                        rule.action,
                        rule.message,
                        catalog.cite(rule.sources) + finding.sources,
                        f"{finding.matched}: {finding.title} ({finding.severity})",
                    )
                )
    return alerts
