"""Exports through the real services: FHIR bundles (blinded and unblinded), research export."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from sqlalchemy import select

from helpers import Clinic, FixedClock
from microtrial.domain.actors import Actor, system_actor
from microtrial.domain.adverse_events import OTHER_TERM
from microtrial.domain.design import DesignSpec
from microtrial.errors import ConflictError, NotFound, PermissionDenied
from microtrial.interop.fhir import bundle_problems
from microtrial.interop.k_anonymity import GENERALISATION_LEVELS
from microtrial.interop.research import write_research_export
from microtrial.services import (
    admin,
    adverse_events,
    diary_corrections,
    dosing,
    exports,
    patient_chart,
    patients,
    records,
    screening,
    trial_allocation,
    trial_lifecycle,
    trial_planning,
    trial_views,
)
from microtrial.services.diary_corrections import DiaryCorrection
from microtrial.services.records import DiaryInput
from microtrial.services.trial_planning import RegimenChoice
from microtrial.store.models import AuditEventRow

REGIMEN = RegimenChoice(
    template="fadiman", substance="psilocybin", amount=100, unit="mg dried material"
)
SPEC = DesignSpec(run_in_days=0, pairs=2, period_days=7, wash_in_days=1)
SECRET = "test-export-secret-0123456789"
SEEDED_MEDICATION = "Quixotril Seedname 20 mg"
SEEDED_TERM = "Seeded vertigo term Zeta"
SEEDED_EMAIL = "ada.seeded@example.org"
OLD_BIRTH_YEAR = 1931  # 95 at the trial: exported only as "90+"


def run_trial(clinic: Clinic, clock: FixedClock, code: str, *, unblind: bool) -> int:
    """Screen, plan, run (doses, diary, an adverse event, guesses) and maybe unblind a trial."""
    doc = clinic.actors["clinician_sitea"]
    pid = clinic.patients[code].id
    for flag in screening.history_flag_ids():
        patients.set_history_flag(clinic.db, doc, pid, flag, False, clock=clock)
    patients.add_medication(clinic.db, doc, pid, SEEDED_MEDICATION, clock=clock)
    screened = screening.screen_patient(clinic.db, doc, pid, "psilocybin", clock=clock)
    if not screened.cleared:
        screening.sign_off_screening(clinic.db, doc, screened.record_id, "reviewed", clock=clock)
    start = clock().date()
    trial = trial_planning.plan_trial(
        clinic.db, doc, pid, REGIMEN, SPEC, start_date=start, seed=7, clock=clock
    )
    if trial.status == "draft":
        trial_lifecycle.transition(clinic.db, doc, trial.id, "confirm-screening", clock=clock)
    trial_lifecycle.transition(clinic.db, doc, trial.id, "schedule", clock=clock)
    trial_lifecycle.transition(clinic.db, doc, trial.id, "start", clock=clock)
    calendar = trial_views.trial_calendar(clinic.db, doc, trial.id, clock=clock)
    for day in calendar.days:
        if day.is_dose_day:
            clock.now = dt.datetime.combine(day.date, dt.time(20), tzinfo=dt.UTC)
            dosing.record_dose(
                clinic.db,
                doc,
                trial.id,
                taken_at=clock.now - dt.timedelta(hours=10),
                kit_code=str(day.kit_code),
                clock=clock,
            )
    clock.now = dt.datetime.combine(calendar.last_date, dt.time(21), tzinfo=dt.UTC)
    entries = [
        DiaryInput(day.date, {"average_pain": 3 + i % 4, "worst_pain": 6})
        for i, day in enumerate(calendar.days)
    ]
    records.record_diary_entries(clinic.db, doc, pid, entries, clock=clock)
    records.record_diary_entries(
        clinic.db,
        doc,
        pid,
        [DiaryInput(start, {f"q{i}": 1 for i in range(1, 10)}, instrument_id="phq9")],
        clock=clock,
    )
    adverse_events.record_adverse_event(
        clinic.db,
        doc,
        pid,
        term=SEEDED_TERM,
        grade=2,
        serious=False,
        onset_date=start + dt.timedelta(days=3),
        clock=clock,
    )
    for period in trial.periods:
        dosing.record_guess(clinic.db, doc, trial.id, period.number, "dont_know", 40, clock=clock)
    if unblind:
        clock.advance(days=1)
        trial_lifecycle.transition(clinic.db, doc, trial.id, "complete", reason="done", clock=clock)
        trial_lifecycle.unblind_trial(clinic.db, doc, trial.id, clock=clock)
    return trial.id


def strings(node: Any, path: str = "") -> list[tuple[str, str]]:
    """Every string in a JSON tree with its path (list indexes dropped)."""
    if isinstance(node, dict):
        return [s for k, v in node.items() for s in strings(v, f"{path}.{k}")]
    if isinstance(node, list):
        return [s for v in node for s in strings(v, path)]
    return [(path, node)] if isinstance(node, str) else []


# Where the word "active" is a FHIR status code, not an arm.
STATUS_PATHS = {
    ".entry.resource.clinicalStatus.coding.code",
    ".entry.resource.status",
}


def test_blinded_bundle_is_valid_and_carries_no_arm(clinic: Clinic, clock: FixedClock) -> None:
    trial_id = run_trial(clinic, clock, "A-001", unblind=False)
    doc = clinic.actors["clinician_sitea"]
    pid = clinic.patients["A-001"].id
    bundle = exports.fhir_bundle_for_patient(clinic.db, doc, pid, clock=clock)
    assert bundle_problems(bundle) == []
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    for kind in (
        "Patient",
        "Condition",
        "MedicationStatement",
        "Observation",
        "QuestionnaireResponse",
        "MedicationAdministration",
        "AdverseEvent",
        "ResearchStudy",
        "ResearchSubject",
    ):
        assert kind in kinds
    assert kinds.count("Patient") == 1
    assert all(e["fullUrl"].startswith("urn:uuid:") for e in bundle["entry"])
    # $everything answers with a searchset: every entry a match, none with a request
    assert bundle["type"] == "searchset"
    assert all(e["search"] == {"mode": "match"} and "request" not in e for e in bundle["entry"])
    patient = bundle["entry"][0]["resource"]
    assert "name" not in patient
    assert patient["identifier"][0]["value"] == "SITEA:A-001"
    pain = [
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Observation"
        and e["resource"]["code"]["coding"][0]["code"] == "72514-3"
    ]
    assert len(pain) == 28
    assert pain[0]["category"][0]["coding"][0]["code"] == "survey"
    phq9 = [
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Observation"
        and e["resource"]["code"]["coding"][0]["code"] == "44261-6"
    ]
    assert [o["valueInteger"] for o in phq9] == [9]
    doses = [
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "MedicationAdministration"
    ]
    assert doses
    assert {d["medicationCodeableConcept"]["coding"][0]["code"] for d in doses} == {"blinded"}
    serialised = json.dumps(bundle).lower()
    assert "placebo" not in serialised
    leaks = [
        (path, text)
        for path, text in strings(bundle)
        if "active" in text.lower() and path not in STATUS_PATHS
    ]
    assert leaks == []
    # the trial export and the patient export agree on the doses
    by_trial = exports.export_fhir_bundle(
        clinic.db, doc, exports.ExportScope(trial_id=trial_id), clock=clock
    )
    assert bundle_problems(by_trial) == []
    # the posting export: a conditional update on identifier, or (AdverseEvent, which has no
    # identifier search parameter in R4) a PUT of its own stable id
    assert by_trial["type"] == "transaction"
    for entry in by_trial["entry"]:
        resource, request = entry["resource"], entry["request"]
        if resource["resourceType"] == "AdverseEvent":
            assert request == {"method": "PUT", "url": f"AdverseEvent/{resource['id']}"}
            assert resource["seriousness"]["coding"][0]["code"] == "Non-serious"
        else:
            assert request["method"] == "PUT"
            assert request["url"].startswith(f"{resource['resourceType']}?identifier=")
    questionnaire = next(
        e["resource"]
        for e in by_trial["entry"]
        if e["resource"]["resourceType"] == "QuestionnaireResponse"
        and "phq9" in e["resource"]["questionnaire"]
    )
    assert {i["answer"][0]["valueCoding"]["code"] for i in questionnaire["item"]} == {"LA6569-3"}
    assert "placebo" not in json.dumps(by_trial).lower()
    with clinic.db.transaction() as session:
        events = (
            session.execute(select(AuditEventRow).where(AuditEventRow.entity == "fhir_bundle"))
            .scalars()
            .all()
        )
    assert [(e.action, e.patient_id) for e in events] == [("export", pid), ("export", pid)]


def test_unblinded_bundle_names_the_arm_of_each_dose(clinic: Clinic, clock: FixedClock) -> None:
    trial_id = run_trial(clinic, clock, "A-001", unblind=True)
    doc = clinic.actors["clinician_sitea"]
    bundle = exports.export_fhir_bundle(
        clinic.db, doc, exports.ExportScope(patient_code="A-001"), clock=clock
    )
    assert bundle_problems(bundle) == []
    arms_by_kit = {
        k.code: k.arm
        for k in trial_allocation.kit_preparation(
            clinic.db, clinic.actors["unblinded_staff_sitea"], trial_id
        ).kits
    }
    unblinded = trial_views.get_trial(clinic.db, doc, trial_id)
    doses = [
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "MedicationAdministration"
    ]
    calendar = trial_views.trial_calendar(clinic.db, doc, trial_id)
    expected = [arms_by_kit[str(d.kit_code)] for d in calendar.days if d.is_dose_day]
    assert [d["medicationCodeableConcept"]["coding"][0]["code"] for d in doses] == expected
    assert set(expected) == {"active", "placebo"}
    study = next(
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "ResearchStudy"
    )
    assert [a["name"] for a in study["arm"]] == ["active", "placebo"]
    assert study["status"] == "completed"
    assert unblinded.status == "unblinded"


def test_an_excluded_patient_bundle_carries_the_screening_decision(
    clinic: Clinic, clock: FixedClock
) -> None:
    doc = clinic.actors["clinician_sitea"]
    pid = clinic.patients["A-002"].id
    for flag in screening.history_flag_ids():
        patients.set_history_flag(
            clinic.db, doc, pid, flag, flag == "psychotic-disorder", clock=clock
        )
    screened = screening.screen_patient(clinic.db, doc, pid, "psilocybin", clock=clock)
    assert screened.decision == "do-not-start"
    for bundle in (
        exports.fhir_bundle_for_patient(clinic.db, doc, pid, clock=clock),
        exports.export_fhir_bundle(
            clinic.db, doc, exports.ExportScope(patient_code="A-002"), clock=clock
        ),
    ):
        assert bundle_problems(bundle) == []
        (decision,) = [
            e["resource"]
            for e in bundle["entry"]
            if e["resource"]["resourceType"] == "Observation"
            and e["resource"]["code"]["coding"][0]["system"] == "urn:microtrial:screening"
        ]
        assert decision["valueCodeableConcept"]["coding"][0]["code"] == "do-not-start"
        rules = [c["code"]["coding"][0]["code"] for c in decision["component"]]
        assert rules == [f["code"] for f in screened.findings]
        assert decision["identifier"][0]["value"] == f"urn:uuid:{screened.record_id}"


def references_resolve(bundle: dict[str, Any]) -> list[str]:
    """The references of a bundle, as JSON on the wire, that name no entry's fullUrl."""
    loaded = json.loads(json.dumps(bundle))
    full_urls = {e["fullUrl"] for e in loaded["entry"]}
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "reference":
                    found.append(value)
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(loaded)
    assert found  # the bundle does hold references
    return [r for r in found if r not in full_urls]


