"""FHIR R4 Bundles of patients' trial data (transaction to post, searchset to read), and checks.

Resources: Patient (pseudonymous identifier, no name), Condition (ICD-10-CM),
MedicationStatement (the name as entered, the catalog ingredients it names, when it was added
and stopped), Observation (daily pain LOINC 72514-3 and instrument totals with their LOINC codes,
category ``survey``; blood-pressure readings as a ``vital-signs`` panel 85354-9 with systolic
and diastolic components in mm[Hg]; and each screening decision with its findings' rule ids),
QuestionnaireResponse (linkIds = item ids; answers carry the catalog's answer codes, e.g. LOINC
LA codes for PHQ-9/GAD-7), MedicationAdministration (one per dose: a blinded study product until
unblinding, the arm after), AdverseEvent (seriousness, severity), ResearchStudy (arms) and
ResearchSubject.

Every entry has a ``urn:uuid`` fullUrl (deterministic: UUIDv5 of its identifier, which names
the record, not its version, so re-exports produce the same ids) and references name those
fullUrls. In the transaction Bundle each entry's request makes a re-send update what changed and
create nothing: a conditional update (``PUT <Type>?identifier=...``) on our own identifier where
R4 defines that search parameter for the type (``R4_CONDITIONAL_PARAMS``), else a PUT of a
logical id derived from the same UUID (AdverseEvent). A corrected diary entry or re-screened
decision is sent as ``amended``. ``searchset_bundle`` gives the same resources, each with that
UUID as its ``id``, as the ``searchset`` that ``Patient/$everything`` answers with.
``fhir.resources`` (its R4B models, identical to R4 for these resources) checks structure and
types; ``bundle_problems`` adds what it does not check: required value sets, bdl-3 (a request on
every transaction entry, none on a searchset entry), only updates (a create would leave a changed
resource as the server holds it), conditional updates only on defined search parameters, unique
fullUrls, a searchset resource's id matching its fullUrl, and that every reference resolves
inside the bundle. The resources themselves are built in ``microtrial.interop.fhir_resources``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import unquote

import pydantic
from fhir.resources.R4B.bundle import Bundle

from microtrial.domain.catalog import Catalog
from microtrial.errors import ValidationError
from microtrial.interop.fhir_resources import (
    R4_CONDITIONAL_PARAMS,
    BundleBuilder,
    patient_entries,
)
from microtrial.interop.imported import ImportedInstrument
from microtrial.interop.records import PatientExport

__all__ = [
    "R4_CONDITIONAL_PARAMS",
    "REQUIRED_CODES",
    "build_bundle",
    "bundle_problems",
    "check_bundle",
    "searchset_bundle",
]

FHIR_VERSION = "4.0.1"  # the resources follow R4; fhir.resources' R4B models check them
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


def build_bundle(
    patients: Sequence[PatientExport],
    *,
    catalog: Catalog | None = None,
    imported: Mapping[str, ImportedInstrument] | None = None,
) -> dict[str, Any]:
    """A FHIR R4 transaction Bundle (as JSON-ready dict) of the patients' data."""
    builder = BundleBuilder()
    for data in patients:
        patient_entries(builder, data, catalog, imported)
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": builder.entries,
    }


def searchset_bundle(
    patients: Sequence[PatientExport],
    *,
    catalog: Catalog | None = None,
    imported: Mapping[str, ImportedInstrument] | None = None,
) -> dict[str, Any]:
    """The same resources as a ``searchset`` Bundle (what ``Patient/$everything`` returns).

    Each resource carries its logical id: the UUID of its fullUrl, the same on every export.
    """
    entries = [
        {"fullUrl": e["fullUrl"], "resource": _with_id(e), "search": {"mode": "match"}}
        for e in build_bundle(patients, catalog=catalog, imported=imported)["entry"]
    ]
    return {"resourceType": "Bundle", "type": "searchset", "total": len(entries), "entry": entries}


