"""Exports: FHIR R4 bundles, REDCap records, and the de-identified research export.

Every export reads patient data through the same scope checks as the other services and
writes one audit event per patient exported (or, for the research export, one event listing
the patients), in the read's transaction. A blinded trial's allocation is never read here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from microtrial.domain.access import Action
from microtrial.domain.actors import Actor
from microtrial.domain.catalog import load_catalog
from microtrial.errors import NotFound, OutOfScope, ValidationError
from microtrial.interop.fhir import build_bundle, check_bundle, searchset_bundle
from microtrial.interop.imported import ImportedInstrument
from microtrial.interop.records import (
    AdverseEventData,
    ConditionData,
    DiaryData,
    DoseData,
    GuessData,
    MedicationData,
    PatientExport,
    PeriodData,
    ScreeningData,
    TrialData,
)
from microtrial.interop.redcap_records import RecordsExport, records_export
from microtrial.interop.research import ResearchTables, build_tables, research_rows
from microtrial.services.analysis_model import FitStatus
from microtrial.services.cohort_results import stored_fits
from microtrial.services.common import (
    Clock,
    audit,
    audit_patient,
    current_records,
    patient_for,
    patient_rows,
    row_by_id,
    scoped,
    site_by_code,
    site_scope,
    system_clock,
)
from microtrial.services.patients import patient_view
from microtrial.services.schemas import PatientRead
from microtrial.services.trial_fits import unblinded_ids
from microtrial.services.trial_views import TrialRead, read_trial
from microtrial.services.unit import UnitOfWork, patient_transaction
from microtrial.settings import no_export_key
from microtrial.store.db import Database
from microtrial.store.models import (
    AdverseEventRow,
    BlindingGuessRow,
    DiaryEntryRow,
    DoseEventRow,
    MedicationRow,
    PatientRow,
    PeriodRow,
    ScreeningResultRow,
    TrialRow,
)

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

_Record = TypeVar("_Record", bound="DataclassInstance")

__all__ = [
    "ExportScope",
    "export_fhir_bundle",
    "export_redcap_project",
    "fhir_bundle_for_patient",
    "research_export",
]

# ----------------------------------------------------------------------------- loading


# The fields an exported patient and trial share, name for name, with the views they are read
# from; the records inside them are converted one by one.
_PATIENT_FIELDS = ({f.name for f in fields(PatientExport)} & PatientRead.model_fields.keys()) - {
    "conditions",
    "medications",
}
_TRIAL_FIELDS = ({f.name for f in fields(TrialData)} & TrialRead.model_fields.keys()) - {"periods"}


def _trial_data(session: Session, trial: TrialRow, patient: PatientRow) -> TrialData:
    """A trial as exported: its trial view (arms only once unblinded) plus when it was created."""
    view = read_trial(session, trial, patient)
    return TrialData(
        **view.model_dump(include=_TRIAL_FIELDS),
        regimen_template=view.regimen_name,
        regimen_text=view.regimen,
        periods=tuple(PeriodData(**period.model_dump()) for period in view.periods),
        created_at=trial.created_at,
    )


def _record_data(kind: type[_Record], row: Any, **given: Any) -> _Record:
    """An exported record from its row: each field is the column of that name unless given."""
    values = {
        f.name: given[f.name] if f.name in given else getattr(row, f.name) for f in fields(kind)
    }
    return kind(**values)


def load_patient_export(
    session: Session, patient: PatientRow, trial_id: int | None = None
) -> PatientExport:
    """Snapshot one patient's current records (optionally one trial's only); no access check."""
    view = patient_view(session, patient)
    trial_query = select(TrialRow).where(TrialRow.patient_id == patient.id).order_by(TrialRow.id)
    if trial_id is not None:
        trial_query = trial_query.where(TrialRow.id == trial_id)
    trials = tuple(_trial_data(session, t, patient) for t in session.execute(trial_query).scalars())
    keep = {t.id for t in trials}

    def exported(model: Any) -> list[Any]:
        """The patient's current records of one kind that belong to the exported trials."""
        rows = current_records(session, model, patient.id)
        return [r for r in rows if trial_id is None or r.trial_id in keep]

    enrolled = patient.created_at
    zone = ZoneInfo(patient.time_zone)
    # the day each medication was first recorded (its version 1), in the patient's time zone
    added = {
        m.record_id: m.recorded_at.astimezone(zone).date()
        for m in patient_rows(session, MedicationRow, patient.id, MedicationRow.version == 1)
    }
    periods = {
        p.id: p.number
        for p in session.execute(
            select(PeriodRow).join(TrialRow).where(TrialRow.patient_id == patient.id)
        ).scalars()
    }
    return PatientExport(
        **view.model_dump(include=_PATIENT_FIELDS),
        enrolled_on=enrolled.astimezone(zone).date(),
        conditions=tuple(
            ConditionData(c.record_id, c.icd10_code, c.status) for c in view.conditions
        ),
        medications=tuple(
            MedicationData(
                m.record_id,
                m.name_as_entered,
                m.status,
                added_on=added.get(m.record_id),
                end_date=m.end_date,
            )
            for m in view.medications
        ),
        trials=trials,
        diary=tuple(
            _record_data(DiaryData, r, answers=dict(r.answers), scores=dict(r.scores))
            for r in exported(DiaryEntryRow)
        ),
        doses=tuple(_record_data(DoseData, r) for r in exported(DoseEventRow)),
        adverse_events=tuple(
            _record_data(AdverseEventData, r)
            for r in current_records(session, AdverseEventRow, patient.id)
            if trial_id is None or any(t.start_date <= r.onset_date <= t.end_date for t in trials)
        ),
        guesses=tuple(
            _record_data(GuessData, r, period_number=periods[r.period_id])
            for r in exported(BlindingGuessRow)
        ),
        # Screening belongs to the patient, not one trial: kept in a one-trial export too, so
        # that an excluded patient's export says why no trial started.
        screenings=tuple(
            _record_data(
                ScreeningData,
                r,
                findings=tuple((str(f.get("code")), str(f.get("severity"))) for f in r.findings),
            )
            for r in current_records(session, ScreeningResultRow, patient.id)
        ),
    )


