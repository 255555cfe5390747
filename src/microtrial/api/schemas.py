"""Request and response bodies of the JSON API (read models come from ``services``)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Answer = int | float | bool | str | None


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


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


class AdverseEventCreate(_Body):
    """An adverse event with CTCAE grade (1-5)."""

    term: str = Field(max_length=120)
    grade: int
    serious: bool = False
    onset_date: dt.date
