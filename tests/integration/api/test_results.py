"""Results through the real server, on the demo clinic (every trial stage, 13 weeks of data):
a trial's result only after unblinding; the cohort and its export without identifiers."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator

import httpx
import pytest

from integration.api.live import LiveServer
from microtrial.http.app import create_app
from microtrial.http.config import ServerSettings
from microtrial.services.demo import DEMO_PASSWORD
from microtrial.store.db import Database

STUDY_CODE = re.compile(r"\bP\d{3}\b")


@pytest.fixture
def demo_api(demo_clinic: Database) -> Iterator[httpx.Client]:
    """The API of a server over the (read-only) demo clinic."""
    url = demo_clinic.engine.url.render_as_string(hide_password=False)
    settings = ServerSettings(database_url=url, secret_key="d" * 40, export_secret="e" * 40)
    with (
        LiveServer(create_app(settings)) as server,
        httpx.Client(base_url=f"{server.url}/api/v1", timeout=60) as client,
    ):
        yield client


def bearer(api: httpx.Client, username: str) -> dict[str, str]:
    answer = api.post("/auth/token", data={"username": username, "password": DEMO_PASSWORD})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def trials_by_status(api: httpx.Client, headers: dict[str, str]) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for patient in api.get("/patients", params={"limit": 100}, headers=headers).json()["items"]:
        for trial in api.get(f"/patients/{patient['id']}/trials", headers=headers).json()["items"]:
            found.setdefault(trial["status"], []).append(trial["id"])
    return found


def test_a_result_only_after_unblinding(demo_api: httpx.Client) -> None:
    doctor = bearer(demo_api, "dr.demo")
    stages = trials_by_status(demo_api, doctor)
    result = demo_api.get(f"/trials/{stages['unblinded'][0]}/result", headers=doctor)
    assert result.status_code == 200, result.text
    body = result.json()
    pain = [r for r in body["results"] if r["outcome"] == "pain"]
    assert len(pain) == 1
    assert pain[0]["ci95_low"] < pain[0]["effect_mean"] < pain[0]["ci95_high"]
    assert 0 <= pain[0]["p_benefit"] <= 1
    assert {p["arm"] for p in body["period_means"]} == {"active", "placebo"}
    blinded = demo_api.get(f"/trials/{stages['running'][0]}/result", headers=doctor)
    assert blinded.status_code == 409
    assert "blinded" in blinded.json()["detail"]


def test_the_cohort_and_its_export_carry_no_identifiers(demo_api: httpx.Client) -> None:
    researcher = bearer(demo_api, "researcher.demo")
    cohort = demo_api.get("/cohort", headers=researcher)
    assert cohort.status_code == 200, cohort.text
    assert cohort.json()["n_trials"] >= 2
    assert {r["trial_id"] for r in cohort.json()["results"]} <= {
        f"trial-{i:03d}" for i in range(1, 100)
    }
    assert not STUDY_CODE.search(cohort.text)
    export = demo_api.get("/cohort/export", headers=researcher)
    assert export.status_code == 200
    assert export.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(export.content)) as archive:
        names = archive.namelist()
        assert "manifest.json" in names
        text = "".join(archive.read(n).decode() for n in names)
    assert any(n.endswith(".csv") for n in names)
    assert not STUDY_CODE.search(text)
    assert "DEMO" not in text  # the site code
    doctor = bearer(demo_api, "dr.demo")
    assert demo_api.get("/cohort/export", headers=doctor).status_code == 403
