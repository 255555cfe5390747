"""The catalog commands end to end: screen, score, catalog list/show/validate/check-instrument."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from microtrial.cli import catalog_cmds
from microtrial.domain.catalog import CATALOG_FILES, load_catalog

runner = CliRunner()
app = typer.Typer()
catalog_cmds.register(app)
CLEAN = ["--age", "45", "--bp", "120/80", "--other-history-no"]


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def screen_json(*args: str) -> tuple[int, dict[str, object]]:
    code, output = run("screen", *args, "--json")
    return code, json.loads(output)


def test_screen_lithium_brand_is_do_not_start_exit_4() -> None:
    code, data = screen_json("--substance", "lsd", "--med", "Lithobid 300 mg ER tab", *CLEAN)
    assert code == 4
    assert data["decision"] == "do-not-start"
    findings = data["findings"]
    assert isinstance(findings, list)
    assert findings[0]["code"] == "ix-lithium"
    assert findings[0]["severity"] == "contraindicated"
    keys = {"severity", "code", "title", "rationale", "sources", "matched", "until"}
    assert set(findings[0]) == keys
    assert findings[0]["until"] is None  # only a stopped medication's wash-out has an end


def test_screen_clean_with_gabapentin_exit_0() -> None:
    code, data = screen_json("--substance", "psilocybin", "--med", "gabapentin 300mg", *CLEAN)
    assert code == 0
    assert data["decision"] == "no-known-issues"


@pytest.mark.parametrize(
    ("args", "code", "decision"),
    [
        (["--med", "Zoloft"], 3, "clinician-review"),
        (["--med", "Zyxorin"], 3, "clinician-review"),
        (["--history", "psychotic-disorder"], 4, "do-not-start"),
        (["--history", "bipolar-1"], 4, "do-not-start"),
        (["--pregnant"], 4, "do-not-start"),
    ],
)
def test_screen_exit_codes(args: list[str], code: int, decision: str) -> None:
    got, data = screen_json("--substance", "lsd", *CLEAN, *args)
    assert (got, data["decision"]) == (code, decision)


@pytest.mark.parametrize(
    ("readings", "code", "finding"),
    [
        (["132/90"], 0, None),  # above no threshold
        (["165/95"], 3, "bp-recheck"),  # one occasion: recheck, not yet do-not-start
        (["165/95", "161/91"], 4, "bp-uncontrolled"),  # mean 163/93 > 160/90
        (["141/90", "141/90"], 3, "bp-elevated"),  # mean > 140/90 (systolic)
        (["140/90", "140/90"], 0, None),  # 140/90 is not > 140/90
    ],
)
def test_screen_judges_the_mean_of_repeated_bp_readings(
    readings: list[str], code: int, finding: str | None
) -> None:
    bp = [arg for reading in readings for arg in ("--bp", reading)]
    got, data = screen_json("--substance", "lsd", "--age", "45", "--other-history-no", *bp)
    findings = data["findings"]
    assert isinstance(findings, list)
    assert (got, [f["code"] for f in findings]) == (code, [finding] if finding else [])


def test_screen_condition_limits_headache_timing_rules() -> None:
    _, data = screen_json("--substance", "lsd", "--med", "Zoloft", "--condition", "M79.7", *CLEAN)
    findings = data["findings"]
    assert isinstance(findings, list)
    assert [f["code"] for f in findings] == ["ix-ssri"]
    _, data = screen_json("--substance", "lsd", "--med", "Zoloft", "--condition", "G43.909", *CLEAN)
    findings = data["findings"]
    assert isinstance(findings, list)
    assert [f["code"] for f in findings] == ["ix-ssri", "timing-serotonergic-preventive"]
    code, _ = run("screen", "--substance", "lsd", "--condition", "Z99.9", *CLEAN)
    assert code == 2


def test_screen_without_age_needs_review() -> None:
    code, data = screen_json("--substance", "lsd", "--bp", "120/80", "--other-history-no")
    assert code == 3
    findings = data["findings"]
    assert isinstance(findings, list)
    assert [f["code"] for f in findings] == ["age-unknown"]


def test_screen_without_history_reports_it_unanswered_and_cannot_clear() -> None:
    code, data = screen_json("--substance", "lsd", "--age", "45", "--bp", "120/80")
    assert code == 3
    assert data["decision"] == "clinician-review"
    findings = data["findings"]
    assert isinstance(findings, list)
    unanswered = {f["matched"] for f in findings if f["code"] == "history-unanswered"}
    required = {f for f, flag in load_catalog().history_flags.items() if flag.required}
    assert unanswered == required
    assert "hppd" not in unanswered


def test_screen_history_answers_yes_no_and_unanswered() -> None:
    required = [f for f, flag in load_catalog().history_flags.items() if flag.required]
    no_all = [arg for flag in required for arg in ("--history-no", flag)]
    code, data = screen_json("--substance", "lsd", "--age", "45", "--bp", "120/80", *no_all)
    assert (code, data["decision"]) == (0, "no-known-issues")
    code, data = screen_json("--substance", "lsd", "--age", "45", "--bp", "120/80", *no_all[2:])
    findings = data["findings"]
    assert isinstance(findings, list)
    assert code == 3
    assert [(f["code"], f["matched"]) for f in findings] == [("history-unanswered", required[0])]
    code, output = run(
        "screen",
        "--substance",
        "lsd",
        "--history",
        "bipolar-1",
        "--history-no",
        "bipolar-1",
        *CLEAN,
    )
    assert code == 2
    assert "both yes and no" in output


def test_screen_combined_entry_with_misspelt_lithium_exit_4() -> None:
    code, data = screen_json("--substance", "lsd", "--med", "Vitamin D3 1000 IU + Lithiun", *CLEAN)
    assert (code, data["decision"]) == (4, "do-not-start")
    findings = data["findings"]
    assert isinstance(findings, list)
    assert {"ix-lithium", "medication-spelling"} <= {f["code"] for f in findings}


def test_screen_unrecognised_name_is_in_output() -> None:
    code, output = run("screen", "--substance", "lsd", "--med", "Zyxorin 20 mg", *CLEAN)
    assert code == 3
    assert "Zyxorin 20 mg" in output
    assert "clinician-review" in output


@pytest.mark.parametrize(
    "args",
    [
        ["--substance", "mdma"],
        ["--substance", "lsd", "--history", "epilepsy"],
        ["--substance", "lsd", "--bp", "high"],
        [],
    ],
)
def test_screen_bad_input_exit_2(args: list[str]) -> None:
    code, _ = run("screen", *args)
    assert code == 2


def test_list_history_flags() -> None:
    code, output = run("screen", "--list-history-flags", "--json")
    assert code == 0
    flags = {f["id"]: f["required"] for f in json.loads(output)}
    assert flags["psychotic-disorder"] is True
    assert flags["hppd"] is False
    assert len(flags) == 16


def test_score_phq9_item9_alert() -> None:
    answers = {f"q{i}": 0 for i in range(1, 10)} | {"q9": 1}
    code, output = run("score", "phq9", "--answers", json.dumps(answers), "--json")
    assert code == 0
    data = json.loads(output)
    assert data["scores"]["total"]["value"] == 1
    assert data["scores"]["total"]["band"] == "minimal"
    assert [(a["code"], a["severity"], a["action"]) for a in data["alerts"]] == [
        ("phq9-item9", "urgent", "hold-dosing")
    ]


def test_score_table_output() -> None:
    code, output = run("score", "gad7", "--answers", json.dumps({f"q{i}": 2 for i in range(1, 8)}))
    assert code == 0
    assert "14" in output
    assert "moderate" in output


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ('{"q1": 7}', "gad7.q1: value 7 out of range (allowed: integer 0–3)"),
        ('{"q8": 1}', "gad7.q8: unknown item 'q8'"),
        ("not json", "--answers: not valid JSON"),
    ],
)
def test_score_errors_exit_2(answers: str, message: str) -> None:
    result = runner.invoke(app, ["score", "gad7", "--answers", answers])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())


def test_score_user_definition(tmp_path: Path) -> None:
    definition = tmp_path / "site.yaml"
    definition.write_text(
        "id: site_nrs\nversion: '1'\ntitle: Site NRS\nkind: diary\nrecall: now\n"
        "licence: site\nsources: [design-choice]\n"
        "items: [{id: now, text: Pain now, type: integer, min: 0, max: 10}]\n"
        "missing: {policy: none}\n"
        "scores: [{id: now, title: Now, method: item, items: [now], min: 0, max: 10}]\n"
        "primary_score: now\n",
        encoding="utf-8",
    )
    code, output = run(
        "score", "site_nrs", "--definition", str(definition), "--answers", '{"now": 6}', "--json"
    )
    assert code == 0
    assert json.loads(output)["scores"]["now"]["value"] == 6
    code, output = run("catalog", "check-instrument", str(definition))
    assert code == 0
    assert "site_nrs" in output


def test_check_instrument_rejects_broken_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("id: x\nitems: []\n", encoding="utf-8")
    code, _ = run("catalog", "check-instrument", str(broken))
    assert code == 2


def test_catalog_list_and_show() -> None:
    code, output = run("catalog", "list", "--json")
    assert code == 0
    listing = json.loads(output)
    assert "phq9" in listing["instruments"]
    assert "bpi" in listing["licensed"]
    assert "ix-lithium" in listing["rules"]
    code, output = run("catalog", "show", "G43.909", "--json")
    assert (code, json.loads(output)["id"]) == (0, "migraine-other-unspecified")
    code, output = run("catalog", "show", "Lithobid", "--json")
    assert json.loads(output)["ingredients"] == ["lithium"]
    code, output = run("catalog", "show", "ix-ssri")
    assert code == 0
    assert "Blunting" in output
    code, _ = run("catalog", "show", "no-such-thing")
    assert code == 2


def test_catalog_validate_passes() -> None:
    code, output = run("catalog", "validate")
    assert code == 0
    assert "catalog valid" in output


def copy_catalog(target: Path) -> None:
    root = resources.files("microtrial.catalog")
    for entry in root.iterdir():
        if entry.name.endswith(".yaml"):
            (target / entry.name).write_text(entry.read_text(encoding="utf-8"), encoding="utf-8")


def test_catalog_validate_reports_problems(tmp_path: Path) -> None:
    copy_catalog(tmp_path)
    assert set(CATALOG_FILES) <= {p.name for p in tmp_path.iterdir()}
    assert run("catalog", "validate", "--dir", str(tmp_path))[0] == 0
    conditions = tmp_path / "conditions.yaml"
    conditions.write_text(
        conditions.read_text(encoding="utf-8").replace("code: G50.0", "code: G500"),
        encoding="utf-8",
    )
    code, output = run("catalog", "validate", "--dir", str(tmp_path))
    assert code == 1
    assert "malformed ICD-10-CM code G500" in output


def test_catalog_validate_checks_other_files_too(tmp_path: Path) -> None:
    copy_catalog(tmp_path)
    (tmp_path / "regimens.yaml").write_text("templates: 3\n", encoding="utf-8")
    (tmp_path / "stray.json").write_text("{}", encoding="utf-8")
    code, output = run("catalog", "validate", "--dir", str(tmp_path))
    assert code == 1
    output = " ".join(output.split())
    assert "problem: regimens.yaml:" in output
    assert "stray.json: no validator knows this file" in output


def test_registered_on_the_main_cli() -> None:
    from microtrial.cli.main import app as main_app

    result = runner.invoke(main_app, ["catalog", "validate"])
    assert result.exit_code == 0


def test_catalog_show_reads_a_combined_entry_with_a_misspelling() -> None:
    code, output = run("catalog", "show", "Lexaprro + Zyxorin", "--json")
    assert code == 0
    data = json.loads(output)
    assert data["ingredients"] == ["escitalopram"]
    assert data["did_you_mean"] == {"lexaprro": ["lexapro"]}
    assert data["unrecognised"] == ["zyxorin"]
