"""axe-core on every page, in every role: patients on a phone, staff on a desktop.

Each role signs in to a copy of the demo clinic (every trial stage, alerts, adverse events) and
visits every page it can reach, forms included in their refused state, and axe-core (the npm
package, injected by axe-playwright-python) must find no violation. The pages are a table of
(role, path, refusal): add a row for a new page.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from e2e.conftest import ARTIFACTS, VIEWPORTS
from integration.api.live import LiveServer
from microtrial.domain.actors import system_actor
from microtrial.http.app import create_app
from microtrial.http.config import ServerSettings
from microtrial.services import admin, alerts, trial_views
from microtrial.services.demo import DEMO_PASSWORD
from microtrial.store.db import Database


@dataclass(frozen=True)
class Refusal:
    """How to put a page's form into its error state: type into fields, press a button.

    The browser's own checks are switched off for that form (``novalidate``) so that the
    server's refusal, drawn beside the field, is what gets checked.
    """

    button: str
    fill: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Visit:
    """A page of a role; ``path`` may name {patient}, {running} or {finished} (ids below)."""

    path: str
    refusal: Refusal | None = None
    download: bool = False  # a file the page offers (a self-contained report), opened as is


# Each role's users and viewport (patients on a phone, staff on a desktop).
ROLES: dict[str, tuple[str, str]] = {
    "patient": ("{patient_user}", "phone"),  # the patient whose trial runs
    "patient_finished": ("{finished_user}", "phone"),  # a patient whose trial has ended
    "clinician": ("dr.demo", "desktop"),
    "unblinded_staff": ("pharmacist.demo", "desktop"),
    "researcher": ("researcher.demo", "desktop"),
    "admin": ("admin.a11y", "desktop"),
}

PAGES: dict[str, tuple[Visit, ...]] = {
    "patient": (
        Visit("/today"),
        Visit("/today", Refusal("Save today's diary")),
        Visit("/questionnaires/phq9"),
        Visit("/questionnaires/phq9", Refusal("Save")),
        Visit("/history"),
        Visit("/diary"),
        Visit("/account"),
        Visit("/account/password"),
        Visit("/account/password", Refusal("Change my password")),
        Visit("/account/reminders"),
    ),
    "patient_finished": (
        Visit("/today"),
        Visit("/history"),
        Visit("/my/trials/{finished}/report.html"),
    ),
    "clinician": (
        Visit("/clinic/patients"),
        Visit("/clinic/patients?q=P00&status=running&alerts=1&size=10"),
        Visit("/clinic/patients/{patient}"),
        Visit("/clinic/patients/{patient}/diary"),
        Visit(
            "/clinic/patients/{patient}", Refusal("Add medication", (("Add a medication", " "),))
        ),
        Visit("/clinic/patients/{patient}", Refusal("Record adverse event")),
        Visit("/clinic/patients/{patient}/history"),
        Visit("/clinic/patients/{patient}/trials/new"),
        Visit(
            "/clinic/patients/{patient}/trials/new",
            Refusal("Plan trial", (("Regimen", "twice_weekly"), ("Amount per dose", "10"))),
        ),
        Visit("/clinic/trials/{running}"),
        Visit("/clinic/trials/{running}", Refusal("Pause")),
        Visit("/clinic/trials/{running}", Refusal("Break the blind")),
        Visit("/clinic/trials/{finished}"),
        Visit("/clinic/trials/{finished}/result"),
        Visit("/clinic/trials/{finished}/report.html"),
        Visit("/clinic/alerts"),
        Visit("/clinic/alerts", Refusal("Acknowledge")),
        Visit("/clinic/enrol"),
        Visit("/clinic/enrol", Refusal("Enrol", (("Study code", "P001"),))),
        Visit("/clinic/trials/999999"),
    ),
    "unblinded_staff": (
        Visit("/pharmacy/kits"),
        Visit("/pharmacy/trials/{running}/kits"),
    ),
    "researcher": (Visit("/research"),),
    "admin": (
        Visit("/admin"),
        Visit("/admin", Refusal("Add user", (("Username", "new.user"),))),
        Visit("/admin", Refusal("Set password", (("New password", "x"),))),
    ),
}


@pytest.fixture(scope="module")
def demo_copy(demo_clinic: Database, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A private copy of the demo clinic's database, with an administrator added."""
    source = Path(str(demo_clinic.engine.url.database))
    target = tmp_path_factory.mktemp("a11y") / "demo.db"
    shutil.copy(source, target)
    url = f"sqlite:///{target}"
    from microtrial.settings import Settings

    db = Database.from_settings(Settings(database_url=url))
    site = admin.list_sites(db, system_actor("test"))[0].code
    admin.add_user(
        db,
        system_actor("test"),
        site_code=site,
        role="admin",
        username=ROLES["admin"][0],
        password=DEMO_PASSWORD,
    )
    db.dispose()
    return url


