"""De-identified research export: allow-listed tables, keyed pseudonyms, study days, k-anonymity.

The rules, in one place (and written into every manifest):

- only the columns of the data dictionary ``DICTIONARY`` leave, table by table (an allow-list;
  a column that is not listed is an error, never silently passed on); each has a type, unit,
  allowed values and description, written into the manifest;
- no cell is empty: a missing value is a code the dictionary names ("none", "blinded", 0), so
  pandas, Arrow, DuckDB and Dask infer the same type for every CSV column;
- patients, trials and sites appear as keyed pseudonyms: HMAC-SHA256 with a per-site key, so the
  same patient maps to the same pseudonym in every export with the same secret, and nobody
  without the secret can recompute it from a study code;
- dates become study days (day 1 = the trial's start; the day before is -1, no day 0, as CDISC
  SDTM counts them);
- ages become 10-year bands, and every age of 90 or more is "90+" (HIPAA Safe Harbor,
  45 CFR 164.514(b)(2)(i)(C));
- no free text (adverse-event terms, medication names, text answers) is exported at all;
- quasi-identifiers (every released column that describes the patient rather than a
  measurement: site, age band, sex, condition group, number of trials, substance, regimen) must
  be shared by at least ``k`` patients (k-anonymity, Sweeney 2002); below ``k`` the export
  generalises step by step, withholds the patients still in too small a class as the last step,
  and refuses when fewer than ``k`` would remain.

The data dictionary lives in ``interop.research_dictionary`` and the k-anonymity steps in
``interop.k_anonymity``; this module builds, checks and writes the tables.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from microtrial.domain.adverse_events import CHECKLIST, exported_term
from microtrial.domain.catalog import load_catalog
from microtrial.errors import ValidationError
from microtrial.files import private_file, spreadsheet_safe_frame, write_private
from microtrial.interop.k_anonymity import (
    GENERALISATION_LEVELS,
    PATIENT_QUASI_IDENTIFIERS,
    apply_k_anonymity,
)
from microtrial.interop.records import PatientExport
from microtrial.interop.research_dictionary import (
    ALLOWED_COLUMNS,
    BLINDED,
    DICTIONARY,
    NONE,
    QUASI_IDENTIFIERS,
)

__all__ = [
    "RULE_SET",
    "ResearchTables",
    "age_band",
    "build_tables",
    "pseudonym",
    "research_rows",
    "site_key",
    "study_day",
    "write_research_export",
]

RULE_SET = "microtrial-deid-2"
MIN_SECRET_LENGTH = 16


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


@dataclass(frozen=True)
class ResearchTables:
    """The de-identified tables, ready to write, and what the manifest says about them."""

    tables: Mapping[str, pd.DataFrame]
    k: int
    generalisation_level: int
    smallest_class: int
    notes: tuple[str, ...] = field(default=())
    withheld_patients: int = 0

    def manifest(self, fmt: str) -> dict[str, Any]:
        """The JSON manifest: a data dictionary per file, row counts and the rule set used."""
        return {
            "rule_set": RULE_SET,
            "format": fmt,
            "tables": {
                name: {
                    "file": f"{name}.{fmt}",
                    "rows": len(frame),
                    "fields": [DICTIONARY[name][column].entry(column) for column in frame.columns],
                }
                for name, frame in self.tables.items()
            },
            "rules": {
                "fields": "allow-list per table (no other column can be exported)",
                "pseudonyms": "HMAC-SHA256 with a per-site key derived from the export secret",
                "dates": "study days (day 1 = trial start; no day 0)",
                "ages": "10-year bands; 90 and over as '90+'",
                "free_text": "none exported",
                "arm": "only for unblinded trials; 'blinded' for blinded ones",
                "missing_values": "no empty cell; each column's codes name its missing values",
                "k_anonymity": {
                    "k": self.k,
                    "quasi_identifiers": {
                        table: list(columns) for table, columns in QUASI_IDENTIFIERS.items()
                    },
                    "checked_per_patient_over": list(PATIENT_QUASI_IDENTIFIERS),
                    "generalisation_level": self.generalisation_level,
                    "generalisation": GENERALISATION_LEVELS[self.generalisation_level],
                    "smallest_class": self.smallest_class,
                    "withheld_patients": self.withheld_patients,
                },
            },
            "notes": list(self.notes),
        }


_DTYPES: dict[str, Any] = {
    "integer": "int64",
    "number": "float64",
    "boolean": "bool",
    "string": "object",
}


def _typed(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with each column in its dictionary type; an empty cell is a bug, not data."""
    out = frame.copy()
    for column in out.columns:
        spec = DICTIONARY[name][column]
        if out[column].isna().any():
            raise ValidationError(f"{name}.{column}", "has a missing value without a code")
        out[column] = out[column].astype(_DTYPES[spec.type])
    return out


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
        frames[name] = _typed(name, pd.DataFrame(list(records), columns=list(columns)))
    result = apply_k_anonymity(frames["patients"], k, policy, frames["trials"])
    frames["patients"] = result.patients
    if result.trials is not None:
        frames["trials"] = result.trials
    if result.withheld:
        # every row of a withheld patient goes; periods are keyed by trial only
        gone = set(_trials_of(rows, result.withheld))
        for name, frame in frames.items():
            if "patient" in frame.columns:
                frame = frame[~frame["patient"].isin(result.withheld)]
            if name == "periods":
                frame = frame[~frame["trial"].isin(gone)]
            frames[name] = frame.reset_index(drop=True)
    return ResearchTables(
        tables=frames,
        k=k,
        generalisation_level=result.level,
        smallest_class=result.smallest_class,
        notes=tuple(notes),
        withheld_patients=len(result.withheld),
    )


def _trials_of(
    rows: Mapping[str, Sequence[Mapping[str, Any]]], patients: frozenset[str]
) -> list[str]:
    return [str(t["trial"]) for t in rows.get("trials", ()) if t["patient"] in patients]


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
    checklist = load_catalog().instrument(CHECKLIST)
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
        ) -> tuple[str, int, int, str]:
            trial = patient.trial_for(day, trial_id)
            if trial is None:
                return NONE, study_day(day, reference), 0, NONE
            period = trial.period_on(day)
            if period is None:
                return trial_ids[trial.id], study_day(day, trial.start_date), 0, NONE
            # a period's arm is filled only once its trial is unblinded
            return (
                trial_ids[trial.id],
                study_day(day, trial.start_date),
                period.number,
                period.arm or BLINDED,
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
                        "arm": (period.arm if trial.unblinded else None) or BLINDED,
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
            resolved = 0  # the dictionary's code for "not resolved": there is no study day 0
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
                    "term": exported_term(event.term, checklist),
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
                    "trial": trial_ids.get(guess.trial_id, NONE),
                    "period": guess.period_number,
                    "guess": guess.guess,
                    "confidence": -1 if guess.confidence is None else guess.confidence,
                    "arm": (guess_period.arm or BLINDED) if guess_period else NONE,
                }
            )
    return rows
