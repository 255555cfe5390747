"""Exported transaction Bundles posted twice to a real FHIR server: the second post adds nothing.

The server is medplum's FhirRouter over its MemoryRepository (tests/fhir_server/server.mjs), the
request handling of the Medplum FHIR server, run by node in a child process. The npm packages
are pinned in tests/fhir_server/package-lock.json and installed once (``npm ci``) into
.cache/fhir-server; under CI (``CI=true``) a failed install fails the tests, elsewhere they skip.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest
from fhir.resources.R4B.bundle import Bundle

from helpers import Clinic, FixedClock
from integration.test_exports import exported_then_corrected, run_trial
from microtrial.interop.fhir import bundle_problems
from microtrial.services import exports, patients, screening

SOURCE = Path(__file__).resolve().parents[1] / "fhir_server"
CACHE = Path(__file__).resolve().parents[2] / ".cache" / "fhir-server"
FILES = ("package.json", "package-lock.json", "server.mjs")
NODE_MIN = (20, 19)  # @medplum/* 4.5.2 declare node ^20.19.0 || >=22.12.0 (5.x needs 22)
INSTALL_HINT = "install node >= 20.19 and npm; the test runs `npm ci` in .cache/fhir-server"


def _unavailable(reason: str) -> NoReturn:
    """Fail under CI (the server must be there), skip elsewhere with how to get it."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"FHIR test server unavailable under CI: {reason}")
    pytest.skip(f"FHIR test server unavailable ({reason}); {INSTALL_HINT}")


@pytest.fixture(scope="session")
def fhir_server_dir() -> Path:
    """The server script with its pinned npm packages installed (once per lock file)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        _unavailable("node or npm not on PATH")
    version = subprocess.run(
        [str(node), "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    major, minor = (int(p) for p in version.lstrip("v").split(".")[:2])
    if (major, minor) < NODE_MIN:
        _unavailable(f"node {version} is older than the packages' minimum 20.19")
    CACHE.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        shutil.copyfile(SOURCE / name, CACHE / name)
    lock = hashlib.sha256((SOURCE / "package-lock.json").read_bytes()).hexdigest()
    stamp = CACHE / "node_modules" / ".microtrial-lock-sha256"
    if not stamp.exists() or stamp.read_text() != lock:
        done = subprocess.run(
            [str(npm), "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=CACHE,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if done.returncode != 0:
            _unavailable(f"`npm ci` failed: {done.stderr.strip()[-2000:]}")
        stamp.write_text(lock)
    return CACHE


class FhirServer:
    """A running in-memory FHIR server reached over HTTP on 127.0.0.1."""

    def __init__(self, base: str) -> None:
        self.base = base

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
        """The HTTP status and JSON answer of one request."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.base + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"{}")

    def search(self, kind: str, **params: str) -> list[dict[str, Any]]:
        """Every resource a search finds (one page of up to 1000)."""
        query = urllib.parse.urlencode({**params, "_count": "1000"})
        status, bundle = self.request("GET", f"/{kind}?{query}")
        assert status == 200, bundle
        assert bundle["type"] == "searchset"
        assert len(bundle.get("entry", [])) < 1000  # one page holds them all
        return [e["resource"] for e in bundle.get("entry", [])]

    def counts(self, kinds: set[str]) -> Counter[str]:
        """How many resources of each type the server holds."""
        return Counter({kind: len(self.search(kind)) for kind in kinds})


