"""Read models returned by services (also the API's response bodies)."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict


class ReadModel(BaseModel):
    """Frozen, built from ORM rows."""

    model_config = ConfigDict(frozen=True, from_attributes=True)


class SiteRead(ReadModel):
    """A site."""

    id: int
    code: str
    name: str


class UserRead(ReadModel):
    """A user, without the password hash."""

    id: int
    username: str
    role: str
    site_id: int | None
    patient_id: int | None


class ConditionRead(ReadModel):
    """One current condition of a patient."""

    record_id: str
    version: int
    icd10_code: str
    status: str


class MedicationRead(ReadModel):
    """One current medication as entered (and normalised once screened)."""

    record_id: str
    version: int
    name_as_entered: str
    ingredient: str | None
    drug_class: str | None
    status: str
    end_date: dt.date | None = None  # when it was stopped


class HistoryFlagRead(ReadModel):
    """One medical-history answer (None = not answered / unknown)."""

    record_id: str
    version: int
    flag: str
    value: bool | None


class RecordVersionRead(ReadModel):
    """One version of a versioned record, with who, when and why."""

    record_id: str
    version: int
    is_current: bool
    recorded_at: dt.datetime
    recorded_by: str
    change_reason: str | None


class PatientSummary(ReadModel):
    """A patient as listed for staff."""

    id: int
    site_id: int
    study_code: str
    birth_year: int
    sex: str
    time_zone: str


class PatientRead(PatientSummary):
    """A patient with their current conditions, medications and history."""

    site_code: str
    conditions: list[ConditionRead]
    medications: list[MedicationRead]
    history: list[HistoryFlagRead]