def _audit_export(
    session: Session,
    actor: Actor,
    patient: PatientRow,
    entity: str,
    now: dt.datetime,
    detail: dict[str, Any] | None = None,
) -> None:
    audit_patient(session, actor, "export", entity, patient.id, patient, at=now, **(detail or {}))


@dataclass(frozen=True)
class ExportScope:
    """What an identified export covers: exactly one patient (by study code), trial or site."""

    patient_code: str | None = None
    trial_id: int | None = None
    site_code: str | None = None

    def __post_init__(self) -> None:
        chosen = [x for x in (self.patient_code, self.trial_id, self.site_code) if x is not None]
        if len(chosen) != 1:
            raise ValidationError(
                "selection", "give exactly one of patient, trial or site", allowed="one"
            )


def _patients_in_scope(session: Session, actor: Actor, scope: ExportScope) -> list[PatientRow]:
    """The patients an identified export covers, each passed through ``patient_for``."""
    patient_code, trial_id, site_code = scope.patient_code, scope.trial_id, scope.site_code
    if trial_id is not None:
        trial = row_by_id(session, TrialRow, trial_id)
        if trial is None:
            raise NotFound(f"trial: no trial {trial_id}")
        missing = f"trial: no trial {trial_id}"
        return [patient_for(session, actor, trial.patient_id, missing=missing)]
    query = select(PatientRow).order_by(PatientRow.id)
    if site_code is not None:
        site = site_by_code(session, actor, site_code)
        query = query.where(PatientRow.site_id == site.id)
    else:
        query = query.where(PatientRow.study_code == patient_code)
        query = scoped(query, actor, Action.READ_PATIENT, PatientRow.site_id)
    rows = list(session.execute(query).scalars())
    if patient_code is not None and len(rows) != 1:
        raise NotFound(f"patient: no single patient {patient_code!r}")
    return [patient_for(session, actor, p.id) for p in rows]


# ----------------------------------------------------------------------------- FHIR


def _imported_forms(
    db: Database, patients: Sequence[PatientExport]
) -> dict[str, ImportedInstrument]:
    """The user-imported instruments (by id) that the patients' diary entries answer."""
    shipped = load_catalog().instruments
    wanted = {e.instrument_id for p in patients for e in p.diary if e.instrument_id not in shipped}
    forms: dict[str, ImportedInstrument] = {}
    for instrument_id in sorted(wanted):
        found = db.instruments.find(instrument_id)
        if found is not None:
            forms[instrument_id] = ImportedInstrument(
                instrument=found.instrument,
                source="user",
                branching=dict(found.branching),
                fhir_types=dict(found.fhir_types),
                questionnaire=dict(found.questionnaire),
            )
    return forms