@pytest.fixture
def fhir_server(fhir_server_dir: Path) -> Iterator[FhirServer]:
    """An empty server for one test; it stops when the test closes its stdin."""
    proc = subprocess.Popen(
        [shutil.which("node") or "node", "server.mjs"],
        cwd=fhir_server_dir,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("LISTENING "):
            proc.kill()
            _, err = proc.communicate(timeout=10)
            raise AssertionError(f"FHIR server did not start: {line!r} {err[-2000:]}")
        yield FhirServer(f"http://127.0.0.1:{int(line.split()[1])}")
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def post_twice(server: FhirServer, bundle: dict[str, Any]) -> dict[str, Any]:
    """Post the transaction twice; check the second creates nothing. The patient's server copy."""
    assert bundle_problems(bundle) == []
    Bundle.model_validate(bundle)  # fhir.resources still accepts what the server is sent
    kinds = {e["resource"]["resourceType"] for e in bundle["entry"]}
    expected = Counter(e["resource"]["resourceType"] for e in bundle["entry"])
    status, first = server.request("POST", "/", bundle)
    assert status == 200, first
    assert first["type"] == "transaction-response"
    # Conditional creates answer 201. A PUT that creates (AdverseEvent, client-chosen id) should
    # too, but medplum 4.5 answers 200 for update-as-create; the counts below are the real check.
    for sent, answer in zip(bundle["entry"], first["entry"], strict=True):
        allowed = {"200", "201"} if sent["request"]["method"] == "PUT" else {"201"}
        assert answer["response"]["status"][:3] in allowed, (sent["request"], answer["response"])
    assert server.counts(kinds) == expected
    status, second = server.request("POST", "/", bundle)
    assert status == 200, second
    # nothing created: conditional creates find their match, the PUTs update in place
    assert [e["response"]["status"][:3] for e in second["entry"]] == ["200"] * len(bundle["entry"])
    assert server.counts(kinds) == expected
    # the same server resource answers each entry both times
    assert [e["response"]["location"].split("/_history")[0] for e in second["entry"]] == [
        e["response"]["location"].split("/_history")[0] for e in first["entry"]
    ]
    (patient,) = [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"
    ]
    ident = patient["identifier"][0]
    (found,) = server.search("Patient", identifier=f"{ident['system']}|{ident['value']}")
    return found


def by_kind(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    """The bundle's resources of one type."""
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def identifiers(resources: list[dict[str, Any]]) -> list[str]:
    """Each resource's identifier value (or the id where it carries none), sorted."""
    values = []
    for r in resources:
        ident = r.get("identifier")
        ident = ident[0] if isinstance(ident, list) else ident
        values.append(ident["value"] if ident else r["id"])
    return sorted(values)


def fhir_server_kinds(bundle: dict[str, Any]) -> list[str]:
    """The resource types in a bundle, in first-seen order."""
    return list(dict.fromkeys(e["resource"]["resourceType"] for e in bundle["entry"]))


@pytest.mark.parametrize("unblind", [True, False], ids=["unblinded", "blinded"])
def test_trial_bundle_posted_twice(
    clinic: Clinic, clock: FixedClock, fhir_server: FhirServer, unblind: bool
) -> None:
    run_trial(clinic, clock, "A-001", unblind=unblind)
    doc = clinic.actors["clinician_sitea"]
    bundle = exports.export_fhir_bundle(
        clinic.db, doc, exports.ExportScope(patient_code="A-001"), clock=clock
    )
    assert bundle["type"] == "transaction"
    patient = post_twice(fhir_server, bundle)
    subject = f"Patient/{patient['id']}"
    for kind in ("Observation", "AdverseEvent", "MedicationAdministration", "Condition"):
        found = fhir_server.search(kind, subject=subject)
        assert found, kind
        assert identifiers(found) == identifiers(by_kind(bundle, kind)), kind
    (event,) = fhir_server.search("AdverseEvent", subject=subject)
    assert event["id"] == by_kind(bundle, "AdverseEvent")[0]["id"]  # the client-chosen id kept
    codes = {
        d["medicationCodeableConcept"]["coding"][0]["code"]
        for d in fhir_server.search("MedicationAdministration", subject=subject)
    }
    assert codes == ({"active", "placebo"} if unblind else {"blinded"})
    study = fhir_server.search("ResearchStudy")
    assert [a["name"] for s in study for a in s.get("arm", [])] == (
        ["active", "placebo"] if unblind else []
    )
    if not unblind:
        stored = json.dumps([fhir_server.search(k) for k in fhir_server_kinds(bundle)])
        assert "placebo" not in stored.lower()


def test_excluded_patient_bundle_posted_twice(
    clinic: Clinic, clock: FixedClock, fhir_server: FhirServer
) -> None:
    doc = clinic.actors["clinician_sitea"]
    pid = clinic.patients["A-002"].id
    for flag in screening.history_flag_ids():
        patients.set_history_flag(
            clinic.db, doc, pid, flag, flag == "psychotic-disorder", clock=clock
        )
    screened = screening.screen_patient(clinic.db, doc, pid, "psilocybin", clock=clock)
    assert screened.decision == "do-not-start"
    bundle = exports.export_fhir_bundle(
        clinic.db, doc, exports.ExportScope(patient_code="A-002"), clock=clock
    )
    patient = post_twice(fhir_server, bundle)
    found = fhir_server.search("Observation", subject=f"Patient/{patient['id']}")
    (decision,) = [
        o for o in found if o["code"]["coding"][0]["system"] == "urn:microtrial:screening"
    ]
    assert decision["valueCodeableConcept"]["coding"][0]["code"] == "do-not-start"
    assert decision["identifier"][0]["value"] == f"urn:uuid:{screened.record_id}"
    assert fhir_server.search("AdverseEvent", subject=f"Patient/{patient['id']}") == []


def as_conditional_creates(bundle: dict[str, Any]) -> dict[str, Any]:
    """The bundle as exports before this change sent it: conditional creates (POST ifNoneExist)."""
    old = json.loads(json.dumps(bundle))
    for entry in old["entry"]:
        kind, _, match = entry["request"]["url"].partition("?")
        if match:
            entry["request"] = {"method": "POST", "url": kind, "ifNoneExist": match}
    return old


@pytest.mark.parametrize("earlier", ["updates", "creates"])
def test_a_corrected_export_posted_again_updates_the_server(
    clinic: Clinic, clock: FixedClock, fhir_server: FhirServer, earlier: str
) -> None:
    """The server holds the correction after a re-send, also where an earlier export (conditional
    creates, server-assigned ids) put version 1 there; nothing is duplicated."""
    first, second, _ = exported_then_corrected(clinic, clock)
    if earlier == "updates":
        post_twice(fhir_server, first)
    else:
        status, answer = fhir_server.request("POST", "/", as_conditional_creates(first))
        assert status == 200, answer
    kinds = set(fhir_server_kinds(second))
    expected = Counter(e["resource"]["resourceType"] for e in second["entry"])
    assert fhir_server.counts(kinds) == expected
    (response,) = [
        r
        for r in fhir_server.search("QuestionnaireResponse")
        if "daily_diary" in r["questionnaire"]
    ]
    assert response["status"] == "completed"
    assert response["item"][0]["answer"][0]["valueInteger"] == 7
    status, answer = fhir_server.request("POST", "/", second)
    assert status == 200, answer
    assert [e["response"]["status"][:3] for e in answer["entry"]] == ["200"] * len(second["entry"])
    assert fhir_server.counts(kinds) == expected  # updated in place, nothing added
    (response,) = [
        r
        for r in fhir_server.search("QuestionnaireResponse")
        if "daily_diary" in r["questionnaire"]
    ]
    assert response["status"] == "amended"
    assert response["item"][0]["answer"][0]["valueInteger"] == 4
    (pain,) = fhir_server.search("Observation", code="http://loinc.org|72514-3")
    assert (pain["status"], pain["valueInteger"]) == ("amended", 4)
    assert pain["derivedFrom"] == [{"reference": f"QuestionnaireResponse/{response['id']}"}]
    (statement,) = fhir_server.search("MedicationStatement")
    assert statement["status"] == "stopped"
    assert "end" in statement["effectivePeriod"]
    (panel,) = fhir_server.search("Observation", category="vital-signs")
    assert [c["valueQuantity"]["value"] for c in panel["component"]] == [186, 124]
    patient = by_kind(second, "Patient")[0]["identifier"][0]
    (stored,) = fhir_server.search("Patient", identifier=f"{patient['system']}|{patient['value']}")
    assert panel["subject"] == {"reference": f"Patient/{stored['id']}"}
