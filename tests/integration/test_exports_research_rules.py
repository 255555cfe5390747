"""The research export's rules as pure functions: bands, pseudonyms, study days, k-anonymity."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from microtrial.analysis.blinding import GUESSES
from microtrial.errors import ConflictError, ValidationError
from microtrial.interop.k_anonymity import GENERALISATION_LEVELS, apply_k_anonymity
from microtrial.interop.records import ConditionData, PatientExport
from microtrial.interop.research import (
    age_band,
    build_tables,
    pseudonym,
    research_rows,
    site_key,
    study_day,
)
from microtrial.interop.research_dictionary import (
    ALLOWED_COLUMNS,
    DICTIONARY,
    GUESS_VALUES,
    QUASI_IDENTIFIERS,
)

SECRET = "rules-secret-0123456789"


def test_age_bands_cap_at_90_plus() -> None:
    assert age_band(18) == "18-19"
    assert age_band(29) == "20-29"
    assert age_band(89) == "80-89"
    assert age_band(90) == "90+"
    assert age_band(104) == "90+"


def test_study_days_have_no_day_zero() -> None:
    start = dt.date(2026, 3, 2)
    days = [study_day(start + dt.timedelta(days=d), start) for d in (-2, -1, 0, 1, 13)]
    assert days == [-2, -1, 1, 2, 14]


def test_pseudonyms_are_keyed_per_site_and_stable() -> None:
    a = site_key(SECRET, "SITEA")
    b = site_key(SECRET, "SITEB")
    assert pseudonym(a, "patient", "P-1") == pseudonym(site_key(SECRET, "SITEA"), "patient", "P-1")
    assert pseudonym(a, "patient", "P-1") != pseudonym(b, "patient", "P-1")
    assert pseudonym(a, "patient", "P-1") != pseudonym(
        site_key(SECRET + "x", "SITEA"), "patient", "P-1"
    )
    assert pseudonym(a, "patient", "P-1").startswith("P")
    assert len(pseudonym(a, "patient", "P-1")) == 17
    with pytest.raises(ValidationError, match="MICROTRIAL_EXPORT_SECRET"):
        site_key("", "SITEA")


def frame(rows: list[tuple[str, str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["age_band", "sex", "condition", "site"]).assign(
        patient=[f"P{i}" for i in range(len(rows))], n_trials=0
    )


def level(name: str) -> int:
    """The ladder level whose description starts with ``name``."""
    return next(i for i, text in enumerate(GENERALISATION_LEVELS) if text.startswith(name))


def test_k_anonymity_generalises_step_by_step_or_refuses() -> None:
    same = [("40-49", "female", "migraine", "s1")] * 5
    assert apply_k_anonymity(frame(same), 5).level == 0
    split_sites = [("40-49", "female", "migraine", "s1")] * 3 + [
        ("40-49", "female", "migraine", "s2")
    ] * 2
    result = apply_k_anonymity(frame(split_sites), 5)
    assert (result.level, result.smallest_class) == (level("site suppressed"), 5)
    assert set(result.patients["site"]) == {"*"}
    ages = [("30-39", "female", "migraine", "s1")] * 3 + [("40-49", "female", "migraine", "s1")] * 2
    widened = apply_k_anonymity(frame(ages), 5)
    assert widened.level == level("age in 3 wide bands")
    assert set(widened.patients["age_band"]) == {"18-44"}
    with pytest.raises(ConflictError, match="k=5"):
        apply_k_anonymity(frame(split_sites), 5, "refuse")
    with pytest.raises(ConflictError, match="k=5"):
        apply_k_anonymity(frame(same[:4]), 5)


def test_condition_group_is_kept_longest_and_released_where_it_holds_k() -> None:
    ages = ("20-29", "30-39", "40-49", "50-59", "60-69")
    rows = [(ages[i], "female" if i % 2 else "male", "migraine", f"s{i}") for i in range(5)]
    rows += [(ages[i], "female", "fibromyalgia", "s1") for i in range(3)]
    rows += [(ages[i], "male", "cluster_headache", "s2") for i in range(2)]
    result = apply_k_anonymity(frame(rows), 5)
    assert result.level == level("condition groups with fewer than k patients suppressed")
    released = result.patients["condition"].value_counts().to_dict()
    assert released == {"migraine": 5, "*": 5}  # the two small groups merged, migraine kept
    assert set(result.patients["age_band"]) == {"*"}
    assert set(result.patients["sex"]) == {"*"}
    # two groups of five keep both their names with age and sex suppressed
    even = [(ages[i], "female", "migraine", "s1") for i in range(5)]
    even += [(ages[i], "male", "fibromyalgia", "s2") for i in range(5)]
    both = apply_k_anonymity(frame(even), 5)
    assert both.level == level("age suppressed")
    assert set(both.patients["condition"]) == {"migraine", "fibromyalgia"}


def test_allow_list_rejects_any_other_column() -> None:
    rows = {
        "patients": [
            {
                "patient": "P1",
                "site": "S",
                "age_band": "40-49",
                "sex": "male",
                "condition": "migraine",
                "n_trials": 0,
                "study_code": "X",
            }
        ]
    }
    with pytest.raises(ValidationError, match=r"patients\.study_code"):
        build_tables(rows, k=2)


def test_ninety_plus_patients_leave_only_as_90_plus() -> None:
    people = [
        PatientExport(
            id=i,
            site_code="S1",
            study_code=f"OLD-{i}",
            birth_year=1930 + i % 3,
            sex="male",
            time_zone="UTC",
            enrolled_on=dt.date(2026, 1, 5),
            conditions=(ConditionData(f"r{i}", "G43.909", "active"),),
        )
        for i in range(5)
    ]
    tables = build_tables(research_rows(people, SECRET, {"G43.909": "migraine"}), k=5)
    patients = tables.tables["patients"]
    assert tables.generalisation_level == 0
    assert set(patients["age_band"]) == {"90+"}
    assert set(patients["condition"]) == {"migraine"}
    text = patients.to_csv(index=False)
    for year in ("1930", "1931", "1932", "OLD-"):
        assert year not in text


def cohort(regimens: list[list[str]]) -> dict[str, list[dict[str, object]]]:
    """Patients alike in site, age, sex and condition; patient i ran one trial per regimen."""
    rows: dict[str, list[dict[str, object]]] = {"patients": [], "trials": [], "periods": []}
    rows["scores"] = []
    for i, taken in enumerate(regimens):
        rows["patients"].append(
            {
                "patient": f"P{i}",
                "site": "S1",
                "age_band": "40-49",
                "sex": "female",
                "condition": "migraine",
                "n_trials": len(taken),
            }
        )
        for j, regimen in enumerate(taken):
            trial = f"T{i}-{j}"
            rows["trials"].append(
                {
                    "trial": trial,
                    "patient": f"P{i}",
                    "status": "unblinded",
                    "substance": "psilocybin",
                    "regimen": regimen,
                    "run_in_days": 7,
                    "period_days": 14,
                    "wash_in_days": 3,
                    "n_periods": 2,
                    "unblinded": True,
                    "unblinded_early": False,
                }
            )
            rows["periods"].append(
                {
                    "trial": trial,
                    "period": 1,
                    "block": 1,
                    "start_day": 8,
                    "end_day": 21,
                    "wash_in_days": 3,
                    "arm": "active",
                }
            )
            rows["scores"].append(
                {
                    "patient": f"P{i}",
                    "trial": trial,
                    "study_day": 9,
                    "period": 1,
                    "arm": "active",
                    "instrument": "daily_diary",
                    "score": "average_pain",
                    "value": 4.0,
                }
            )
    return rows


def test_a_rare_regimen_no_longer_singles_out_its_patient() -> None:
    """Regimen was released unchecked; one patient alone on a regimen was singled out by it."""
    rows = cohort([["fadiman"]] * 5 + [["rare_protocol"]])
    # the columns the old check covered put all six patients in one class ...
    old = pd.DataFrame(rows["patients"])[["site", "age_band", "sex", "condition"]]
    assert old.value_counts().min() == 6
    # ... but the regimen alone picks out patient P5
    assert (pd.DataFrame(rows["trials"])["regimen"] == "rare_protocol").sum() == 1
    tables = build_tables(rows, k=5)
    assert GENERALISATION_LEVELS[tables.generalisation_level] == "regimen suppressed"
    assert set(tables.tables["trials"]["regimen"]) == {"*"}
    assert set(tables.tables["trials"]["substance"]) == {"psilocybin"}  # held by all six
    assert tables.withheld_patients == 0
    assert len(tables.tables["patients"]) == 6
    manifest = tables.manifest("csv")
    regimen = next(f for f in manifest["tables"]["trials"]["fields"] if f["name"] == "regimen")
    assert regimen["quasi_identifier"] is True
    assert "regimen" in manifest["rules"]["k_anonymity"]["checked_per_patient_over"]


def test_a_rare_number_of_trials_withholds_its_patient() -> None:
    """n_trials was released unchecked; the only patient with two trials was singled out."""
    rows = cohort([["fadiman"]] * 5 + [["fadiman", "fadiman"]])
    tables = build_tables(rows, k=5)
    assert GENERALISATION_LEVELS[tables.generalisation_level].startswith("fewer than k patients")
    assert tables.withheld_patients == 1
    frames = tables.tables
    # withholding the one outlier keeps the condition group, the research variable
    assert set(frames["patients"]["condition"]) == {"migraine"}
    assert list(frames["patients"]["n_trials"]) == [1] * 5
    for name in ("patients", "trials", "scores"):
        assert "P5" not in set(frames[name]["patient"]), name
    assert not frames["periods"]["trial"].str.startswith("T5-").any()
    assert len(frames["periods"]) == 5
    # the same cohort with one patient fewer cannot keep k=5 patients: refused, not leaked
    with pytest.raises(ConflictError, match="k=5"):
        build_tables(cohort([["fadiman"]] * 4 + [["fadiman", "fadiman"]]), k=5)


def test_every_column_is_in_the_dictionary_with_a_type() -> None:
    for table, columns in ALLOWED_COLUMNS.items():
        for column in columns:
            entry = DICTIONARY[table][column].entry(column)
            assert entry["type"] in {"integer", "number", "string", "date", "boolean"}
            assert entry["description"]
    assert QUASI_IDENTIFIERS["patients"] == ("site", "age_band", "sex", "condition", "n_trials")
    assert QUASI_IDENTIFIERS["trials"] == ("substance", "regimen")


def test_every_age_band_is_an_allowed_value() -> None:
    allowed = DICTIONARY["patients"]["age_band"].allowed or ()
    assert {age_band(age) for age in range(120)} <= set(allowed)
    assert set(allowed) >= {"18-44", "45-89", "*"}  # the ladder's wide bands and suppression


def test_the_dictionary_allows_every_guess_the_analysis_knows() -> None:
    assert GUESS_VALUES == GUESSES