def exported_then_corrected(
    clinic: Clinic, clock: FixedClock
) -> tuple[dict[str, Any], dict[str, Any], dt.date]:
    """A-001's transaction before and after a diary correction (average pain 7 -> 4) and a
    stopped medication; the day of the entry and of a clinic reading of 186/124 in both."""
    doc = clinic.actors["clinician_sitea"]
    pid = clinic.patients["A-001"].id
    day = clock().date() - dt.timedelta(days=1)
    scope = exports.ExportScope(patient_code="A-001")
    records.record_diary_entries(
        clinic.db, doc, pid, [DiaryInput(day, {"average_pain": 7})], clock=clock
    )
    med = patients.add_medication(clinic.db, doc, pid, "Zoloft 50 mg", clock=clock)
    patient_chart.record_clinic_bp(clinic.db, doc, pid, day, 186, 124, 90, clock=clock)
    for flag in screening.history_flag_ids():
        patients.set_history_flag(clinic.db, doc, pid, flag, False, clock=clock)
    screening.screen_patient(clinic.db, doc, pid, "psilocybin", clock=clock)
    first = exports.export_fhir_bundle(clinic.db, doc, scope, clock=clock)
    clock.advance(days=2)
    diary_corrections.correct_diary_entry(
        clinic.db,
        doc,
        pid,
        DiaryCorrection(day, "typed 7 for 4", {"average_pain": 4}),
        clock=clock,
    )
    patient_chart.stop_medication(
        clinic.db, doc, pid, med.record_id, day + dt.timedelta(days=1), "stopped", clock=clock
    )
    return first, exports.export_fhir_bundle(clinic.db, doc, scope, clock=clock), day


