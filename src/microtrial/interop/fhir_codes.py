"""The FHIR code systems, status mappings and request rules of MicroTrial's export (R4)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from microtrial.domain.lifecycle import TrialStatus

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
# The catalog's own ingredient ids (medications.yaml); the catalog holds no RxNorm codes.
INGREDIENT_SYSTEM = "urn:microtrial:medication-ingredient"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
AE_SERIOUSNESS = "http://terminology.hl7.org/CodeSystem/adverse-event-seriousness"
# The code system as FHIR R4 4.0.1 publishes it (hl7.org/fhir/R4/codesystem-adverse-event-
# seriousness.json.html, version 4.0.1, caseSensitive): codes "Serious" and "Non-serious". Later
# editions (R4B's THO-based page, R5, THO 0.1.0+) lowercased them to "serious"/"non-serious", so
# the coding names the version it follows.
AE_SERIOUSNESS_VERSION = "4.0.1"
AE_SERIOUS = "Serious"
AE_NON_SERIOUS = "Non-serious"
SCREENING_SYSTEM = "urn:microtrial:screening"
SCREENING_DECISION_SYSTEM = "urn:microtrial:screening-decision"
SCREENING_RULE_SYSTEM = "urn:microtrial:screening-rule"
AE_SEVERITY = "http://terminology.hl7.org/CodeSystem/adverse-event-severity"
AE_OUTCOME = "http://terminology.hl7.org/CodeSystem/adverse-event-outcome"
NAMESPACE = uuid.UUID("5b0c6f2e-8a53-4c36-9d55-6f1d0e7f1a21")

S = TrialStatus
# FHIR ResearchStudy.status and ResearchSubject.status for each trial status.
STUDY_STATUS: Mapping[TrialStatus, str] = {
    S.DRAFT: "in-review",
    S.SCREENED: "approved",
    S.SCHEDULED: "approved",
    S.RUNNING: "active",
    S.PAUSED: "temporarily-closed-to-accrual-and-intervention",
    S.COMPLETED: "completed",
    S.UNBLINDED: "completed",
    S.WITHDRAWN: "withdrawn",
}
SUBJECT_STATUS: Mapping[TrialStatus, str] = {
    S.DRAFT: "candidate",
    S.SCREENED: "eligible",
    S.SCHEDULED: "pending-on-study",
    S.RUNNING: "on-study-intervention",
    S.PAUSED: "on-study",
    S.COMPLETED: "off-study",
    S.UNBLINDED: "off-study",
    S.WITHDRAWN: "withdrawn",
}
DOSE_STATUS = {"taken": "completed", "missed": "not-done"}
MED_STATUS = {"active": "active", "stopped": "stopped", "completed": "completed"}
CONDITION_STATUS = {"active": "active", "resolved": "resolved", "inactive": "inactive"}
# The R4 (4.0.1) search parameters a conditional update here relies on, per resource type, as
# each resource's "Search Parameters" table in the R4 specification lists them. AdverseEvent is
# absent on purpose: R4 defines no ``identifier`` search parameter for it (its parameters are
# actuality, category, date, event, location, recorder, resultingcondition, seriousness,
# severity, study, subject, substance), so a server could not match a conditional update and
# every post would add a copy; AdverseEvents are written with PUT on a derived logical id.
R4_CONDITIONAL_PARAMS: Mapping[str, frozenset[str]] = {
    kind: frozenset({"identifier"})
    for kind in (
        "Patient",
        "Condition",
        "MedicationStatement",
        "MedicationAdministration",
        "Observation",
        "QuestionnaireResponse",
        "ResearchStudy",
        "ResearchSubject",
    )
}
CATEGORY_TEXT = {"survey": "Survey", "vital-signs": "Vital Signs"}
DECISION_TEXT = {
    "do-not-start": "Do not start (excluded by screening)",
    "clinician-review": "Clinician review needed",
    "no-known-issues": "No known issues",
}
