"""``microtrial analyze | pool | power | blinding`` end to end on files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from microtrial.analysis import RESULT_COLUMNS, simulate_trials
from microtrial.cli import analysis_cmds

runner = CliRunner()
app = typer.Typer()
analysis_cmds.register(app)
PACUTES = (
    Path(__file__).resolve().parents[2].parent
    / "shared"
    / "datasets"
    / "self-blinding-microdose"
    / "pacutes.csv"
)


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def run_json(*args: str) -> Any:
    """The command's JSON on stdout (warnings go to stderr)."""
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def diaries(tmp_path: Path) -> Path:
    sim = simulate_trials(6, rng=np.random.default_rng(5), effect=-1.5, missing=0.1)
    frame = sim.to_frame()
    frame["arm"] = frame["arm"].str.capitalize()
    path = tmp_path / "diaries.csv"
    frame.to_csv(path, index=False)
    return path


def test_analyze_to_csv_and_parquet(diaries: Path, tmp_path: Path) -> None:
    out = tmp_path / "res.csv"
    code, output = run("analyze", str(diaries), "--out", str(out))
    assert code == 0, output
    res = pd.read_csv(out)
    assert list(res.columns[: len(RESULT_COLUMNS)]) == RESULT_COLUMNS
    assert len(res) == 6
    assert (res["effect_mean"] < 0).sum() >= 5
    pq = tmp_path / "res.parquet"
    code, output = run("analyze", str(diaries), "--out", str(pq), "--no-trend", "--mcid", "2")
    assert code == 0, output
    res2 = pd.read_parquet(pq)
    assert (res2["p_mcid"] <= res2["p_benefit"]).all()
    assert not np.allclose(res2["effect_mean"], res["effect_mean"])


def test_analyze_to_stdout_and_higher_is_better(diaries: Path) -> None:
    code, output = run("analyze", str(diaries), "--higher-is-better")
    assert code == 0, output
    lines = output.strip().splitlines()
    assert lines[0].startswith("trial_id,outcome,n_active,n_placebo,effect_mean")
    assert len(lines) == 7


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda f: f.drop(columns="arm"), "missing column 'arm'"),
        (lambda f: f.assign(arm=f["arm"].where(f.index != 9, "Drug")), "row 10, column 'arm'"),
        (
            lambda f: f.assign(value=f["value"].astype(object).where(f.index != 3, "x")),
            "row 4, column 'value'",
        ),
        (lambda f: pd.concat([f, f.iloc[[0]]], ignore_index=True), "column 'day'"),
        (
            lambda f: f[f["trial_id"] != "T000001"].assign(
                arm=lambda g: g["arm"].where(g["trial_id"] != "T000002", "Placebo")
            ),
            "has no active day",
        ),
    ],
)
def test_malformed_input_names_file_row_column(
    diaries: Path,
    tmp_path: Path,
    edit,
    message: str,  # type: ignore[no-untyped-def]
) -> None:
    bad = tmp_path / "bad.csv"
    edit(pd.read_csv(diaries)).to_csv(bad, index=False)
    out = tmp_path / "out.csv"
    code, output = run("analyze", str(bad), "--out", str(out))
    assert code == 2
    assert "bad.csv" in output
    assert message in output
    assert not out.exists()
    assert list(tmp_path.glob(".out.csv*")) == []


def test_unknown_options_and_missing_file(diaries: Path, tmp_path: Path) -> None:
    code, output = run("analyze", str(diaries), "--backend", "cuda")
    assert code == 2
    assert "--backend" in output
    code, output = run("analyze", str(tmp_path / "nope.csv"))
    assert code == 2
    assert "no such file" in output


def test_pool_command(diaries: Path, tmp_path: Path) -> None:
    out = tmp_path / "res.csv"
    assert run("analyze", str(diaries), "--out", str(out))[0] == 0
    res = pd.read_csv(out)
    res["condition"] = ["migraine", "back"] * 3
    res.to_csv(out, index=False)
    rows = run_json("pool", str(out), "--by", "condition")
    assert [r["group"] for r in rows] == ["overall", "back", "migraine"]
    assert rows[0]["n_trials"] == 6
    assert rows[0]["pooled_effect"] < 0


