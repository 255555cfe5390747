"""Request and response bodies of the JSON API (read models come from ``services``)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from microtrial.domain.adaptive import DEFAULT_BENEFIT, DEFAULT_FUTILITY, PRESETS
from microtrial.domain.inputs import check_value
from microtrial.domain.substances import substance_ids

Answer = int | float | bool | str | None


if TYPE_CHECKING:
    Substance = str
    PresetName = str
else:
    # The catalog's substances as a Literal, built when the module loads, so that the OpenAPI
    # schema lists them as an enum and an unknown one is a 422 (mypy cannot read a built Literal).
    Substance = Literal[substance_ids()]
    # The named adaptive rules (domain.adaptive.PRESETS), likewise an enum.
    PresetName = Literal[tuple(PRESETS)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _ordinary(cls, value: Any, info: ValidationInfo) -> Any:
        """Every text without control characters (NUL), every date and time in range."""
        return check_value(info.field_name or "body", value)


class TokenRead(BaseModel):
    """An OAuth2 bearer token."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


class MeRead(BaseModel):
    """Who the token belongs to."""

    username: str
    role: str
    site_id: int | None
    patient_id: int | None
    language: str | None = None  # one of en, es, de, nl, pt; None: the browser's choice


class MeUpdate(_Body):
    """Change one's own account settings: the language (en, es, de, nl, pt)."""

    language: str = Field(max_length=8)


class PatientCreate(_Body):
    """Enrol a patient under a pseudonymous study code."""

    site_code: str = Field(max_length=32)
    study_code: str = Field(max_length=40)
    birth_year: int
    sex: str = Field(max_length=10)
    time_zone: str = Field(max_length=64)
    conditions: list[str] = Field(default_factory=list, max_length=20)


class MedicationCreate(_Body):
    """Add a current medication as the patient reports it."""

    name: str = Field(max_length=200)


class ConditionCreate(_Body):
    """Add a diagnosis by ICD-10-CM code."""

    icd10_code: str = Field(max_length=10)


class MedicationUpdate(_Body):
    """Correct a medication: a new version with a reason (the old one is kept)."""

    name_as_entered: str | None = Field(default=None, max_length=200)
    status: Literal["active", "stopped"] | None = None
    reason: str = Field(max_length=500)


class ConditionUpdate(_Body):
    """Correct a condition: a new version with a reason."""

    icd10_code: str | None = Field(default=None, max_length=10)
    status: Literal["active", "resolved"] | None = None
    reason: str = Field(max_length=500)


class DiaryEntryCreate(_Body):
    """One instrument's answers for one local day (0-10 pain, blood pressure, PHQ-9 ...)."""

    local_date: dt.date
    instrument_id: str = Field(default="daily_diary", max_length=60)
    answers: dict[str, Answer] = Field(max_length=100)
    note: str | None = Field(default=None, max_length=2000, description="The day's short note.")


class DiaryEntryCorrect(_Body):
    """A correction of a saved day: changed answers (null removes one), the note, and why."""

    answers: dict[str, Answer] = Field(default_factory=dict, max_length=100)
    note: str | None = Field(
        default=None, max_length=2000, description="The day's note; null or empty clears it."
    )
    reason: str = Field(max_length=500, description="Why the day is corrected (kept with it).")


class AttackCreate(_Body):
    """A migraine or cluster attack in the patient's local time (its day's diary is updated)."""

    instrument_id: Literal["migraine_diary", "cluster_attack_log"]
    started: dt.datetime = Field(description="Local start (no time zone: the patient's).")
    ended: dt.datetime | None = Field(default=None, description="Local end; null if ongoing.")
    severity: int = Field(
        description="The instrument's severity item (peak_severity 1-3, max_intensity 0-10)."
    )
    medication_items: list[str] = Field(default_factory=list, max_length=10)
    medication: str | None = Field(default=None, max_length=200)


class AdverseEventCreate(_Body):
    """An adverse event with CTCAE grade (1-5)."""

    term: str = Field(max_length=120)
    grade: int
    serious: bool = False
    onset_date: dt.date
    # Red-flag symptom codes of the catalog's symptom rules (e.g. chest_pain): each raises its
    # rule's alert. An unknown code is refused with the codes allowed.
    symptoms: list[str] = Field(default_factory=list, max_length=20)