@pytest.fixture(scope="module")
def demo_server(demo_copy: str) -> Iterator[LiveServer]:
    """The app over the demo copy, on the real clock (the demo is built around today)."""
    with LiveServer(create_app(ServerSettings(database_url=demo_copy, secret_key="a" * 40))) as s:
        yield s


@pytest.fixture(scope="module")
def ids(demo_copy: str) -> dict[str, Any]:
    """The demo objects the paths name: a patient with a running trial, and finished trials."""
    from microtrial.settings import Settings

    db = Database.from_settings(Settings(database_url=demo_copy))
    try:
        doctor = admin.user_actor(db, "dr.demo")
        trials = trial_views.list_trials(db, doctor)
        running = next(t for t in trials if t.status == "running")
        users = [admin.user_actor(db, f"patient{n:02d}") for n in range(1, 13)]
        own = next(u for u in users if u.patient_id == running.patient_id)
        finished = next(t for t in trials if t.status == "unblinded")
        ended = next(u for u in users if u.patient_id == finished.patient_id)
        assert alerts.list_alerts(db, doctor), "the demo has open alerts to acknowledge"
        return {
            "patient": running.patient_id,
            "patient_user": own.username,
            "running": running.id,
            "finished": finished.id,
            "finished_user": ended.username,
        }
    finally:
        db.dispose()


def sign_in(browser: Any, server: LiveServer, username: str, viewport: str) -> tuple[Any, Any]:
    """A browser context on ``viewport``, signed in as ``username`` (its login page checked)."""
    context = browser.new_context(base_url=server.url, **VIEWPORTS[viewport])
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    return context, page


def refuse(page: Any, refusal: Refusal) -> None:
    """Fill the fields, then send the button's form past the browser's checks."""
    button = page.get_by_role("button", name=refusal.button, exact=True).first
    form = button.locator("xpath=ancestor::form[1]")
    form.evaluate(
        "f => { f.noValidate = true; f.querySelectorAll('details').forEach(d => d.open = true); }"
    )
    for label, value in refusal.fill:
        field = form.get_by_label(label).first
        if field.evaluate("e => e.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)
    button.click()
    page.wait_for_load_state()
    assert page.locator('[aria-invalid="true"], .field-error, .error[role=alert]').count(), (
        f"{page.url}: the refusal shows no error"
    )


def report(violations: list[dict[str, Any]]) -> str:
    """axe's violations, one line per rule and element, readable in a test failure."""
    lines = []
    for v in violations:
        lines.append(f"  {v['id']} ({v['impact']}): {v['help']} — {v['helpUrl']}")
        for node in v["nodes"][:5]:
            lines.append(f"      at {', '.join(map(str, node['target']))}: {node['html'][:160]}")
            summary = node.get("failureSummary", "").replace("\n", " ")
            lines.append(f"         {summary[:300]}")
    return "\n".join(lines)


@pytest.mark.parametrize("role", sorted(PAGES))
def test_no_axe_violations(
    browser: Any, demo_server: LiveServer, ids: dict[str, Any], role: str
) -> None:
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()
    username, viewport = ROLES[role][0].format(**ids), ROLES[role][1]
    context, page = sign_in(browser, demo_server, username, viewport)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    found: dict[str, str] = {}
    try:
        checked = [("/login", axe.run(page))] if role in ("patient", "admin") else []
        context.clear_cookies()
        context.close()
        context, page = sign_in(browser, demo_server, username, viewport)
        page.on("pageerror", lambda error: errors.append(str(error)))
        for number, visit in enumerate(PAGES[role]):
            path = visit.path.format(**ids)
            if visit.download:
                answer = page.request.get(path)
                assert answer.ok, f"{path}: {answer.status}"
                page.set_content(answer.text())
            else:
                page.goto(path)
            page.wait_for_load_state("networkidle")
            name = path
            if visit.refusal is not None:
                refuse(page, visit.refusal)
                name = f"{path} refused ({visit.refusal.button})"
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            shot = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"a11y-{role}-{number}-{name}")
            page.screenshot(path=str(ARTIFACTS / f"{shot}.png"), full_page=True)
            checked.append((name, axe.run(page)))
        for name, results in checked:
            violations = results.response["violations"]
            if violations:
                found[name] = report(violations)
    finally:
        context.close()
    assert not errors, errors
    assert not found, f"axe found violations for {role} ({viewport}):\n" + "\n".join(
        f"{name}:\n{text}" for name, text in found.items()
    )
