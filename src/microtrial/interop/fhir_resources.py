"""The FHIR R4 resources of one patient's export, one builder per resource type.

``microtrial.interop.fhir`` composes them into a transaction Bundle and checks it. Every entry
gets a deterministic ``urn:uuid`` fullUrl (UUIDv5 of its identifier, which holds the record id,
never its version), so re-exports produce the same bundle, and a request that makes posting the
bundle again update what changed and create nothing new: a conditional update (``PUT
<Type>?identifier=<system>|<value>``) on our own identifier where R4 defines the ``identifier``
search parameter for the resource type, else (AdverseEvent) an update (PUT) of a logical id
derived from the same UUID. A record corrected since it was first saved is sent with status
``amended`` (QuestionnaireResponse, Observation).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from microtrial.domain.catalog import Catalog, Instrument
from microtrial.domain.lifecycle import status_of
from microtrial.domain.medications import match_medication
from microtrial.interop.fhir_codes import (
    AE_NON_SERIOUS,
    AE_OUTCOME,
    AE_SERIOUS,
    AE_SERIOUSNESS,
    AE_SERIOUSNESS_VERSION,
    AE_SEVERITY,
    ARM_SYSTEM,
    CATEGORY_TEXT,
    CONDITION_CLINICAL,
    CONDITION_STATUS,
    CONDITION_VERIFICATION,
    DECISION_TEXT,
    DOSE_STATUS,
    ICD10CM,
    INGREDIENT_SYSTEM,
    LOINC,
    MED_STATUS,
    NAMESPACE,
    OBS_CATEGORY,
    OBSERVATION_SYSTEM,
    PRODUCT_SYSTEM,
    R4_CONDITIONAL_PARAMS,
    RECORD_SYSTEM,
    SCREENING_DECISION_SYSTEM,
    SCREENING_RULE_SYSTEM,
    SCREENING_SYSTEM,
    STUDY_CODE_SYSTEM,
    STUDY_STATUS,
    SUBJECT_STATUS,
    SUBJECT_SYSTEM,
    TRIAL_SYSTEM,
    UCUM,
)
from microtrial.interop.imported import ImportedInstrument
from microtrial.interop.questionnaire_export import (
    authored_response_items,
    canonical_url,
    fhir_text,
    questionnaire_canonical,
    response_items,
)
from microtrial.interop.records import (
    AdverseEventData,
    ConditionData,
    DiaryData,
    DoseData,
    MedicationData,
    PatientExport,
    ScreeningData,
    TrialData,
)

__all__ = ["R4_CONDITIONAL_PARAMS", "STUDY_CODE_SYSTEM", "BundleBuilder", "patient_entries"]


class BundleBuilder:
    """Collects entries, each with a deterministic urn:uuid and a request that updates."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []
        self.seen: set[str] = set()

    def add(self, resource: dict[str, Any], system: str, value: str) -> str:
        """Add ``resource`` (identified by ``system|value``) once; return its fullUrl."""
        kind = resource["resourceType"]
        # The UUID hashes our record identifiers (random record UUIDs, trial ids, the site and
        # study code): no name, birth date or other direct identifier goes into it.
        key = uuid.uuid5(NAMESPACE, f"{kind}|{system}|{value}")
        full_url = f"urn:uuid:{key}"
        if full_url in self.seen:
            return full_url
        self.seen.add(full_url)
        request: dict[str, str]
        if "identifier" in R4_CONDITIONAL_PARAMS.get(kind, frozenset()):
            # A conditional update, not a conditional create: a create leaves a resource the
            # server already holds as it was, so a corrected record would never reach it. The
            # match is on our identifier, so it also updates resources that earlier exports
            # created with a server-assigned id; for that the resource carries no id of its own.
            match = f"identifier={quote(system, safe=':')}|{quote(value, safe=':')}"
            request = {"method": "PUT", "url": f"{kind}?{match}"}
        else:
            # No identifier search parameter: a conditional create would never match and
            # every post would add a copy. The same id on every export makes the PUT an update.
            resource = {"resourceType": kind, "id": str(key), **resource}
            request = {"method": "PUT", "url": f"{kind}/{key}"}
        self.entries.append({"fullUrl": full_url, "resource": resource, "request": request})
        return full_url


