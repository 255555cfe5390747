"""The pydantic models of the catalog files other than instruments: sources, screening,
medications, conditions and alerts (unknown keys are errors).

``microtrial.domain.catalog`` reads the files into these models and builds the ``Catalog``;
``microtrial.domain.catalog_checks`` checks them against each other.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field

Severity = Literal["contraindicated", "major", "moderate", "minor"]
SEVERITY_ORDER: dict[str, int] = {"contraindicated": 3, "major": 2, "moderate": 1, "minor": 0}
AlertSeverity = Literal["urgent", "high", "info"]
AlertAction = Literal[
    "stop", "pause-trial", "hold-dosing", "withhold-dose", "clinician-review", "none"
]
Evidence = Literal[
    "RCT",
    "OBS",
    "CASE",
    "LABEL",
    "MECH",
    "HR",
    "EXCL",
    "REVIEW",
    "ANECDOTAL",
    "INVITRO",
    "PKGEN",
    "NONE",
]
Op = Literal["ge", "gt", "le", "lt", "eq"]


class CatalogModel(BaseModel):
    """A frozen catalog model that rejects unknown keys."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Constraint(CatalogModel):
    """A plausibility rule between two answered items: ``item`` ``op`` ``other`` must hold.

    E.g. ``{item: diastolic, op: lt, other: systolic}``; checked only when both are answered.
    """

    item: str
    op: Op
    other: str
    message: str
    sources: tuple[str, ...] = Field(min_length=1)


def constraint_problems(
    instrument_id: str, constraints: tuple[Constraint, ...], integer_items: set[str]
) -> list[str]:
    """Constraints of an instrument that name anything but its integer items."""
    return [
        f"{instrument_id}: constraint on {rule.item} names {ref}, not an integer item"
        for rule in constraints
        for ref in (rule.item, rule.other)
        if ref not in integer_items
    ]


# ---------------------------------------------------------------- sources


class Source(CatalogModel):
    """A bibliographic source; ``verified: false`` keeps REFERENCE.md's "(unverified)" mark."""

    id: str
    citation: str
    verified: bool


class SourcesFile(CatalogModel):
    version: str
    sources: tuple[Source, ...]


# ---------------------------------------------------------------- screening


class Substance(CatalogModel):
    id: str
    title: str
    unii: str
    drugbank: str
    sources: tuple[str, ...] = Field(min_length=1)


class HistoryFlag(CatalogModel):
    """One yes/no history question asked at screening."""

    id: str
    question: str
    required: bool


class _Rule(CatalogModel):
    id: str
    title: str
    rationale: str
    evidence: tuple[Evidence, ...] = Field(min_length=1)
    sources: tuple[str, ...] = Field(min_length=1)
    unverified: bool = False


class ConditionRule(_Rule):
    """A contraindication triggered by a 'yes' history answer (REFERENCE.md A.1)."""

    history_flag: str
    severity: Severity


class SimpleRule(_Rule):
    severity: Severity


class AgeRule(SimpleRule):
    min_age: int


Comparison = Literal["above", "at_or_above"]


class BloodPressureRule(SimpleRule):
    """A screening threshold, met when the mean systolic OR diastolic compares as the source says.

    ``above`` is the sources' "exceeding" / ">" (140/90 itself is not ">140/90"); ``at_or_above``
    is ">=".
    """

    systolic: int = Field(ge=50, le=300)
    diastolic: int = Field(ge=20, le=200)
    comparison: Comparison


class BloodPressureAveraging(CatalogModel):
    """How screening averages readings: at least ``min_days`` days within ``window_days``.

    With readings from fewer days, a mean over a threshold is a recheck finding of at most
    ``recheck_max_severity`` (never contraindicated: one occasion must not block on its own).
    """

    min_days: int = Field(ge=1)
    window_days: int = Field(ge=1)
    recheck_max_severity: Literal["major", "moderate", "minor"]
    rationale: str
    sources: tuple[str, ...] = Field(min_length=1)

    def first_day(self, last: dt.date) -> dt.date:
        """The first day of the look-back window that ends on ``last`` (both days in it)."""
        return last - dt.timedelta(days=self.window_days - 1)


class Match(CatalogModel):
    """Medication classes and/or ingredients a rule applies to."""

    classes: tuple[str, ...] = ()
    ingredients: tuple[str, ...] = ()

    @pydantic.model_validator(mode="after")
    def _not_empty(self) -> Match:
        if not self.classes and not self.ingredients:
            raise ValueError("match needs classes or ingredients")
        return self


class InteractionRule(CatalogModel):
    """A drug interaction (REFERENCE.md A.2) with a severity per substance."""

    id: str
    match: Match
    severity: dict[str, Severity]
    reference_class: Literal["contraindicated", "avoid", "caution", "minimal"]
    title: str
    mechanism: str
    evidence: tuple[Evidence, ...] = Field(min_length=1)
    sources: tuple[str, ...] = Field(min_length=1)
    unverified: bool = False