def test_pool_command_says_when_a_pool_is_too_small(diaries: Path, tmp_path: Path) -> None:
    out = tmp_path / "res.csv"
    assert run("analyze", str(diaries), "--out", str(out))[0] == 0
    res = pd.read_csv(out)
    res["condition"] = ["migraine", "back"] * 3
    res.to_csv(out, index=False)
    code, output = run("pool", str(out), "--by", "condition")
    assert code == 0, output
    # three trials per condition: the caveat in words, no prediction interval; six overall: none
    note = "Only 3 trials: too few to estimate a typical effect; read the individual trials."
    assert f"back: {note} (no prediction interval)" in output
    assert f"migraine: {note} (no prediction interval)" in output
    assert "overall:" not in output
    rows = {r["group"]: r for r in run_json("pool", str(out), "--by", "condition")}
    assert rows["back"]["few_trials"] is True
    assert rows["back"]["caveat"] == note
    assert rows["back"]["pi95_low"] is None
    assert rows["overall"]["few_trials"] is False
    assert rows["overall"]["pi95_low"] < rows["overall"]["ci95_low"]
    assert rows["overall"]["tau_scale"] == 1.0


def test_pool_command_takes_the_tau_scale(diaries: Path, tmp_path: Path) -> None:
    out = tmp_path / "res.csv"
    assert run("analyze", str(diaries), "--out", str(out))[0] == 0
    tight = run_json("pool", str(out), "--tau-scale", "0.25")[0]
    wide = run_json("pool", str(out), "--tau-scale", "4")[0]
    assert (tight["tau_scale"], wide["tau_scale"]) == (0.25, 4.0)
    # a tighter prior on the spread between patients gives a smaller tau and a narrower interval
    assert tight["tau_mean"] < wide["tau_mean"]
    assert tight["ci95_high"] - tight["ci95_low"] < wide["ci95_high"] - wide["ci95_low"]
    code, output = run("pool", str(out), "--tau-scale", "0")
    assert code != 0
    assert "--tau-scale: must be a positive number" in output


def test_pool_command_refuses_mixed_outcomes_and_takes_the_direction(
    diaries: Path, tmp_path: Path
) -> None:
    out = tmp_path / "res.csv"
    assert run("analyze", str(diaries), "--out", str(out))[0] == 0
    pain = pd.read_csv(out).assign(outcome="pain")
    sleep = pain.assign(outcome="sleep", effect_mean=-pain["effect_mean"])
    both = tmp_path / "both.csv"
    pd.concat([pain, sleep]).to_csv(both, index=False)
    code, output = run("pool", str(both), "--json")
    assert code == 2
    assert "outcome" in output
    assert "2 different outcomes (pain, sleep)" in output
    assert "--outcome" in output
    code, output = run("pool", str(both), "--outcome", "pain", "--json")
    assert code == 0, output
    pooled_pain = json.loads(output)[0]
    assert pooled_pain["n_trials"] == 6
    assert pooled_pain["pooled_effect"] < 0
    code, output = run("pool", str(both), "--outcome", "sleep", "--higher-is-better", "--json")
    assert code == 0, output
    up = json.loads(output)[0]
    assert up["responder_share_shrunk"] == pytest.approx(pooled_pain["responder_share_shrunk"])
    code, output = run("pool", str(both), "--outcome", "sleep", "--lower-is-better", "--json")
    assert code == 0, output
    assert json.loads(output)[0]["responder_share_shrunk"] == 0.0
    assert pooled_pain["responder_share_shrunk"] > 0.0
    code, output = run("pool", str(both), "--outcome", "mood")
    assert code == 2
    assert "no rows of this outcome" in output


def test_power_command() -> None:
    code, output = run("power", "--effect", "-2", "--sd", "1", "--n-sim", "200", "--json")
    assert code == 0, output
    res = json.loads(output)
    assert res["power"] > 0.9
    assert res["n_sim"] == 200


def test_power_adaptive_simulates_the_rule_against_the_fixed_design() -> None:
    res = run_json("power", "--adaptive", "--effects", "0,-2", "--n-sim", "300", "--max-pairs", "4")
    assert (res["min_pairs"], res["max_pairs"], res["fixed_pairs"]) == (2, 4, 3)
    zero, two, spread = res["rows"]
    assert (zero["effect"], two["effect"]) == ("0", "-2")
    assert zero["p_benefit"] < 0.1 < two["p_benefit"]  # a true -2 is found, 0 rarely
    assert zero["p_futility"] > 0.5
    assert 2 <= two["expected_pairs"] <= 4
    assert two["expected_days"] < two["fixed_days"]  # clear answers stop early
    assert spread["effect"].startswith("spread")
    short = run_json("power", "--adaptive", "--preset", "short", "--effects", "0", "--n-sim", "50")
    assert (short["min_pairs"], short["benefit_threshold"], short["futility_threshold"]) == (
        1,
        0.9,
        0.4,
    )
    code, output = run("power", "--adaptive", "--preset", "quick")
    assert code != 0
    assert "preset" in output
    assert "short" in output
    code, output = run("power", "--adaptive", "--futility-threshold", "0.7")
    assert code == 2
    assert "futility_threshold" in output
    code, output = run("power", "--adaptive", "--effects", "0,big")
    assert code == 2
    assert "effects" in output