def _amended(version: int, first: str) -> str:
    """The status of a record: ``first`` as saved, ``amended`` once a later version replaced it."""
    return first if version <= 1 else "amended"


def _identifier(system: str, value: str) -> dict[str, str]:
    return {"system": system, "value": value}


def _record(record_id: str) -> tuple[str, str]:
    return RECORD_SYSTEM, f"urn:uuid:{record_id}"


def _ref(full_url: str) -> dict[str, str]:
    return {"reference": full_url}


def _concept(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    coding: dict[str, str] = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return {"coding": [coding]}


def _product(trial: TrialData | None, kit_code: str | None, day: Any) -> dict[str, Any]:
    """The medication of a dose: the arm once unblinded, else a blinded study product."""
    period = None
    if trial is not None:
        period = trial.period_by_kit(kit_code) or trial.period_on(day)
    if trial is not None and trial.unblinded and period is not None and period.arm:
        if period.arm == "placebo":
            text = "Placebo capsule (identical appearance)"
        else:
            text = f"{trial.substance} capsule ({trial.regimen_text})"
        concept = _concept(ARM_SYSTEM, period.arm, text)
        concept["text"] = text
        return concept
    concept = _concept(PRODUCT_SYSTEM, "blinded", "Blinded study product")
    concept["text"] = f"Blinded study product, kit {kit_code or 'unknown'}"
    return concept


def patient_entries(
    builder: BundleBuilder,
    data: PatientExport,
    catalog: Catalog | None,
    imported: Mapping[str, ImportedInstrument] | None = None,
) -> None:
    """Add one patient's resources, in the bundle's fixed order.

    ``imported``: user-imported instruments by id; answers to an imported FHIR Questionnaire are
    nested, ordered and typed as authored and point at its canonical URL.
    """
    patient_value = f"{data.site_code}:{data.study_code}"
    subject = _ref(_add_patient(builder, data, patient_value))
    for condition in data.conditions:
        _add_condition(builder, condition, catalog, subject)
    for med in data.medications:
        _add_medication_statement(builder, med, catalog, subject)
    for screening in data.screenings:
        _add_screening(builder, screening, subject)
    study_urls: dict[int, str] = {}
    for trial in data.trials:
        study_urls[trial.id] = _add_research_study(builder, trial, data.conditions)
        _add_research_subject(builder, trial, patient_value, study_urls[trial.id], subject)
    for entry in data.diary:
        instrument = _instrument(catalog, entry.instrument_id)
        form = (imported or {}).get(entry.instrument_id)
        qr_url = _add_questionnaire_response(builder, entry, instrument, subject, form)
        _add_observations(builder, entry, instrument, subject, qr_url)
    for dose in data.doses:
        trial_of_dose = data.trial_for(dose.local_date, dose.trial_id)
        _add_medication_administration(builder, dose, trial_of_dose, subject)
    for event in data.adverse_events:
        event_trial = data.trial_for(event.onset_date, event.trial_id)
        study_url = study_urls.get(event_trial.id) if event_trial is not None else None
        _add_adverse_event(builder, event, study_url, subject)


def _add_patient(builder: BundleBuilder, data: PatientExport, patient_value: str) -> str:
    """Patient: the pseudonymous study code, sex and birth year only."""
    return builder.add(
        {
            "resourceType": "Patient",
            "identifier": [_identifier(STUDY_CODE_SYSTEM, patient_value)],
            "gender": data.sex if data.sex in ("male", "female", "other") else "unknown",
            "birthDate": f"{data.birth_year:04d}",
        },
        STUDY_CODE_SYSTEM,
        patient_value,
    )


def _add_condition(
    builder: BundleBuilder,
    condition: ConditionData,
    catalog: Catalog | None,
    subject: dict[str, str],
) -> str:
    """Condition: the ICD-10-CM code, with the catalog's title when it knows the code."""
    coding: dict[str, str] = {"system": ICD10CM, "code": condition.icd10_code}
    found = catalog.condition_by_code(condition.icd10_code) if catalog else None
    if found is not None:
        coding["display"] = next(
            c.title for c in found.codes if c.code == condition.icd10_code.upper()
        )
    status = CONDITION_STATUS.get(condition.status, "active")
    return builder.add(
        {
            "resourceType": "Condition",
            "identifier": [_identifier(*_record(condition.record_id))],
            "clinicalStatus": _concept(CONDITION_CLINICAL, status),
            "verificationStatus": _concept(CONDITION_VERIFICATION, "confirmed"),
            "code": {"coding": [coding]},
            "subject": subject,
        },
        *_record(condition.record_id),
    )


def _add_medication_statement(
    builder: BundleBuilder, med: MedicationData, catalog: Catalog | None, subject: dict[str, str]
) -> str:
    """MedicationStatement: a medication as named, coded where the catalog recognises it."""
    concept: dict[str, Any] = {"text": fhir_text(med.name)}
    codes = _ingredient_codes(med.name, catalog)
    if codes:
        concept = {"coding": codes, **concept}
    statement: dict[str, Any] = {
        "resourceType": "MedicationStatement",
        "identifier": [_identifier(*_record(med.record_id))],
        "status": MED_STATUS.get(med.status, "unknown"),
        "medicationCodeableConcept": concept,
        "subject": subject,
    }
    period: dict[str, str] = {}
    # per-1: a period's start is not after its end (an end dated before the day it was added
    # keeps the end, which is what was asserted about it)
    if med.added_on is not None and (med.end_date is None or med.added_on <= med.end_date):
        period["start"] = med.added_on.isoformat()
    if med.end_date is not None:
        period["end"] = med.end_date.isoformat()
    if period:
        statement["effectivePeriod"] = period
    return builder.add(statement, *_record(med.record_id))


def _ingredient_codes(name: str, catalog: Catalog | None) -> list[dict[str, str]]:
    """The catalog ingredients a medication name matches exactly (not by a close spelling)."""
    if catalog is None:
        return []
    match = match_medication(name, catalog)
    # a misspelling screening reads as a drug is its guess, not what was named: not coded
    guessed = {i for s in match.suggestions for i in s.ingredients}
    return [
        {"system": INGREDIENT_SYSTEM, "code": ingredient}
        for ingredient in match.ingredients
        if ingredient not in guessed
    ]


def _add_screening(
    builder: BundleBuilder, screening: ScreeningData, subject: dict[str, str]
) -> str:
    """Observation: a screening decision, one component per finding (its rule id, severity)."""
    decision = _concept(
        SCREENING_DECISION_SYSTEM,
        screening.decision,
        DECISION_TEXT.get(screening.decision, screening.decision),
    )
    decision["text"] = DECISION_TEXT.get(screening.decision, screening.decision)
    observation: dict[str, Any] = {
        "resourceType": "Observation",
        "identifier": [_identifier(*_record(screening.record_id))],
        "status": _amended(screening.version, "final"),
        "code": {
            "coding": [{"system": SCREENING_SYSTEM, "code": "decision"}],
            "text": f"Screening decision ({screening.substance})",
        },
        "subject": subject,
        "effectiveDateTime": _instant(screening.recorded_at),
        "valueCodeableConcept": decision,
        "component": [
            {
                "code": {"coding": [{"system": SCREENING_RULE_SYSTEM, "code": rule}]},
                "valueString": severity,
            }
            for rule, severity in screening.findings
        ],
    }
    if not observation["component"]:
        del observation["component"]
    if screening.signed_off_at is not None:
        observation["note"] = [{"text": f"Signed off {_instant(screening.signed_off_at)}"}]
    return builder.add(observation, *_record(screening.record_id))


def _add_research_study(
    builder: BundleBuilder, trial: TrialData, conditions: Sequence[ConditionData]
) -> str:
    """ResearchStudy: one n-of-1 trial; its arms only once unblinded."""
    if trial.unblinded:
        arms = [
            {"name": "active", "description": f"{trial.substance}, {trial.regimen_text}"},
            {"name": "placebo", "description": "Identical capsules on the same calendar"},
        ]
    else:
        arms = []  # no arm element at all while blinded: nothing to search for
    return builder.add(
        {
            "resourceType": "ResearchStudy",
            "identifier": [_identifier(TRIAL_SYSTEM, str(trial.id))],
            "title": f"MicroTrial n-of-1 trial {trial.id} ({trial.substance})",
            "status": STUDY_STATUS[status_of(trial.status)],
            "primaryPurposeType": _concept(
                "http://terminology.hl7.org/CodeSystem/research-study-prim-purp-type",
                "treatment",
            ),
            "condition": [
                {"coding": [{"system": ICD10CM, "code": c.icd10_code}]} for c in conditions
            ],
            "period": {
                "start": trial.start_date.isoformat(),
                "end": trial.end_date.isoformat(),
            },
            **({"arm": arms} if arms else {}),
        },
        TRIAL_SYSTEM,
        str(trial.id),
    )


def _add_research_subject(
    builder: BundleBuilder,
    trial: TrialData,
    patient_value: str,
    study_url: str,
    subject: dict[str, str],
) -> str:
    """ResearchSubject: the patient's part in one trial."""
    subject_value = f"{trial.id}:{patient_value}"
    return builder.add(
        {
            "resourceType": "ResearchSubject",
            "identifier": [_identifier(SUBJECT_SYSTEM, subject_value)],
            "status": SUBJECT_STATUS[status_of(trial.status)],
            "period": {
                "start": trial.start_date.isoformat(),
                "end": trial.end_date.isoformat(),
            },
            "study": _ref(study_url),
            "individual": subject,
        },
        SUBJECT_SYSTEM,
        subject_value,
    )


def _add_questionnaire_response(
    builder: BundleBuilder,
    entry: DiaryData,
    instrument: Instrument | None,
    subject: dict[str, str],
    form: ImportedInstrument | None = None,
) -> str:
    """QuestionnaireResponse: one diary or questionnaire entry, linkIds = item ids."""
    canonical = canonical_url(entry.instrument_id, str(entry.scores.get("instrument_version", "1")))
    items = response_items(instrument, entry.answers)
    if form is not None and form.questionnaire:
        canonical = questionnaire_canonical(form)
        # lenient: an entry recorded before a re-import keeps answers the form no longer has
        items = authored_response_items(form, entry.answers, strict=False)
    elif form is not None:
        items = response_items(form.instrument, entry.answers, form.fhir_types)
    return builder.add(
        {
            "resourceType": "QuestionnaireResponse",
            "identifier": _identifier(*_record(entry.record_id)),
            "questionnaire": canonical,
            "status": _amended(entry.version, "completed"),
            "subject": subject,
            "authored": _instant(entry.submitted_at),
            "item": items,
        },
        *_record(entry.record_id),
    )


def _add_observations(
    builder: BundleBuilder,
    entry: DiaryData,
    instrument: Instrument | None,
    subject: dict[str, str],
    qr_url: str,
) -> None:
    """Observation: each numeric score of an entry that has a LOINC code; a vital-signs panel."""
    for score_id, detail in sorted(entry.scores.get("scores", {}).items()):
        loinc = _score_loinc(instrument, score_id)
        value = detail.get("value") if isinstance(detail, Mapping) else None
        if loinc is None or value is None or isinstance(value, bool):
            continue
        title = instrument.score_def(score_id).title if instrument else score_id
        obs_value = f"{entry.record_id}:{score_id}"
        observation = _derived_observation(entry, subject, qr_url, obs_value, "survey", loinc)
        observation["code"]["text"] = title
        if isinstance(value, int) or float(value).is_integer():
            observation["valueInteger"] = int(value)
        else:
            observation["valueQuantity"] = {
                "value": float(value),
                "unit": "{score}",
                "system": UCUM,
                "code": "{score}",
            }
        builder.add(observation, OBSERVATION_SYSTEM, obs_value)
    if instrument is not None:
        _add_vital_signs(builder, entry, instrument, subject, qr_url)


def _derived_observation(
    entry: DiaryData,
    subject: dict[str, str],
    qr_url: str,
    obs_value: str,
    category: str,
    loinc: str,
) -> dict[str, Any]:
    """The parts every Observation derived from an entry shares (its code without a text)."""
    return {
        "resourceType": "Observation",
        "identifier": [_identifier(OBSERVATION_SYSTEM, obs_value)],
        "status": _amended(entry.version, "final"),
        "category": [_concept(OBS_CATEGORY, category, CATEGORY_TEXT[category])],
        "code": {"coding": [{"system": LOINC, "code": loinc}]},
        "subject": subject,
        "effectiveDateTime": entry.local_date.isoformat(),
        "issued": _instant(entry.submitted_at),
        "derivedFrom": [_ref(qr_url)],
    }


def _add_vital_signs(
    builder: BundleBuilder,
    entry: DiaryData,
    instrument: Instrument,
    subject: dict[str, str],
    qr_url: str,
) -> None:
    """Observation (vital-signs): a measurement panel, one component per coded item answered.

    For an instrument of kind ``measurement`` whose catalog entry gives the panel's LOINC code
    and, for its items, a LOINC code and a UCUM unit (blood pressure: 85354-9 with systolic
    8480-6 and diastolic 8462-4 in mm[Hg], the R4 blood-pressure profile).
    """
    if instrument.kind != "measurement" or instrument.loinc is None:
        return
    components = [
        {
            "code": {"coding": [{"system": LOINC, "code": item.loinc}], "text": item.text},
            "valueQuantity": {
                "value": entry.answers[item.id],
                "unit": item.unit,
                "system": UCUM,
                "code": item.ucum,
            },
        }
        for item in instrument.items
        if item.loinc and item.ucum and _is_number(entry.answers.get(item.id))
    ]
    if not components:
        return
    obs_value = f"{entry.record_id}:{instrument.loinc}"
    panel = _derived_observation(entry, subject, qr_url, obs_value, "vital-signs", instrument.loinc)
    panel["code"]["text"] = instrument.title
    panel["component"] = components
    builder.add(panel, OBSERVATION_SYSTEM, obs_value)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _add_medication_administration(
    builder: BundleBuilder, dose: DoseData, trial: TrialData | None, subject: dict[str, str]
) -> str:
    """MedicationAdministration: one dose, a blinded study product until unblinding."""
    administration: dict[str, Any] = {
        "resourceType": "MedicationAdministration",
        "identifier": [_identifier(*_record(dose.record_id))],
        "status": DOSE_STATUS.get(dose.status, "unknown"),
        "medicationCodeableConcept": _product(trial, dose.kit_code, dose.local_date),
        "subject": subject,
        "effectiveDateTime": (
            _instant(dose.taken_at) if dose.taken_at else dose.local_date.isoformat()
        ),
    }
    return builder.add(administration, *_record(dose.record_id))


def _add_adverse_event(
    builder: BundleBuilder, event: AdverseEventData, study_url: str | None, subject: dict[str, str]
) -> str:
    """AdverseEvent: seriousness, severity (CTCAE grade) and the trial it happened in."""
    severity = "mild" if event.grade == 1 else "moderate" if event.grade == 2 else "severe"
    resource: dict[str, Any] = {
        "resourceType": "AdverseEvent",
        "identifier": _identifier(*_record(event.record_id)),
        "actuality": "actual",
        "event": {"text": fhir_text(event.term)},
        "subject": subject,
        "date": event.onset_date.isoformat(),
        "seriousness": {
            "coding": [
                {
                    "system": AE_SERIOUSNESS,
                    "version": AE_SERIOUSNESS_VERSION,
                    "code": AE_SERIOUS if event.serious else AE_NON_SERIOUS,
                    "display": AE_SERIOUS if event.serious else AE_NON_SERIOUS,
                }
            ]
        },
        "severity": _concept(AE_SEVERITY, severity, severity.capitalize()),
        "outcome": _concept(AE_OUTCOME, "resolved" if event.resolved_date else "ongoing"),
    }
    resource["severity"]["text"] = f"CTCAE grade {event.grade}"
    if study_url is not None:
        resource["study"] = [_ref(study_url)]
    return builder.add(resource, *_record(event.record_id))


def _instrument(catalog: Catalog | None, instrument_id: str) -> Instrument | None:
    if catalog is None:
        return None
    return catalog.instruments.get(instrument_id)


def _score_loinc(instrument: Instrument | None, score_id: str) -> str | None:
    if instrument is None:
        return None
    try:
        return instrument.score_def(score_id).loinc
    except KeyError:
        return None


def _instant(value: Any) -> str:
    text: str = value.isoformat()
    if value.tzinfo is None:
        text += "+00:00"
    return text
