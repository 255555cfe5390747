"""De-identified research export: allow-listed tables, keyed pseudonyms, study days, k-anonymity.

The rules, in one place (and written into every manifest):

- only the columns listed in ``ALLOWED_COLUMNS`` leave, table by table (an allow-list; a
  column that is not listed is an error, never silently passed on);
- patients, trials and sites appear as keyed pseudonyms: HMAC-SHA256 with a per-site key, so the
  same patient maps to the same pseudonym in every export with the same secret, and nobody
  without the secret can recompute it from a study code;
- dates become study days (day 1 = the trial's start; the day before is -1, no day 0, as CDISC
  SDTM counts them);
- ages become 10-year bands, and every age of 90 or more is "90+" (HIPAA Safe Harbor,
  45 CFR 164.514(b)(2)(i)(C));
- no free text (adverse-event terms, medication names, text answers) is exported at all;
- quasi-identifiers (age band, sex, condition group, site) must be shared by at least ``k``
  patients (k-anonymity, Sweeney 2002); below ``k`` the export generalises step by step and,
  when even the coarsest level fails, refuses.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from microtrial.errors import ConflictError, ValidationError
from microtrial.files import private_file, spreadsheet_safe_frame, write_private
from microtrial.interop.records import PatientExport

__all__ = [
    "ALLOWED_COLUMNS",
    "GENERALISATION_LEVELS",
    "QUASI_IDENTIFIERS",
    "RULE_SET",
    "ResearchTables",
    "age_band",
    "apply_k_anonymity",
    "build_tables",
    "pseudonym",
    "research_rows",
    "site_key",
    "study_day",
    "write_research_export",
]

RULE_SET = "microtrial-deid-1"
MIN_SECRET_LENGTH = 16
QUASI_IDENTIFIERS = ("age_band", "sex", "condition", "site")

ALLOWED_COLUMNS: dict[str, tuple[str, ...]] = {
    "patients": ("patient", "site", "age_band", "sex", "condition", "n_trials"),
    "trials": (
        "trial",
        "patient",
        "status",
        "substance",
        "regimen",
        "run_in_days",
        "period_days",
        "wash_in_days",
        "n_periods",
        "unblinded",
        "unblinded_early",
    ),
    "periods": ("trial", "period", "block", "start_day", "end_day", "wash_in_days", "arm"),
    "scores": ("patient", "trial", "study_day", "period", "arm", "instrument", "score", "value"),
    "doses": ("patient", "trial", "study_day", "period", "arm", "status"),
    "adverse_events": (
        "patient",
        "trial",
        "onset_day",
        "resolved_day",
        "period",
        "arm",
        "grade",
        "serious",
    ),
    "guesses": ("patient", "trial", "period", "guess", "confidence", "arm"),
}

# Generalisation ladder: each level coarsens one more quasi-identifier. The condition group is
# the research variable (the cohort page pools by it), so it is coarsened last, and at first only
# for the groups that hold fewer than k patients.
GENERALISATION_LEVELS: tuple[str, ...] = (
    "10-year age bands, site, condition group, sex",
    "site suppressed",
    "age in 3 wide bands (18-44, 45-89, 90+ kept as 90+ is already coarse)",
    "sex suppressed",
    "age suppressed",
    "condition groups with fewer than k patients suppressed",
    "condition group suppressed",
)
_WIDE_BANDS = ((18, 44, "18-44"), (45, 89, "45-89"))


def site_key(secret: str, site_code: str) -> bytes:
    """The per-site HMAC key, derived from the export secret (HKDF-like, one HMAC step)."""
    if len(secret) < MIN_SECRET_LENGTH:
        raise ValidationError(
            "export_secret",
            "is missing or too short; set MICROTRIAL_EXPORT_SECRET",
            allowed=f"at least {MIN_SECRET_LENGTH} characters",
        )
    return hmac.new(secret.encode(), f"site-key:{site_code}".encode(), hashlib.sha256).digest()


def pseudonym(key: bytes, kind: str, value: str, length: int = 16) -> str:
    """A keyed pseudonym: ``kind`` prefix plus truncated HMAC-SHA256 hex of the value."""
    digest = hmac.new(key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()
    return f"{kind[0].upper()}{digest[:length]}"


def age_band(age: int) -> str:
    """A 10-year band (``"30-39"``); every age of 90 or more is ``"90+"`` (HIPAA Safe Harbor)."""
    if age >= 90:
        return "90+"
    if age < 18:
        return "<18"
    low = max(18, age // 10 * 10)
    return f"{low}-{age // 10 * 10 + 9}"


def study_day(day: Any, reference: Any) -> int:
    """Study day of ``day`` counted from ``reference`` = day 1 (no day 0, SDTM convention)."""
    delta = int((day - reference).days)
    return delta + 1 if delta >= 0 else delta


def _widen(band: str) -> str:
    if band in ("90+", "<18", "*"):
        return band
    low = int(band.split("-")[0])
    for start, end, label in _WIDE_BANDS:
        if start <= low <= end:
            return label
    return band


def _generalise(patients: pd.DataFrame, level: int, k: int) -> pd.DataFrame:
    out = patients.copy()
    if level >= 1:
        out["site"] = "*"
    if level >= 2:
        out["age_band"] = out["age_band"].map(_widen)
    if level >= 3:
        out["sex"] = "*"
    if level >= 4:
        out["age_band"] = "*"
    if level >= 5:
        sizes = out["condition"].map(out["condition"].value_counts())
        out.loc[sizes < k, "condition"] = "*"
    if level >= 6:
        out["condition"] = "*"
    return out


def _smallest_class(patients: pd.DataFrame) -> int:
    if patients.empty:
        return 0
    counts = Counter(tuple(row) for row in patients[list(QUASI_IDENTIFIERS)].itertuples(False))
    return min(counts.values())


@dataclass(frozen=True)
class KAnonymityResult:
    """The patients table after generalisation, and how far it had to go."""

    patients: pd.DataFrame
    level: int
    smallest_class: int


def apply_k_anonymity(
    patients: pd.DataFrame, k: int, policy: Literal["generalise", "refuse"] = "generalise"
) -> KAnonymityResult:
    """Generalise quasi-identifiers until every class holds ``k`` patients, or refuse.

    Raises ConflictError when the data cannot reach ``k`` (too few patients, or ``policy`` is
    ``refuse`` and the ungeneralised table is below ``k``).
    """
    if k < 2:
        raise ValidationError("k", f"{k} is too small", value=k, allowed="2 or more")
    if patients.empty:
        raise ConflictError("k-anonymity: no patients to export")
    levels = range(len(GENERALISATION_LEVELS)) if policy == "generalise" else range(1)
    smallest = 0
    for level in levels:
        candidate = _generalise(patients, level, k)
        smallest = _smallest_class(candidate)
        if smallest >= k:
            return KAnonymityResult(candidate, level, smallest)
    raise ConflictError(
        f"k-anonymity: export refused; a quasi-identifier class holds {smallest} patient(s), "
        f"fewer than k={k} ({policy})"
    )


@dataclass(frozen=True)
class ResearchTables:
    """The de-identified tables, ready to write, and what the manifest says about them."""

    tables: Mapping[str, pd.DataFrame]
    k: int
    generalisation_level: int
    smallest_class: int
    notes: tuple[str, ...] = field(default=())

    def manifest(self, fmt: str) -> dict[str, Any]:
        """The JSON manifest: fields, row counts and the rule set used."""
        return {
            "rule_set": RULE_SET,
            "format": fmt,
            "tables": {
                name: {
                    "file": f"{name}.{fmt}",
                    "rows": len(frame),
                    "fields": list(frame.columns),
                }
                for name, frame in self.tables.items()
            },
            "rules": {
                "fields": "allow-list per table (no other column can be exported)",
                "pseudonyms": "HMAC-SHA256 with a per-site key derived from the export secret",
                "dates": "study days (day 1 = trial start; no day 0)",
                "ages": "10-year bands; 90 and over as '90+'",
                "free_text": "none exported",
                "arm": "only for unblinded trials; empty for blinded ones",
                "k_anonymity": {
                    "k": self.k,
                    "quasi_identifiers": list(QUASI_IDENTIFIERS),
                    "generalisation_level": self.generalisation_level,
                    "generalisation": GENERALISATION_LEVELS[self.generalisation_level],
                    "smallest_class": self.smallest_class,
                },
            },
            "notes": list(self.notes),
        }


def build_tables(
    rows: Mapping[str, Sequence[Mapping[str, Any]]],
    *,
    k: int,
    policy: Literal["generalise", "refuse"] = "generalise",
    notes: Sequence[str] = (),
) -> ResearchTables:
    """Turn row dicts into allow-listed DataFrames and apply k-anonymity to the patients table."""
    unknown_tables = sorted(set(rows) - set(ALLOWED_COLUMNS))
    if unknown_tables:
        raise ValidationError("table", "not on the allow-list", value=unknown_tables[0])
    frames: dict[str, pd.DataFrame] = {}
    for name, columns in ALLOWED_COLUMNS.items():
        records = rows.get(name, ())
        for record in records:
            extra = sorted(set(record) - set(columns))
            if extra:
                raise ValidationError(
                    f"{name}.{extra[0]}", "column is not on the allow-list", allowed=columns
                )
        frames[name] = pd.DataFrame(list(records), columns=list(columns))
    result = apply_k_anonymity(frames["patients"], k, policy)
    frames["patients"] = result.patients
    return ResearchTables(
        tables=frames,
        k=k,
        generalisation_level=result.level,
        smallest_class=result.smallest_class,
        notes=tuple(notes),
    )


def write_research_export(
    tables: ResearchTables, out_dir: Path, fmt: Literal["csv", "parquet"] = "csv"
) -> dict[str, Any]:
    """Write every table (CSV or Parquet) and ``manifest.json`` into ``out_dir``; return it."""
    if fmt not in ("csv", "parquet"):
        raise ValidationError("format", "unknown format", value=fmt, allowed=("csv", "parquet"))
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.tables.items():
        with private_file(out_dir / f"{name}.{fmt}") as handle:
            if fmt == "csv":
                text = spreadsheet_safe_frame(frame).to_csv(index=False, lineterminator="\n")
                handle.write(text.encode("utf-8"))
            else:
                frame.to_parquet(handle, index=False)
    manifest = tables.manifest(fmt)
    write_private(out_dir / "manifest.json", json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def _condition_group(codes: Sequence[str], groups_by_code: Mapping[str, str]) -> str:
    groups = sorted({groups_by_code.get(code.upper(), "other") for code in codes})
    return "+".join(groups) if groups else "none"


def research_rows(
    patients: Sequence[PatientExport],
    secret: str,
    groups_by_code: Mapping[str, str],
) -> dict[str, list[dict[str, Any]]]:
    """Allow-listed, pseudonymised rows of every table for the given patients.

    ``groups_by_code`` maps an ICD-10-CM code to its catalog condition group; other codes
    count as ``"other"`` (the code itself is not exported: a rare code can identify).
    """
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in ALLOWED_COLUMNS}
    sites = site_key(secret, "*")
    for patient in patients:
        key = site_key(secret, patient.site_code)
        pid = pseudonym(key, "patient", patient.study_code)
        reference = patient.reference_date
        rows["patients"].append(
            {
                "patient": pid,
                "site": pseudonym(sites, "site", patient.site_code, 8),
                "age_band": age_band(reference.year - patient.birth_year),
                "sex": patient.sex,
                "condition": _condition_group(
                    [c.icd10_code for c in patient.conditions], groups_by_code
                ),
                "n_trials": len(patient.trials),
            }
        )
        trial_ids = {
            t.id: pseudonym(key, "trial", f"{patient.study_code}:{t.id}") for t in patient.trials
        }

        def where(
            day: dt.date,
            trial_id: int | None = None,
            patient: PatientExport = patient,
            trial_ids: Mapping[int, str] = trial_ids,
            reference: dt.date = reference,
        ) -> tuple[str | None, int, int | None, str | None]:
            trial = patient.trial_for(day, trial_id)
            if trial is None:
                return None, study_day(day, reference), None, None
            period = trial.period_on(day)
            return (
                trial_ids[trial.id],
                study_day(day, trial.start_date),
                period.number if period else None,
                period.arm if period else None,
            )

        for trial in patient.trials:
            rows["trials"].append(
                {
                    "trial": trial_ids[trial.id],
                    "patient": pid,
                    "status": trial.status,
                    "substance": trial.substance,
                    "regimen": trial.regimen_template,
                    "run_in_days": trial.run_in_days,
                    "period_days": trial.period_days,
                    "wash_in_days": trial.wash_in_days,
                    "n_periods": len(trial.periods),
                    "unblinded": trial.unblinded,
                    "unblinded_early": trial.unblinded_early,
                }
            )
            for period in trial.periods:
                rows["periods"].append(
                    {
                        "trial": trial_ids[trial.id],
                        "period": period.number,
                        "block": period.block,
                        "start_day": study_day(period.start_date, trial.start_date),
                        "end_day": study_day(period.end_date, trial.start_date),
                        "wash_in_days": period.wash_in_days,
                        "arm": period.arm if trial.unblinded else None,
                    }
                )
        for entry in patient.diary:
            trial_pid, day, period_no, arm = where(entry.local_date, entry.trial_id)
            for score_id, detail in sorted(entry.scores.get("scores", {}).items()):
                value = detail.get("value") if isinstance(detail, Mapping) else None
                if not isinstance(value, int | float) or isinstance(value, bool):
                    continue
                rows["scores"].append(
                    {
                        "patient": pid,
                        "trial": trial_pid,
                        "study_day": day,
                        "period": period_no,
                        "arm": arm,
                        "instrument": entry.instrument_id,
                        "score": score_id,
                        "value": float(value),
                    }
                )
        for dose in patient.doses:
            trial_pid, day, period_no, arm = where(dose.local_date, dose.trial_id)
            rows["doses"].append(
                {
                    "patient": pid,
                    "trial": trial_pid,
                    "study_day": day,
                    "period": period_no,
                    "arm": arm,
                    "status": dose.status,
                }
            )
        for event in patient.adverse_events:
            trial_pid, day, period_no, arm = where(event.onset_date, event.trial_id)
            event_trial = patient.trial_for(event.onset_date, event.trial_id)
            resolved = None
            if event.resolved_date is not None:
                ref = event_trial.start_date if event_trial else reference
                resolved = study_day(event.resolved_date, ref)
            rows["adverse_events"].append(
                {
                    "patient": pid,
                    "trial": trial_pid,
                    "onset_day": day,
                    "resolved_day": resolved,
                    "period": period_no,
                    "arm": arm,
                    "grade": event.grade,
                    "serious": event.serious,
                }
            )
        for guess in patient.guesses:
            guess_trial = next((t for t in patient.trials if t.id == guess.trial_id), None)
            guess_period = next(
                (
                    p
                    for p in (guess_trial.periods if guess_trial else ())
                    if p.number == guess.period_number
                ),
                None,
            )
            rows["guesses"].append(
                {
                    "patient": pid,
                    "trial": trial_ids.get(guess.trial_id),
                    "period": guess.period_number,
                    "guess": guess.guess,
                    "confidence": guess.confidence,
                    "arm": guess_period.arm if guess_period else None,
                }
            )
    return rows