class TimingRule(_Rule):
    """A timing/separation rule between a medication and dosing days; itself a finding."""

    match: Match
    severity: Severity
    condition_groups: tuple[str, ...] = ()
    separation_days_before: int = Field(ge=0)
    separation_days_after: int = Field(ge=0)


class CombinationRule(_Rule):
    """Two medications taken together (different ingredients, in any entries); a finding itself."""

    first: Match
    second: Match
    severity: Severity


class ScreeningFile(CatalogModel):
    version: str
    substances: tuple[Substance, ...]
    history_flags: tuple[HistoryFlag, ...]
    condition_rules: tuple[ConditionRule, ...]
    pregnancy_rule: SimpleRule
    age_rule: AgeRule
    blood_pressure_averaging: BloodPressureAveraging
    blood_pressure_rules: tuple[BloodPressureRule, ...]
    interaction_rules: tuple[InteractionRule, ...]
    timing_rules: tuple[TimingRule, ...]
    combination_rules: tuple[CombinationRule, ...] = ()


# ---------------------------------------------------------------- medications


class MedicationClass(CatalogModel):
    id: str
    title: str


class Ingredient(CatalogModel):
    """A generic ingredient, its classes and the names (generic and brand) that map to it."""

    id: str
    classes: tuple[str, ...] = Field(min_length=1)
    names: tuple[str, ...] = ()


class Product(CatalogModel):
    """A multi-ingredient product name."""

    name: str
    ingredients: tuple[str, ...] = Field(min_length=2)


class MedicationsFile(CatalogModel):
    version: str
    sources: tuple[str, ...] = Field(min_length=1)
    classes: tuple[MedicationClass, ...]
    ingredients: tuple[Ingredient, ...]
    products: tuple[Product, ...] = ()


_FORM_WORDS = frozenset(
    """tab tabs tablet tablets cap caps capsule capsules er xr sr cr xl la dr ir odt ec
    inj injection injectable solution oral liquid syrup suspension patch patches spray nasal cream
    gel ointment drops extended release delayed immediate sustained controlled chewable
    dispersible film coated pen autoinjector prefilled syringe vial powder sublingual buccal
    transdermal topical hcl hydrochloride hydrobromide sodium potassium succinate besylate
    tartrate maleate mesylate fumarate citrate carbonate sulfate sulphate phosphate acetate
    mg mcg ug µg g ml iu unit units daily""".split()  # noqa: SIM905 - a word list reads better
)
_STRENGTH_RE = re.compile(r"\d+(?:[.,]\d+)?\s*(?:mg|mcg|µg|ug|g|ml|iu|units?|%)\b", re.I)


def normalize_medication_name(text: str) -> tuple[str, ...]:
    """Lower-case a medication name and drop strengths, forms, salts and punctuation."""
    text = _STRENGTH_RE.sub(" ", text.lower().replace("’", "'"))
    tokens = re.split(r"[^a-z0-9µ]+", text)
    return tuple(t for t in tokens if t and not t.isdigit() and t not in _FORM_WORDS)


# ---------------------------------------------------------------- conditions


class Endpoint(CatalogModel):
    id: str
    description: str
    instrument: str
    sources: tuple[str, ...] = Field(min_length=1)


class Endpoints(CatalogModel):
    primary: tuple[Endpoint, ...] = Field(min_length=1)
    secondary: tuple[Endpoint, ...] = ()


class ConditionGroup(CatalogModel):
    """A condition group (neuropathic, migraine, cluster, fibromyalgia) and its instruments."""

    id: str
    title: str
    diary_instruments: tuple[str, ...] = Field(min_length=1)
    periodic_instruments: tuple[str, ...] = ()
    endpoints: Endpoints


class EvidenceNote(CatalogModel):
    """A short, sourced note on what is and is not known about microdosing for a condition."""

    id: str
    known: str
    unknown: str
    sources: tuple[str, ...] = Field(min_length=1)


class Icd10Code(CatalogModel):
    code: str
    title: str
    unverified: bool = False


class Condition(CatalogModel):
    """A condition with its ICD-10-CM codes (REFERENCE.md F.1), group and evidence note."""

    id: str
    title: str
    group: str
    evidence_note: str
    codes: tuple[Icd10Code, ...] = Field(min_length=1)
    sources: tuple[str, ...] = Field(min_length=1)


class ConditionsFile(CatalogModel):
    version: str
    groups: tuple[ConditionGroup, ...]
    evidence_notes: tuple[EvidenceNote, ...]
    conditions: tuple[Condition, ...]


# ---------------------------------------------------------------- alerts


