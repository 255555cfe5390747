"""The ``export`` and ``import`` commands end to end, on a real database."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow.parquet as pq
import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from microtrial.cli.main import app
from microtrial.interop.fhir import bundle_problems
from microtrial.interop.imported import load_user_instrument
from microtrial.interop.redcap import import_dictionary
from microtrial.settings import Settings
from microtrial.store.db import make_engine

REPO = Path(__file__).resolve().parents[2]
DATASETS = REPO.parent / "shared" / "datasets" / "redcap"


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    folder = tmp_path / "instruments"
    monkeypatch.setenv("MICROTRIAL_INSTRUMENT_DIR", str(folder))
    monkeypatch.setenv("MICROTRIAL_EXPORT_SECRET", "cli-test-secret-0123456789")
    return folder


@pytest.mark.usefixtures("env")
def test_exports_from_the_command_line(database_url: str, tmp_path: Path) -> None:
    url = ("--database-url", database_url)
    assert run("site", "add", "LON1", *url)[0] == 0
    for code in ("P-1", "P-2"):
        assert (
            run(
                "patient",
                "add",
                "--site",
                "LON1",
                "--code",
                code,
                "--birth-year",
                "1970",
                "--sex",
                "male",
                "--tz",
                "Europe/London",
                "--condition",
                "G43.909",
                *url,
            )[0]
            == 0
        )
    # A diary may not be dated before enrolment nor beyond the 7-day window: the patients were
    # enrolled a few days ago, and their diary days are recent.
    engine = make_engine(Settings(database_url=database_url))
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE patients SET created_at = :at"),
            {"at": dt.datetime.now(dt.UTC) - dt.timedelta(days=3)},
        )
    engine.dispose()
    today = dt.datetime.now(ZoneInfo("Europe/London")).date()  # the patients' local date
    days = [(today - dt.timedelta(days=n)).isoformat() for n in (1, 0)]
    for day, pain in zip(days, (4, 6), strict=True):
        assert (
            run(
                "diary",
                "add",
                "--site",
                "LON1",
                "--code",
                "P-1",
                "--date",
                day,
                "--pain",
                str(pain),
                *url,
            )[0]
            == 0
        )

    code, output = run(
        "export", "fhir", "--patient", "P-1", "--out", str(tmp_path / "b.json"), *url
    )
    assert code == 0, output
    bundle = json.loads((tmp_path / "b.json").read_text())
    assert bundle_problems(bundle) == []
    assert sum(e["resource"]["resourceType"] == "Observation" for e in bundle["entry"]) == 2
    code, output = run(
        "export",
        "fhir",
        "--patient",
        "P-1",
        "--site",
        "LON1",
        "--out",
        str(tmp_path / "x.json"),
        *url,
    )
    assert code == 2
    assert "exactly one" in output

    code, output = run(
        "export", "research", "--out", str(tmp_path / "r"), "--format", "parquet", "--k", "2", *url
    )
    assert code == 0, output
    manifest = json.loads((tmp_path / "r" / "manifest.json").read_text())
    assert manifest["tables"]["scores"]["rows"] == 2
    scores = pq.read_table(tmp_path / "r" / "scores.parquet").to_pandas()
    assert sorted(scores["value"]) == [4.0, 6.0]
    assert sorted(scores["study_day"]) == [1, 2]
    code, output = run("export", "research", "--out", str(tmp_path / "r2"), *url)
    assert code == 7  # two patients are fewer than k = 5
    assert "k=5" in output

    code, output = run(
        "export", "redcap-records", "--site", "LON1", "--out", str(tmp_path / "rc.csv"), *url
    )
    assert code == 0, output
    rows = list(csv.DictReader(io.StringIO((tmp_path / "rc.csv").read_text())))
    assert [(r["record_id"], r["redcap_event_name"], r["average_pain"]) for r in rows] == [
        ("LON1-P-1", "day_1_arm_1", "4"),
        ("LON1-P-1", "day_2_arm_1", "6"),
    ]
    assert rows[0]["daily_diary_complete"] == "2"
    events = list(csv.DictReader(io.StringIO((tmp_path / "rc_events.csv").read_text())))
    assert [(e["event_name"], e["unique_event_name"]) for e in events] == [
        ("Day 1", "day_1_arm_1"),
        ("Day 2", "day_2_arm_1"),
    ]
    mapping = (tmp_path / "rc_instrument_event_mapping.csv").read_text().splitlines()
    assert mapping == [
        "arm_num,unique_event_name,form",
        "1,day_1_arm_1,daily_diary",
        "1,day_2_arm_1,daily_diary",
    ]


def test_imports_land_in_the_catalog_listing(tmp_path: Path, env: Path) -> None:
    code, output = run("import", "redcap", str(DATASETS / "validation-types-1.csv"))
    assert code == 0, output
    assert "f_sql" in output
    assert "not supported" in output
    code, output = run(
        "import",
        "redcap",
        str(DATASETS / "longitudinal.csv"),
        "--form",
        "patient_morale_questionnaire",
    )
    assert code == 0, output
    assert (
        run(
            "import",
            "redcap",
            str(DATASETS / "longitudinal.csv"),
            "--form",
            "patient_morale_questionnaire",
        )[0]
        == 7
    )  # exists
    questionnaire = {
        "resourceType": "Questionnaire",
        "name": "mini_q",
        "status": "draft",
        "item": [{"linkId": "ok", "type": "boolean", "text": "OK?"}],
    }
    (tmp_path / "q.json").write_text(json.dumps(questionnaire))
    assert run("import", "questionnaire", str(tmp_path / "q.json"))[0] == 0
    code, output = run("catalog", "list", "--kind", "user", "--json")
    assert code == 0, output
    assert sorted(json.loads(output)["user"]) == [
        "form_1",
        "mini_q",
        "patient_morale_questionnaire",
    ]
    saved = load_user_instrument(env / "patient_morale_questionnaire.yaml")
    code, output = run(
        "export",
        "redcap-dictionary",
        "--instrument",
        "patient_morale_questionnaire",
        "--out",
        str(tmp_path / "dd.csv"),
    )
    assert code == 0, output
    (again,) = import_dictionary((tmp_path / "dd.csv").read_bytes()).instruments
    assert again.same_as(saved)
    code, output = run(
        "score",
        "patient_morale_questionnaire",
        "--definition",
        str(env / "patient_morale_questionnaire.yaml"),
        "--answers",
        '{"pmq1": 1, "pmq2": 3, "pmq3": 1, "pmq4": 2}',
        "--json",
    )
    assert code == 0, output
    assert json.loads(output)["scores"]["total"]["value"] == 7


def test_a_foreign_answer_value_set_is_refused_in_one_line(tmp_path: Path, env: Path) -> None:
    questionnaire = {
        "resourceType": "Questionnaire",
        "name": "vs_q",
        "status": "draft",
        "item": [
            {"linkId": "ok", "type": "boolean", "text": "OK?"},
            {
                "linkId": "mood",
                "type": "choice",
                "text": "Mood",
                "required": True,
                "answerValueSet": "http://loinc.org/vs/LL358-3",
            },
        ],
    }
    (tmp_path / "vs.json").write_text(json.dumps(questionnaire))
    code, output = run("import", "questionnaire", str(tmp_path / "vs.json"))
    assert code != 0
    assert output.strip().splitlines() == [
        "error: item mood: answerValueSet 'http://loinc.org/vs/LL358-3' is not a contained "
        "ValueSet (allowed: '#id' of a ValueSet in the Questionnaire's contained)"
    ]
    assert not (env / "vs_q.yaml").exists()
