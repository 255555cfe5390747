"""FHIR R4 (4.0.1) transaction Bundles of patients' trial data, and the checks we add.

Resources: Patient (pseudonymous identifier, no name), Condition (ICD-10-CM),
MedicationStatement, Observation (daily pain LOINC 72514-3 and instrument totals with their
LOINC codes, category ``survey``), QuestionnaireResponse (linkIds = item ids),
MedicationAdministration (one per dose: a blinded study product until unblinding, the arm
after), AdverseEvent (seriousness, severity), ResearchStudy (arms) and ResearchSubject.

Every entry has a ``urn:uuid`` fullUrl (deterministic: UUIDv5 of its identifier, so re-exports
produce the same ids), a ``request`` and a conditional create (``ifNoneExist``) on our own
identifier. ``fhir.resources`` (its R4B models, identical to R4 for these resources) checks
structure and types; ``bundle_problems`` adds what it does not check: required value sets,
bdl-3 (a request on every transaction entry), unique fullUrls and that every reference resolves
inside the bundle.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import pydantic
from fhir.resources.R4B.bundle import Bundle

from microtrial.domain.catalog import Catalog, Instrument
from microtrial.errors import ValidationError
from microtrial.interop.questionnaire import canonical_url, response_items
from microtrial.interop.records import PatientExport, TrialData

__all__ = [
    "REQUIRED_CODES",
    "STUDY_CODE_SYSTEM",
    "build_bundle",
    "bundle_problems",
    "check_bundle",
]

FHIR_VERSION = "4.0.1"  # the resources follow R4; fhir.resources' R4B models check them
STUDY_CODE_SYSTEM = "urn:microtrial:study-code"
TRIAL_SYSTEM = "urn:microtrial:trial"
SUBJECT_SYSTEM = "urn:microtrial:research-subject"
OBSERVATION_SYSTEM = "urn:microtrial:observation"
RECORD_SYSTEM = "urn:ietf:rfc:3986"
ARM_SYSTEM = "urn:microtrial:arm"
PRODUCT_SYSTEM = "urn:microtrial:study-product"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
AE_SERIOUSNESS = "http://terminology.hl7.org/CodeSystem/adverse-event-seriousness"
AE_SEVERITY = "http://terminology.hl7.org/CodeSystem/adverse-event-severity"
AE_OUTCOME = "http://terminology.hl7.org/CodeSystem/adverse-event-outcome"
_NAMESPACE = uuid.UUID("5b0c6f2e-8a53-4c36-9d55-6f1d0e7f1a21")

# Required bindings in FHIR R4 that fhir.resources does not enforce: (resource, path) -> codes.
REQUIRED_CODES: dict[tuple[str, str], frozenset[str]] = {
    ("Patient", "gender"): frozenset({"male", "female", "other", "unknown"}),
    ("Condition", "clinicalStatus"): frozenset(
        {"active", "recurrence", "relapse", "inactive", "remission", "resolved"}
    ),
    ("Condition", "verificationStatus"): frozenset(
        {"unconfirmed", "provisional", "differential", "confirmed", "refuted", "entered-in-error"}
    ),
    ("MedicationStatement", "status"): frozenset(
        {
            "active",
            "completed",
            "entered-in-error",
            "intended",
            "stopped",
            "on-hold",
            "unknown",
            "not-taken",
        }
    ),
    ("Observation", "status"): frozenset(
        {
            "registered",
            "preliminary",
            "final",
            "amended",
            "corrected",
            "cancelled",
            "entered-in-error",
            "unknown",
        }
    ),
    ("QuestionnaireResponse", "status"): frozenset(
        {"in-progress", "completed", "amended", "entered-in-error", "stopped"}
    ),
    ("MedicationAdministration", "status"): frozenset(
        {
            "in-progress",
            "not-done",
            "on-hold",
            "completed",
            "entered-in-error",
            "stopped",
            "unknown",
        }
    ),
    ("AdverseEvent", "actuality"): frozenset({"actual", "potential"}),
    ("ResearchStudy", "status"): frozenset(
        {
            "active",
            "administratively-completed",
            "approved",
            "closed-to-accrual",
            "closed-to-accrual-and-intervention",
            "completed",
            "disapproved",
            "in-review",
            "temporarily-closed-to-accrual",
            "temporarily-closed-to-accrual-and-intervention",
            "withdrawn",
        }
    ),
    ("ResearchSubject", "status"): frozenset(
        {
            "candidate",
            "eligible",
            "follow-up",
            "ineligible",
            "not-registered",
            "off-study",
            "on-study",
            "on-study-intervention",
            "on-study-observation",
            "pending-on-study",
            "potential-candidate",
            "screening",
            "withdrawn",
        }
    ),
}
_STUDY_STATUS = {
    "draft": "in-review",
    "screened": "approved",
    "scheduled": "approved",
    "running": "active",
    "paused": "temporarily-closed-to-accrual-and-intervention",
    "completed": "completed",
    "unblinded": "completed",
    "withdrawn": "withdrawn",
}
_SUBJECT_STATUS = {
    "draft": "candidate",
    "screened": "eligible",
    "scheduled": "pending-on-study",
    "running": "on-study-intervention",
    "paused": "on-study",
    "completed": "off-study",
    "unblinded": "off-study",
    "withdrawn": "withdrawn",
}
_DOSE_STATUS = {"taken": "completed", "missed": "not-done"}
_MED_STATUS = {"active": "active", "stopped": "stopped", "completed": "completed"}
_CONDITION_STATUS = {"active": "active", "resolved": "resolved", "inactive": "inactive"}


class _Builder:
    """Collects entries, each with a deterministic urn:uuid and a conditional create."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []
        self.seen: set[str] = set()

    def add(self, resource: dict[str, Any], system: str, value: str) -> str:
        kind = resource["resourceType"]
        full_url = f"urn:uuid:{uuid.uuid5(_NAMESPACE, f'{kind}|{system}|{value}')}"
        if full_url in self.seen:
            return full_url
        self.seen.add(full_url)
        self.entries.append(
            {
                "fullUrl": full_url,
                "resource": resource,
                "request": {
                    "method": "POST",
                    "url": kind,
                    "ifNoneExist": f"identifier={quote(system, safe=':')}|{quote(value, safe=':')}",
                },
            }
        )
        return full_url


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