class AlertRule(CatalogModel):
    """The fields every alert rule has."""

    code: str
    severity: AlertSeverity
    action: AlertAction
    message: str
    sources: tuple[str, ...] = Field(min_length=1)
    unverified: bool = False
    # What the patient is told while the alert holds their dosing ({date}: the day it was raised).
    patient_message: str | None = None
    # While it is open the patient sees crisis resources (self-harm, PHQ-9 item 9).
    crisis: bool = False
    # While it is open the patient is told to get emergency care now if unwell (the rule's
    # clinician message asks for emergency care or urgent assessment: the patient must hear it too).
    urgent_care: bool = False
    # A stop for good (e.g. a seizure): once raised during a trial, that trial is never started
    # or resumed, even after the alert is acknowledged (withdraw it instead).
    ends_trial: bool = False

    @pydantic.model_validator(mode="after")
    def _ends_trial_stops(self) -> AlertRule:
        """Only a rule whose action is ``stop`` may end the trial for good."""
        if self.ends_trial and self.action != "stop":
            raise ValueError(f"{self.code}: ends_trial needs action stop, not {self.action}")
        return self


class CrisisContact(CatalogModel):
    """A crisis line shown to patients (a site may set its own)."""

    label: str
    number: str
    # The emergency-services number of ``region`` (e.g. "UK"): kit labels print every such line
    # when a site sets no lines of its own, since its country is not recorded.
    emergency_region: str | None = None


class InstrumentAlertRule(AlertRule):
    instrument: str
    op: Op
    value: float
    item: str | None = None
    score: str | None = None


class AdverseEventAlertRule(AlertRule):
    min_grade: int = Field(ge=1, le=5)
    serious_triggers: bool


class PersistentGradeRule(AlertRule):
    grade: int
    min_days: int
    min_doses_recurring: int


class ChecklistLink(CatalogModel):
    """A graded item of the side-effect checklist that reports a symptom rule's symptom: a grade of
    ``min_grade`` or more does, only on a day without a capsule when ``day_without_capsule``."""

    item: str
    min_grade: int = Field(ge=1)
    day_without_capsule: bool = False


class SymptomRule(AlertRule):
    symptoms: tuple[str, ...] = Field(min_length=1)
    # The checklist's graded item reporting the rule's (first) symptom, if any; yes/no checklist
    # items report a symptom by having its code as their id.
    checklist_item: ChecklistLink | None = None
    # Staff names of symptoms that no yes/no checklist item names (its text does otherwise).
    names: dict[str, str] = Field(default_factory=dict)

    @pydantic.model_validator(mode="after")
    def _names_are_symptoms(self) -> SymptomRule:
        """Only the rule's own symptoms are named."""
        extra = sorted(set(self.names) - set(self.symptoms))
        if extra:
            raise ValueError(f"{self.code}: names for symptoms it lacks: {', '.join(extra)}")
        return self


class BloodPressureAlertRule(AlertRule):
    systolic_min: int
    diastolic_min: int


class ConsecutiveDaysRule(AlertRule):
    consecutive_days: int = Field(ge=1)


class PainFlareRule(ConsecutiveDaysRule):
    points_above_baseline: float


class WorseningRule(AlertRule):
    relative_increase: float = Field(gt=0)
    consecutive_weeks: int = Field(ge=1)


class DoseCalendarRule(AlertRule):
    tolerance_days: int = Field(ge=0)


class NewMedicationRule(AlertRule):
    min_severity: Severity


class AlertCatalog(CatalogModel):
    """Alert thresholds (REFERENCE.md D.3), read by ``microtrial.domain.alerts``."""

    version: str
    instrument_rules: tuple[InstrumentAlertRule, ...]
    adverse_event: AdverseEventAlertRule
    persistent_grade2: PersistentGradeRule
    symptom_rules: tuple[SymptomRule, ...]
    blood_pressure_rules: tuple[BloodPressureAlertRule, ...]
    blood_pressure_strict: BloodPressureAlertRule
    pain_flare: PainFlareRule
    pain_worsening: WorseningRule
    headache_worsening: WorseningRule
    missed_diary: ConsecutiveDaysRule
    dose_off_calendar: DoseCalendarRule
    dose_during_hold: AlertRule
    multiple_doses_per_day: AlertRule
    wrong_kit: AlertRule
    kit_not_dispensed: AlertRule
    new_medication: NewMedicationRule
    crisis_contacts: tuple[CrisisContact, ...] = Field(min_length=1)

    def rules(self) -> tuple[AlertRule, ...]:
        """Every alert rule of the catalog."""
        return (
            *self.instrument_rules,
            self.adverse_event,
            self.persistent_grade2,
            *self.symptom_rules,
            *self.blood_pressure_rules,
            self.blood_pressure_strict,
            self.pain_flare,
            self.pain_worsening,
            self.headache_worsening,
            self.missed_diary,
            self.dose_off_calendar,
            self.dose_during_hold,
            self.multiple_doses_per_day,
            self.wrong_kit,
            self.kit_not_dispensed,
            self.new_medication,
        )