def fhir_bundle_for_patient(
    db: Database, actor: Actor, patient_id: int, *, clock: Clock = system_clock
) -> dict[str, Any]:
    """One patient's data as a FHIR R4 searchset Bundle (``Patient/{id}/$everything``)."""
    now = clock()
    with patient_transaction(db, actor, patient_id) as (session, patient):
        data = load_patient_export(session, patient)
        bundle = searchset_bundle(
            [data], catalog=load_catalog(), imported=_imported_forms(db, [data])
        )
        check_bundle(bundle)
        _audit_export(
            session, actor, patient, "fhir_bundle", now, {"entries": len(bundle["entry"])}
        )
        return bundle


def export_fhir_bundle(
    db: Database, actor: Actor, scope: ExportScope, *, clock: Clock = system_clock
) -> dict[str, Any]:
    """A transaction Bundle for one patient (by study code), one trial, or a whole site."""
    with db.transaction() as session:
        data = _audited_exports(session, actor, "fhir_bundle", clock(), scope)
        bundle = build_bundle(data, catalog=load_catalog(), imported=_imported_forms(db, data))
        check_bundle(bundle)  # raising rolls the audit events back with the read
        return bundle


# ----------------------------------------------------------------------------- REDCap


def export_redcap_project(
    db: Database,
    actor: Actor,
    scope: ExportScope,
    *,
    instruments: Sequence[str] | None = None,
    clock: Clock = system_clock,
) -> RecordsExport:
    """Diary records with their events and instrument-event mapping, as REDCap imports them."""
    with db.transaction() as session:
        data = _audited_exports(session, actor, "redcap_records", clock(), scope)
        return records_export(data, instruments=instruments)


def _audited_exports(
    session: Session,
    actor: Actor,
    kind: str,
    now: dt.datetime,
    scope: ExportScope,
) -> list[PatientExport]:
    """Snapshot the patients in ``scope`` (patient code, trial or site), auditing each export."""
    patients = _patients_in_scope(session, actor, scope)
    data = [load_patient_export(session, p, scope.trial_id) for p in patients]
    for patient in patients:
        _audit_export(session, actor, patient, kind, now, {"trial": scope.trial_id})
    return data


# ----------------------------------------------------------------------------- research


def _fit_status(session: Session, site_id: int | None) -> FitStatus:
    """How current the stored fits of the exported site's (or every site's) trials are."""
    trials = unblinded_ids().join(PatientRow, PatientRow.id == TrialRow.patient_id)
    if site_id is not None:
        trials = trials.where(PatientRow.site_id == site_id)
    return stored_fits(session, trials)[2]


def research_export(
    db: Database,
    actor: Actor,
    *,
    secret: str | None = None,
    k: int = 5,
    site_code: str | None = None,
    policy: Literal["generalise", "refuse"] = "generalise",
    clock: Clock = system_clock,
) -> ResearchTables:
    """The de-identified cohort export (researchers: their own site; system/admin: any).

    Pseudonyms are keyed with ``secret`` (``MICROTRIAL_EXPORT_SECRET`` or the key file, read by
    ``settings.export_secret`` for the server and the CLI alike), so the same patient gets the
    same pseudonym in every export made with that key. Without a key the export is refused: a
    key kept in the database would let any copy of the database re-identify every patient.
    """
    work = UnitOfWork(db, actor, Action.RESEARCH_EXPORT, clock=clock)
    if not secret:
        raise no_export_key()
    catalog = load_catalog()
    groups = {code.code: c.group for c in catalog.conditions.values() for code in c.codes}
    with work as (session, now):
        query = select(PatientRow).order_by(PatientRow.id)
        reach = site_scope(actor, Action.RESEARCH_EXPORT)
        site_id = reach if site_code is None else site_by_code(session, actor, site_code).id
        if reach is not None and site_id != reach:
            raise OutOfScope(f"site: no site {site_code!r}", actor=actor)
        if site_id is not None:
            query = query.where(PatientRow.site_id == site_id)
        patients = list(session.execute(query).scalars())
        data = [load_patient_export(session, p) for p in patients]
        tables = build_tables(research_rows(data, secret, groups), k=k, policy=policy)
        # The export carries no fitted numbers; its manifest says how current the stored
        # per-trial fits of the same trials (those the cohort page pools) are.
        fits = _fit_status(session, site_id)
        notes = (fits.provenance, fits.caveat) if fits.caveat else (fits.provenance,)
        tables = replace(tables, notes=(*tables.notes, *notes))
        audit(
            session,
            actor,
            "export",
            "research_export",
            None,
            at=now,
            site_id=site_id,
            detail={
                "patient_ids": [p.id for p in patients],
                "k": k,
                "generalisation_level": tables.generalisation_level,
                "withheld_patients": tables.withheld_patients,
                "rows": {name: len(frame) for name, frame in tables.tables.items()},
            },
        )
        return tables