def _with_id(entry: Mapping[str, Any]) -> dict[str, Any]:
    """The entry's resource with the id its fullUrl names (resourceType, id first)."""
    resource = entry["resource"]
    rest = {k: v for k, v in resource.items() if k not in ("resourceType", "id")}
    return {
        "resourceType": resource["resourceType"],
        "id": str(entry["fullUrl"]).removeprefix("urn:uuid:"),
        **rest,
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


def _entry_problems(where: str, entry: Mapping[str, Any], bundle_type: Any) -> list[str]:
    """One entry's problems: fullUrl, request or search, required codes, survey category."""
    problems: list[str] = []
    url = str(entry.get("fullUrl", ""))
    if not url.startswith("urn:uuid:"):
        problems.append(f"{where}: fullUrl {url!r} is not a urn:uuid")
    request = entry.get("request")
    resource = entry.get("resource") or {}
    kind = resource.get("resourceType")
    if bundle_type == "searchset":
        if request is not None:
            problems.append(f"bdl-3: {where} ({kind}) has a request in a searchset")
        mode = (entry.get("search") or {}).get("mode")
        if mode not in ("match", "include", "outcome"):
            problems.append(f"{where}: search.mode {mode!r} is not match, include or outcome")
        if url.startswith("urn:uuid:") and resource.get("id") != url.removeprefix("urn:uuid:"):
            problems.append(f"{where}: resource id {resource.get('id')!r} is not its fullUrl's")
    elif not isinstance(request, Mapping):
        problems.append(f"bdl-3: {where} ({kind}) has no request")
    else:
        problems += _request_problems(where, request, resource)
    for (resource_type, element), allowed in REQUIRED_CODES.items():
        if kind != resource_type or element not in resource:
            continue
        for code in _codes(resource[element]):
            if code not in allowed:
                problems.append(
                    f"{where}: {kind}.{element} code {code!r} is not in its required value set"
                )
    loinc_coded = any(
        c.get("system") == "http://loinc.org"
        for c in (resource.get("code") or {}).get("coding", [])
        if isinstance(c, Mapping)
    )
    if kind == "Observation" and loinc_coded:
        categories = [c for cat in resource.get("category", []) for c in _codes(cat)]
        if not {"survey", "vital-signs"} & set(categories):
            problems.append(
                f"{where}: instrument Observation without category survey or vital-signs"
            )
    return problems


def _request_problems(
    where: str, request: Mapping[str, Any], resource: Mapping[str, Any]
) -> list[str]:
    """A transaction request's problems: only updates (a re-send changes, never adds)."""
    kind = resource.get("resourceType")
    method = request.get("method")
    url = str(request.get("url") or "")
    if method == "POST":
        return [
            f"{where}: POST creates ({kind}); a re-send would leave a changed resource as the "
            "server holds it (use PUT)"
        ]
    if method != "PUT":
        return [f"{where}: request.method {method!r} is not PUT"]
    if "?" not in url:
        if not resource.get("id") or url != f"{kind}/{resource.get('id')}":
            return [f"{where}: PUT to {url!r} is not {kind}/<the resource's id>"]
        return []
    path, query = url.split("?", 1)
    problems = [] if path == kind else [f"{where}: request.url {url!r} is not {kind}?..."]
    if resource.get("id"):
        # R4 conditional update: an id differing from the matched resource's is refused
        problems.append(f"{where}: a conditional update's resource carries an id")
    defined = R4_CONDITIONAL_PARAMS.get(str(kind), frozenset())
    for part in query.split("&"):
        name, _, value = part.partition("=")
        if name not in defined:
            problems.append(
                f"{where}: conditional update on {name!r}, not a search parameter we know R4 "
                f"defines for {kind} (a re-send would add a copy)"
            )
        elif name == "identifier" and unquote(value) not in _identifiers(resource):
            problems.append(f"{where}: conditional update on an identifier the resource lacks")
    return problems


def _identifiers(resource: Mapping[str, Any]) -> set[str]:
    """The resource's identifiers as ``system|value`` (the form a token search names them in)."""
    found = resource.get("identifier") or []
    found = [found] if isinstance(found, Mapping) else found
    return {f"{i.get('system', '')}|{i.get('value', '')}" for i in found if isinstance(i, Mapping)}


def bundle_problems(bundle: Mapping[str, Any]) -> list[str]:
    """Every problem of a transaction or searchset Bundle: fhir.resources' and ours (empty: ok)."""
    problems: list[str] = []
    try:
        Bundle.model_validate(dict(bundle))
    except pydantic.ValidationError as err:
        problems += [
            f"fhir.resources: {'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
            for e in err.errors()
        ]
    bundle_type = bundle.get("type")
    if bundle_type not in ("transaction", "batch", "searchset"):
        problems.append(f"Bundle.type {bundle_type!r} is not transaction or searchset")
    entries = bundle.get("entry") or []
    full_urls: list[str] = [str(e.get("fullUrl")) for e in entries]
    for url in sorted({u for u in full_urls if full_urls.count(u) > 1}):
        problems.append(f"bdl-7: fullUrl {url} appears more than once")
    for index, entry in enumerate(entries):
        problems += _entry_problems(f"entry[{index}]", entry, bundle_type)
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