def test_blinding_command(tmp_path: Path) -> None:
    path = tmp_path / "guesses.csv"
    pd.DataFrame(
        {
            "trial_id": ["A"] * 4 + ["B"] * 4,
            "period": [1, 2, 3, 4] * 2,
            "arm": ["active", "placebo"] * 4,
            "guess": ["active", "placebo", "active", "active"] + ["dont_know"] * 4,
            "confidence": [3] * 8,
        }
    ).to_csv(path, index=False)
    code, output = run("blinding", str(path), "--json")
    assert code == 0, output
    res = json.loads(output)
    # shares over named guesses (trial B answered only "don't know")
    assert res["arms"]["active"] == {"n": 4, "correct_share": 1.0, "bang_bi": 0.5}
    assert res["arms"]["placebo"] == {"n": 4, "correct_share": 0.5, "bang_bi": 0.0}
    assert res["overall_correct_share"] == 0.75
    assert 0 <= res["james_bi"] <= 1
    code, output = run("blinding")
    assert code == 2


@pytest.mark.skipif(not PACUTES.exists(), reason="shared self-blinding dataset not present")
def test_blinding_from_self_blinding_study() -> None:
    code, output = run("blinding", "--from-self-blinding-study", str(PACUTES), "--json")
    assert code == 0, output
    res = json.loads(output)
    assert res["arms"]["active"]["n"] + res["arms"]["placebo"]["n"] == 1707


def test_cli_constants_match_the_engine() -> None:
    from microtrial import analysis
    from microtrial.analysis import discrete

    assert analysis_cmds.BACKENDS == analysis.BACKENDS
    assert analysis_cmds.OUTCOME_TYPES == analysis.OUTCOME_TYPES
    assert analysis_cmds.SERIAL == discrete.SERIAL


def test_analyze_parquet_input_and_binary_outcome(tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    arm = np.repeat(["active", "placebo", "placebo", "active"], 10)
    frames = [
        pd.DataFrame(
            {
                "trial_id": f"P{i}",
                "day": pd.date_range("2026-03-01", periods=arm.size).strftime("%Y-%m-%d"),
                "arm": arm,
                "value": (rng.random(arm.size) < np.where(arm == "active", 0.2, 0.6)) * 1.0,
                "outcome": "headache",
            }
        )
        for i in range(3)
    ]
    path = tmp_path / "headache.parquet"
    pd.concat(frames, ignore_index=True).to_parquet(path)
    out = tmp_path / "res.csv"
    code, output = run("analyze", str(path), "--outcome-type", "binary", "--out", str(out))
    assert code == 0, output
    res = pd.read_csv(out)
    assert res["outcome"].tolist() == ["headache"] * 3
    assert (res["effect_mean"] < 0).all()
    assert res["difference_mean"].between(-1, 0).all()
    days = tmp_path / "days.csv"
    code, output = run(
        "analyze", str(path), "--outcome-type", "binary", "--serial", "none", "--out", str(days)
    )
    assert code == 0, output
    independent = pd.read_csv(days)
    # Period totals carry less information than independent days: wider, never narrower.
    assert (independent["effect_sd"] < res["effect_sd"]).all()
    code, output = run("analyze", str(path), "--outcome-type", "binary", "--serial", "weekly")
    assert code != 0
    assert "--serial: unknown 'weekly' (allowed: periods, none)" in output


def test_dask_backend_from_the_command_line_matches_numpy(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    rows = []
    for trial in range(6):
        for day in range(28):
            arm = "active" if (day // 7) % 2 == 0 else "placebo"
            rows.append((f"T{trial}", day, arm, 5.0 - (arm == "active") + rng.normal(0, 1)))
    path = tmp_path / "d.csv"
    pd.DataFrame(rows, columns=["trial_id", "day", "arm", "value"]).to_csv(path, index=False)
    outputs = {}
    for backend in ("numpy", "dask"):
        out = tmp_path / f"{backend}.csv"
        code, output = run("analyze", str(path), "--out", str(out), "--backend", backend)
        assert code == 0, output
        outputs[backend] = pd.read_csv(out)
    pd.testing.assert_frame_equal(outputs["numpy"], outputs["dask"], check_exact=False, atol=1e-9)
    code, output = run("analyze", str(path), "--backend", "numpy", "--scheduler", "tcp://x:1")
    assert code != 0
    assert "--scheduler" in output
