"""The researcher's cohort page explains its columns, describes the trials, and its per-group
trial counts can be reproduced from the de-identified export."""

from __future__ import annotations

import io
import re
import zipfile
from collections import Counter
from collections.abc import Iterator

import pandas as pd
import pytest

from integration.api.live import LiveServer
from integration.api.test_pages import sign_in
from microtrial.http.app import create_app
from microtrial.http.config import ServerSettings
from microtrial.services import admin, analysis
from microtrial.services.demo import DEMO_PASSWORD, build_demo
from microtrial.settings import Settings
from microtrial.store.db import Database


@pytest.fixture(scope="module")
def full_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """The clinic `make demo` seeds (24 patients: six per condition group, so groups reach k=5)."""
    out = tmp_path_factory.mktemp("full-demo")
    build_demo(out)
    database = Database.from_settings(Settings(database_url=f"sqlite:///{out / 'demo.db'}"))
    yield database
    database.dispose()


def cells(html: str, caption: str) -> list[list[str]]:
    """The body rows of the table with ``caption``, as cell texts."""
    table = html[html.index(caption) :]
    body = table[table.index("<tbody>") : table.index("</tbody>")]
    return [
        [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row)]
        for row in re.findall(r"<tr>(.*?)</tr>", body, flags=re.S)
    ]


def test_research_page_explains_and_describes_and_matches_the_export(full_demo: Database) -> None:
    url = full_demo.engine.url.render_as_string(hide_password=False)
    settings = ServerSettings(database_url=url, secret_key="d" * 40, export_secret="e" * 40)
    researcher = admin.user_actor(full_demo, "researcher.demo")
    cohort = analysis.cohort_analysis(full_demo, researcher)
    with LiveServer(create_app(settings)) as server:
        client = sign_in(server.url, "researcher.demo", DEMO_PASSWORD)
        page = client.get("/research").text
        export = client.get("/research/export.zip").content
    for raw in ("tau mean", "pi95 low", "ci95 high", "responder share"):
        assert raw not in page, raw  # no raw column names
    for term in ("Between-patient spread (τ)", "95 % prediction interval", "Responders"):
        assert f"<dt>{term}</dt>" in page, term
    described = cells(page, "The trials described")
    overall = described[0]
    assert overall[0] == "overall"
    assert int(overall[1]) == cohort.n_trials > 0
    row = cohort.descriptive.iloc[0]
    taken, planned = int(row["doses_taken"]), int(row["doses_planned"])
    assert overall[2].startswith(f"{taken} of {planned} (")
    # per condition group: the page's trial counts from the export's patients and trials tables
    with zipfile.ZipFile(io.BytesIO(export)) as archive:
        patients = pd.read_csv(archive.open("patients.csv"))
        trials = pd.read_csv(archive.open("trials.csv"))
    released = set(patients["condition"]) - {"*"}
    assert released == {"neuropathic", "migraine", "cluster", "fibromyalgia"}
    unblinded = trials[trials["unblinded"]].merge(patients, on="patient")
    from_export = Counter(unblinded["condition"])
    on_page = {r[0].replace(" ", "_"): int(r[1]) for r in described[1:]}
    for group in released & set(on_page):
        assert on_page[group] == from_export[group], group


def test_research_page_says_when_a_pool_is_too_small(demo_clinic: Database) -> None:
    url = demo_clinic.engine.url.render_as_string(hide_password=False)
    settings = ServerSettings(database_url=url, secret_key="d" * 40, export_secret="e" * 40)
    researcher = admin.user_actor(demo_clinic, "researcher.demo")
    cohort = analysis.cohort_analysis(demo_clinic, researcher)
    assert cohort.pooled is not None
    groups = cohort.pooled.summary().set_index("group")
    # the small demo clinic has both: enough trials overall, a handful per condition group
    assert not groups.loc["overall", "few_trials"]
    assert groups["few_trials"].any()
    with LiveServer(create_app(settings)) as server:
        client = sign_in(server.url, "researcher.demo", DEMO_PASSWORD)
        page = client.get("/research").text
    rows = {r[0]: r for r in cells(page, "Pooled effect on daily pain by condition group")}
    for name, g in groups.iterrows():
        shown = str(name).replace("_", " ")
        n = int(g["n_trials"])
        trials = "1 trial" if n == 1 else f"{n} trials"
        note = f"{shown}: Only {trials}: too few to estimate a typical effect; read the individual"
        if g["few_trials"]:
            assert note in page, name
            assert rows[shown][5] == "not given: too few trials", name
        else:
            assert note not in page, name
            assert rows[shown][5] == f"{g['pi95_low']:.2f} to {g['pi95_high']:.2f}", name


def test_without_an_export_key_the_page_says_the_export_is_not_set_up(
    demo_clinic: Database,
) -> None:
    url = demo_clinic.engine.url.render_as_string(hide_password=False)
    settings = ServerSettings(database_url=url, secret_key="d" * 40)  # no export key
    with LiveServer(create_app(settings)) as server:
        client = sign_in(server.url, "researcher.demo", DEMO_PASSWORD)
        page = client.get("/research").text
        refused = client.get("/research/export.zip")
    assert "not set up on this server yet" in page
    assert 'href="/research/export.zip"' not in page
    assert refused.status_code == 409  # the address itself still answers plainly


def test_the_research_page_offers_the_cohort_report(demo_clinic: Database) -> None:
    url = demo_clinic.engine.url.render_as_string(hide_password=False)
    settings = ServerSettings(database_url=url, secret_key="d" * 40)
    with LiveServer(create_app(settings)) as server:
        client = sign_in(server.url, "researcher.demo", DEMO_PASSWORD)
        page = client.get("/research").text
        assert 'href="/research/report.pdf"' in page
        html = client.get("/research/report.html")
        pdf = client.get("/research/report.pdf")
        doctor = sign_in(server.url, "dr.demo", DEMO_PASSWORD)
        refused = doctor.get("/research/report.html")
    assert html.status_code == 200
    assert html.headers["content-disposition"].startswith("inline")
    assert "Pooled effect" in html.text or "pooled" in html.text.lower()
    assert not re.search(r"\bP\d{3}\b", html.text)  # de-identified: no study codes
    assert pdf.status_code == 200
    assert pdf.content.startswith(b"%PDF")
    assert refused.status_code == 403