def _patient_entries(builder: _Builder, data: PatientExport, catalog: Catalog | None) -> None:
    patient_value = f"{data.site_code}:{data.study_code}"
    patient_url = builder.add(
        {
            "resourceType": "Patient",
            "identifier": [_identifier(STUDY_CODE_SYSTEM, patient_value)],
            "gender": data.sex if data.sex in ("male", "female", "other") else "unknown",
            "birthDate": f"{data.birth_year:04d}",
        },
        STUDY_CODE_SYSTEM,
        patient_value,
    )
    subject = _ref(patient_url)
    condition_urls: list[str] = []
    for condition in data.conditions:
        coding: dict[str, str] = {"system": ICD10CM, "code": condition.icd10_code}
        found = catalog.condition_by_code(condition.icd10_code) if catalog else None
        if found is not None:
            coding["display"] = next(
                c.title for c in found.codes if c.code == condition.icd10_code.upper()
            )
        status = _CONDITION_STATUS.get(condition.status, "active")
        condition_urls.append(
            builder.add(
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
        )
    for med in data.medications:
        builder.add(
            {
                "resourceType": "MedicationStatement",
                "identifier": [_identifier(*_record(med.record_id))],
                "status": _MED_STATUS.get(med.status, "unknown"),
                "medicationCodeableConcept": {"text": med.name},
                "subject": subject,
            },
            *_record(med.record_id),
        )
    study_urls: dict[int, str] = {}
    for trial in data.trials:
        if trial.unblinded:
            arms = [
                {"name": "active", "description": f"{trial.substance}, {trial.regimen_text}"},
                {"name": "placebo", "description": "Identical capsules on the same calendar"},
            ]
        else:
            arms = []  # no arm element at all while blinded: nothing to search for
        study_url = builder.add(
            {
                "resourceType": "ResearchStudy",
                "identifier": [_identifier(TRIAL_SYSTEM, str(trial.id))],
                "title": f"MicroTrial n-of-1 trial {trial.id} ({trial.substance})",
                "status": _STUDY_STATUS[trial.status],
                "primaryPurposeType": _concept(
                    "http://terminology.hl7.org/CodeSystem/research-study-prim-purp-type",
                    "treatment",
                ),
                "condition": [
                    {"coding": [{"system": ICD10CM, "code": c.icd10_code}]} for c in data.conditions
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
        study_urls[trial.id] = study_url
        subject_value = f"{trial.id}:{patient_value}"
        builder.add(
            {
                "resourceType": "ResearchSubject",
                "identifier": [_identifier(SUBJECT_SYSTEM, subject_value)],
                "status": _SUBJECT_STATUS[trial.status],
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
    for entry in data.diary:
        instrument = _instrument(catalog, entry.instrument_id)
        qr_url = builder.add(
            {
                "resourceType": "QuestionnaireResponse",
                "identifier": _identifier(*_record(entry.record_id)),
                "questionnaire": canonical_url(
                    entry.instrument_id, str(entry.scores.get("instrument_version", "1"))
                ),
                "status": "completed",
                "subject": subject,
                "authored": _instant(entry.submitted_at),
                "item": response_items(instrument, entry.answers),
            },
            *_record(entry.record_id),
        )
        for score_id, detail in sorted(entry.scores.get("scores", {}).items()):
            loinc = _score_loinc(instrument, score_id)
            value = detail.get("value") if isinstance(detail, Mapping) else None
            if loinc is None or value is None or isinstance(value, bool):
                continue
            title = instrument.score_def(score_id).title if instrument else score_id
            obs_value = f"{entry.record_id}:{score_id}"
            observation: dict[str, Any] = {
                "resourceType": "Observation",
                "identifier": [_identifier(OBSERVATION_SYSTEM, obs_value)],
                "status": "final",
                "category": [_concept(OBS_CATEGORY, "survey", "Survey")],
                "code": {"coding": [{"system": LOINC, "code": loinc}], "text": title},
                "subject": subject,
                "effectiveDateTime": entry.local_date.isoformat(),
                "issued": _instant(entry.submitted_at),
                "derivedFrom": [_ref(qr_url)],
            }
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
    for dose in data.doses:
        dose_trial = data.trial_for(dose.local_date, dose.trial_id)
        administration: dict[str, Any] = {
            "resourceType": "MedicationAdministration",
            "identifier": [_identifier(*_record(dose.record_id))],
            "status": _DOSE_STATUS.get(dose.status, "unknown"),
            "medicationCodeableConcept": _product(dose_trial, dose.kit_code, dose.local_date),
            "subject": subject,
            "effectiveDateTime": (
                _instant(dose.taken_at) if dose.taken_at else dose.local_date.isoformat()
            ),
        }
        builder.add(administration, *_record(dose.record_id))
    for event in data.adverse_events:
        event_trial = data.trial_for(event.onset_date, event.trial_id)
        severity = "mild" if event.grade == 1 else "moderate" if event.grade == 2 else "severe"
        resource: dict[str, Any] = {
            "resourceType": "AdverseEvent",
            "identifier": _identifier(*_record(event.record_id)),
            "actuality": "actual",
            "event": {"text": event.term},
            "subject": subject,
            "date": event.onset_date.isoformat(),
            "seriousness": _concept(
                AE_SERIOUSNESS,
                "serious" if event.serious else "non-serious",
                "Serious" if event.serious else "Non-serious",
            ),
            "severity": _concept(AE_SEVERITY, severity, severity.capitalize()),
            "outcome": _concept(AE_OUTCOME, "resolved" if event.resolved_date else "ongoing"),
        }
        resource["severity"]["text"] = f"CTCAE grade {event.grade}"
        if event_trial is not None and event_trial.id in study_urls:
            resource["study"] = [_ref(study_urls[event_trial.id])]
        builder.add(resource, *_record(event.record_id))


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


def build_bundle(
    patients: Sequence[PatientExport], *, catalog: Catalog | None = None
) -> dict[str, Any]:
    """A FHIR R4 transaction Bundle (as JSON-ready dict) of the patients' data."""
    builder = _Builder()
    for data in patients:
        _patient_entries(builder, data, catalog)
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": builder.entries,
    }


def _walk(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(node, Mapping):
        for key, value in node.items():
            yield from _walk(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, f"{path}[{index}]")
    else:
        yield path, node


def _codes(value: Any) -> list[str]:
    """The code(s) of a ``code`` element or a CodeableConcept."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [str(c.get("code")) for c in value.get("coding", []) if isinstance(c, Mapping)]
    return []


def bundle_problems(bundle: Mapping[str, Any]) -> list[str]:
    """Every problem with a transaction Bundle: fhir.resources' checks plus ours (empty: valid)."""
    problems: list[str] = []
    try:
        Bundle.model_validate(dict(bundle))
    except pydantic.ValidationError as err:
        problems += [
            f"fhir.resources: {'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
            for e in err.errors()
        ]
    if bundle.get("type") not in ("transaction", "batch"):
        problems.append(f"Bundle.type {bundle.get('type')!r} is not transaction")
    entries = bundle.get("entry") or []
    full_urls: list[str] = [str(e.get("fullUrl")) for e in entries]
    for url in sorted({u for u in full_urls if full_urls.count(u) > 1}):
        problems.append(f"bdl-7: fullUrl {url} appears more than once")
    for index, entry in enumerate(entries):
        where = f"entry[{index}]"
        url = str(entry.get("fullUrl", ""))
        if not url.startswith("urn:uuid:"):
            problems.append(f"{where}: fullUrl {url!r} is not a urn:uuid")
        request = entry.get("request")
        resource = entry.get("resource") or {}
        kind = resource.get("resourceType")
        if not isinstance(request, Mapping):
            problems.append(f"bdl-3: {where} ({kind}) has no request")
        else:
            if request.get("method") not in ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"):
                problems.append(f"{where}: request.method {request.get('method')!r} not allowed")
            if request.get("method") == "POST" and not request.get("ifNoneExist"):
                problems.append(f"{where}: POST without ifNoneExist (not a conditional create)")
            if request.get("url") != kind:
                problems.append(f"{where}: request.url {request.get('url')!r} is not {kind}")
        for (resource_type, element), allowed in REQUIRED_CODES.items():
            if kind != resource_type or element not in resource:
                continue
            for code in _codes(resource[element]):
                if code not in allowed:
                    problems.append(
                        f"{where}: {kind}.{element} code {code!r} is not in its required value set"
                    )
        if kind == "Observation":
            categories = [c for cat in resource.get("category", []) for c in _codes(cat)]
            if "survey" not in categories:
                problems.append(f"{where}: Observation without category survey")
    known = set(full_urls)
    for path, value in _walk(bundle):
        if path.endswith(".reference") and value not in known:
            problems.append(f"{path}: reference {value!r} does not resolve in the bundle")
    return problems


def check_bundle(bundle: Mapping[str, Any]) -> None:
    """Raise ValidationError listing every problem of the bundle (see ``bundle_problems``)."""
    problems = bundle_problems(bundle)
    if problems:
        raise ValidationError("bundle", "invalid FHIR bundle:\n  " + "\n  ".join(problems))