def test_a_resent_export_updates_corrected_records(clinic: Clinic, clock: FixedClock) -> None:
    """Export, correct, export again: the same PUTs carry the new content, amended."""
    first, second, day = exported_then_corrected(clinic, clock)
    doc = clinic.actors["clinician_sitea"]
    pid = clinic.patients["A-001"].id
    for bundle in (first, second):
        assert bundle_problems(bundle) == []
        assert references_resolve(bundle) == []
        assert {e["request"]["method"] for e in bundle["entry"]} == {"PUT"}
    before = {e["fullUrl"]: e for e in first["entry"]}
    after = {e["fullUrl"]: e for e in second["entry"]}
    assert before.keys() == after.keys()  # nothing new: the same resources, updated
    for url, entry in after.items():
        assert entry["request"] == before[url]["request"]

    def one(entries: dict[str, Any], kind: str, code: str | None = None) -> dict[str, Any]:
        (found,) = [
            e["resource"]
            for e in entries.values()
            if e["resource"]["resourceType"] == kind
            and (code is None or e["resource"]["code"]["coding"][0]["code"] == code)
            and "daily_diary" in e["resource"].get("questionnaire", "daily_diary")
        ]
        return found

    response = one(after, "QuestionnaireResponse")
    assert one(before, "QuestionnaireResponse")["status"] == "completed"
    assert response["status"] == "amended"
    assert [i["answer"][0] for i in response["item"]] == [{"valueInteger": 4}]
    pain = one(after, "Observation", "72514-3")
    assert (one(before, "Observation", "72514-3")["status"], pain["status"]) == (
        "final",
        "amended",
    )
    assert pain["valueInteger"] == 4
    statement = one(after, "MedicationStatement")
    assert one(before, "MedicationStatement")["status"] == "active"
    assert statement["status"] == "stopped"
    assert statement["effectivePeriod"] == {
        "start": (clock().date() - dt.timedelta(days=2)).isoformat(),
        "end": (day + dt.timedelta(days=1)).isoformat(),
    }
    assert statement["medicationCodeableConcept"]["coding"] == [
        {"system": "urn:microtrial:medication-ingredient", "code": "sertraline"}
    ]
    # stopping a medication re-runs screening: the decision is sent again, amended
    assert one(after, "Observation", "decision")["status"] == "amended"
    # the crisis reading is a vital-signs Observation, not only a QuestionnaireResponse
    panel = one(after, "Observation", "85354-9")
    assert panel["category"][0]["coding"][0]["code"] == "vital-signs"
    assert panel["effectiveDateTime"] == day.isoformat()
    assert [
        (c["code"]["coding"][0]["code"], c["valueQuantity"]["value"]) for c in panel["component"]
    ] == [("8480-6", 186), ("8462-4", 124)]
    assert {c["valueQuantity"]["code"] for c in panel["component"]} == {"mm[Hg]"}
    # $everything: the same resources, each with its stable logical id
    everything = exports.fhir_bundle_for_patient(clinic.db, doc, pid, clock=clock)
    assert references_resolve(everything) == []
    ids = {e["fullUrl"]: e["resource"]["id"] for e in everything["entry"]}
    assert ids.keys() == after.keys()
    assert all(url == f"urn:uuid:{i}" for url, i in ids.items())