class AdverseEventUpdate(_Body):
    """A clinician's review of an adverse event: confirm, regrade or close (a new version)."""

    action: Literal["confirm", "regrade", "close"]
    grade: int | None = None
    serious: bool | None = None
    # The allowed outcomes live in domain.adverse_events.OUTCOMES (a refusal names them).
    outcome: str | None = Field(default=None, max_length=40)
    resolved_date: dt.date | None = None
    reason: str | None = Field(default=None, max_length=500)


class AlertAcknowledge(_Body):
    """A clinician's note on acting on an alert."""

    note: str = Field(max_length=2000)


class ScreeningCreate(_Body):
    """Screen a patient for a substance."""

    substance: Substance


class SignOff(_Body):
    """A clinician's reason for clearing a clinician-review screening."""

    reason: str = Field(max_length=2000)


class RegimenBody(_Body):
    """A catalog regimen template with substance, amount and unit."""

    template: str = Field(max_length=60)
    substance: Substance
    amount: float
    unit: str = Field(max_length=40)
    weekdays: list[str] | None = Field(default=None, max_length=7)


class DesignBody(_Body):
    """Run-in, pairs and period lengths (defaults: 7-day run-in, 3 pairs of 14-day periods)."""

    run_in_days: int = 7
    pairs: int = 3
    period_days: int = 14
    wash_in_days: int = 3
    max_run_length: int | None = None


class AdaptiveBody(_Body):
    """An adaptive trial's stopping rule (docs/ANALYSIS.md "Adaptive trials"); the design's
    pairs default to ``max_pairs``, all allocated at planning. ``preset`` names a rule
    (``default``, ``short``) that sets the minimum pairs and both thresholds (leave them out);
    without it the numbers given (or their defaults) are the rule."""

    preset: PresetName | None = None
    min_pairs: int = 2
    max_pairs: int = 5
    benefit_threshold: float = DEFAULT_BENEFIT
    futility_threshold: float = DEFAULT_FUTILITY
    outcome: str = Field(default="pain", max_length=20)


class TrialCreate(_Body):
    """Plan a blinded n-of-1 trial (adaptive when ``adaptive`` is given)."""

    regimen: RegimenBody
    design: DesignBody = Field(default_factory=DesignBody)
    start_date: dt.date
    adaptive: AdaptiveBody | None = None


class TrialTransition(_Body):
    """Move a trial on: confirm-screening, schedule, start, pause, resume, complete, withdraw."""

    action: str = Field(max_length=30)
    reason: str | None = Field(default=None, max_length=2000)


class Unblind(_Body):
    """Break the blind: at the end, or early for safety with a reason."""

    reason: str | None = Field(default=None, max_length=2000)


class DoseCreate(_Body):
    """A dose check-in with the kit code printed on the pack."""

    taken_at: dt.datetime
    kit_code: str = Field(max_length=16)


class KitRecordCreate(_Body):
    """A kit's pharmacy step: the kit code and the capsules filled into it or handed out."""

    kit_code: str = Field(max_length=16)
    capsules: int = Field(ge=1, le=366)


class GuessCreate(_Body):
    """The patient's guess of a period's arm near its end."""

    period: int
    guess: Literal["active", "placebo", "dont_know"]
    confidence: int | None = None


class CalendarDayRead(BaseModel):
    """One local date of a trial plan (no arm)."""

    date: dt.date
    phase: str
    period: int | None
    period_day: int | None
    is_wash_in: bool
    is_dose_day: bool
    kit_code: str | None


class AdherenceRead(BaseModel):
    """Planned and taken doses so far and the deviations."""

    planned: int
    taken: int
    proportion: float | None
    deviations: list[dict[str, str | int | None]]


class UserRoleChange(_Body):
    """A user's new role (staff roles only; a patient's login keeps its role)."""

    role: str = Field(max_length=40)


class UserPasswordSet(_Body):
    """A user's new password, set by an administrator of their site."""

    password: str = Field(max_length=1024)


class ReminderSettingsUpdate(_Body):
    """The patient's reminders: both local times (null: none of that kind), channel, pause."""

    diary_time: dt.time | None = Field(description="Local time of the diary reminder (HH:MM).")
    dose_time: dt.time | None = Field(description="Local time of the capsule reminder (HH:MM).")
    channel: str = Field(max_length=20, description="none, email or calendar.")
    paused: bool = False


class ReminderFeedRead(BaseModel):
    """A new calendar feed's addresses: shown this once (only a hash of the token is kept)."""

    https_url: str
    webcal_url: str