def test_fhir_export_scope(clinic: Clinic, clock: FixedClock) -> None:
    pid = clinic.patients["A-001"].id
    with pytest.raises(NotFound):
        exports.fhir_bundle_for_patient(clinic.db, clinic.actors["clinician_siteb"], pid)
    with pytest.raises(NotFound):
        exports.fhir_bundle_for_patient(clinic.db, clinic.actors["p_A-002"], pid)
    with pytest.raises(PermissionDenied):
        exports.fhir_bundle_for_patient(clinic.db, clinic.actors["researcher_sitea"], pid)
    own = exports.fhir_bundle_for_patient(clinic.db, clinic.actors["p_A-001"], pid, clock=clock)
    assert bundle_problems(own) == []
    site = exports.export_fhir_bundle(
        clinic.db, system_actor(), exports.ExportScope(site_code="SITEA"), clock=clock
    )
    assert [
        e["resource"]["identifier"][0]["value"]
        for e in site["entry"]
        if e["resource"]["resourceType"] == "Patient"
    ] == ["SITEA:A-001", "SITEA:A-002"]


def enrol_more(clinic: Clinic, clock: FixedClock) -> None:
    """Four more ordinary patients at site A and one aged 95."""
    system = system_actor("test")
    for code, year in (
        ("A-003", 1980),
        ("A-004", 1981),
        ("A-005", 1982),
        ("A-006", 1983),
        ("A-095", OLD_BIRTH_YEAR),
    ):
        patients.enrol_patient(
            clinic.db,
            system,
            site_code="SITEA",
            study_code=code,
            birth_year=year,
            sex="female",
            time_zone="Europe/London",
            conditions=["G43.909"],
            clock=clock,
        )
    admin.add_user(
        clinic.db,
        system,
        site_code="SITEA",
        role="clinician",
        username="seeded_user_qq",
        password="correct horse battery",
        email=SEEDED_EMAIL,
        clock=clock,
    )


def test_research_export_is_deidentified(clinic: Clinic, clock: FixedClock, tmp_path: Path) -> None:
    enrol_more(clinic, clock)
    unblinded_id = run_trial(clinic, clock, "A-001", unblind=True)
    clock.advance(days=1)
    run_trial(clinic, clock, "A-002", unblind=False)
    researcher = clinic.actors["researcher_sitea"]
    # k=2: with k=5 the two patients with a trial would be withheld (see the end of the test)
    tables = exports.research_export(clinic.db, researcher, secret=SECRET, k=2, clock=clock)
    frames = tables.tables
    assert len(frames["patients"]) == 7  # site A only
    assert tables.withheld_patients == 0
    # the one 95-year-old forces age suppression
    assert GENERALISATION_LEVELS[tables.generalisation_level] == "age suppressed"
    assert set(frames["patients"]["age_band"]) == {"*"}
    # ... while the condition group, the research variable, is still released
    assert set(frames["patients"]["condition"]) == {"migraine"}
    trials_frame = frames["trials"]
    assert sorted(trials_frame["unblinded"]) == [False, True]
    blinded_trial = trials_frame.loc[~trials_frame["unblinded"], "trial"].item()
    open_trial = trials_frame.loc[trials_frame["unblinded"], "trial"].item()
    for name in ("scores", "doses", "periods", "guesses", "adverse_events"):
        frame = frames[name]
        assert set(frame.loc[frame["trial"] == blinded_trial, "arm"]) <= {"blinded", "none"}, name
        assert set(frame.loc[frame["trial"] == open_trial, "arm"]) <= {"active", "placebo", "none"}
    assert set(frames["doses"].loc[frames["doses"]["trial"] == open_trial, "arm"]) == {
        "active",
        "placebo",
    }
    assert frames["scores"]["study_day"].min() == 1
    assert set(frames["adverse_events"]["grade"]) == {2}
    # the clinician's free-text term is not exported, only that it named no checklist symptom
    assert set(frames["adverse_events"]["term"]) == {OTHER_TERM}
    outputs: list[bytes] = []
    for fmt in ("csv", "parquet"):
        manifest = write_research_export(tables, tmp_path / fmt, fmt)  # type: ignore[arg-type]
        assert manifest["tables"]["patients"]["rows"] == 7
        assert manifest["rules"]["k_anonymity"]["k"] == 2
        fields = manifest["tables"]["scores"]["fields"]
        assert [f["name"] for f in fields] == list(frames["scores"].columns)
        for path in sorted((tmp_path / fmt).iterdir()):
            outputs.append(path.read_bytes())
            if path.suffix == ".parquet":
                outputs.append(pq.read_table(path).to_pandas().to_csv().encode())
    seeded = [
        "A-001",
        "A-002",
        "A-095",
        "SITEA",
        "Site A",
        "clinician_sitea",
        "researcher_sitea",
        "seeded_user_qq",
        SEEDED_EMAIL,
        SEEDED_MEDICATION,
        SEEDED_TERM,
        str(OLD_BIRTH_YEAR),
        "1980",
        "Europe/London",
        "G43.909",
    ]
    date_pattern = re.compile(rb"\d{4}-\d{2}-\d{2}")
    for blob in outputs:
        for text in seeded:
            assert text.encode() not in blob, text
        assert date_pattern.search(blob) is None
    with clinic.db.transaction() as session:
        event = session.execute(
            select(AuditEventRow).where(AuditEventRow.entity == "research_export")
        ).scalar_one()
    assert event.actor == "researcher_sitea"
    assert len(event.detail["patient_ids"]) == 7
    assert unblinded_id > 0
    # at k=5 the two patients with a trial form a class of two (one trial each): withheld
    strict = exports.research_export(clinic.db, researcher, secret=SECRET, clock=clock)
    assert strict.withheld_patients == 2
    assert len(strict.tables["patients"]) == 5
    assert strict.tables["trials"].empty
    assert strict.tables["scores"].empty


def test_research_export_refuses_below_k_and_checks_roles(
    clinic: Clinic, clock: FixedClock
) -> None:
    researcher = clinic.actors["researcher_sitea"]
    with pytest.raises(ConflictError, match="k=5"):
        exports.research_export(clinic.db, researcher, secret=SECRET, clock=clock)
    with pytest.raises(PermissionDenied):
        exports.research_export(clinic.db, clinic.actors["clinician_sitea"], secret=SECRET)
    with pytest.raises(NotFound):
        exports.research_export(clinic.db, researcher, secret=SECRET, site_code="SITEB")
    from microtrial.errors import ValidationError

    with pytest.raises(ValidationError, match="MICROTRIAL_EXPORT_SECRET"):
        exports.research_export(clinic.db, system_actor(), secret="short", k=2)
    whole = exports.research_export(clinic.db, system_actor(), secret=SECRET, k=3, clock=clock)
    assert whole.generalisation_level == 1  # site suppressed: 3 identical patients
    assert len(set(whole.tables["patients"]["patient"])) == 3


def actor_ids(actor: Actor) -> tuple[str, int | None]:
    return actor.username, actor.site_id
