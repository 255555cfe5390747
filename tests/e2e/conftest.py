"""Browser tests: Playwright driving Debian's Chromium (headless) against a real Uvicorn server.

Screenshots are kept under ``test-artifacts/e2e/``. Without /usr/bin/chromium the tests skip,
unless MICROTRIAL_REQUIRE_BROWSER=1 makes a missing browser a failure.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers import Clinic, FixedClock
from integration.api.live import PASSWORD, LiveServer
from microtrial.http.app import create_app
from microtrial.http.config import ServerSettings

E2E = Path(__file__).resolve().parent
# MICROTRIAL_CHROMIUM names another Chromium binary (e.g. one unpacked where none is installed).
CHROMIUM = Path(os.environ.get("MICROTRIAL_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORTS: dict[str, dict[str, Any]] = {
    "phone": {
        "viewport": {"width": 390, "height": 844},
        "device_scale_factor": 2,
        "is_mobile": True,
        "has_touch": True,
    },
    "desktop": {"viewport": {"width": 1280, "height": 800}},
}


@pytest.fixture
def database_url(sqlite_template: Path, tmp_path: Path) -> str:
    """Browser tests run on SQLite only (the API tests cover PostgreSQL), to stay quick."""
    path = tmp_path / "e2e.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for the session."""
    if not CHROMIUM.exists():
        message = (
            "browser tests need Debian's Chromium: `apt-get update && apt-get install -y chromium` "
            "(Playwright's own `playwright install` is not used)"
        )
        if os.environ.get("MICROTRIAL_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def server(clinic: Clinic, database_url: str, clock: FixedClock) -> Iterator[LiveServer]:
    """The app on Uvicorn over the clinic's database (SQLite or PostgreSQL), test clock."""
    del clinic  # the clinic's users must exist before anyone signs in
    settings = ServerSettings(database_url=database_url, secret_key="e2e-" + "k" * 40)
    with LiveServer(create_app(settings, clock=clock)) as live:
        yield live


@pytest.fixture(params=sorted(VIEWPORTS))
def viewport(request: pytest.FixtureRequest) -> str:
    """Each browser test runs on a phone and on a desktop viewport."""
    name: str = request.param
    return name


# Visible form controls that have neither a <label> nor an aria-label.
UNLABELLED_CONTROLS = """
Array.from(document.querySelectorAll('input, select, textarea'))
  .filter(e => e.type !== 'hidden')
  .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
  .map(e => e.name || e.id)
"""


class Pages:
    """Open browser pages signed in as clinic users, and keep screenshots."""

    def __init__(self, browser: Any, server: LiveServer, viewport: str, test_name: str) -> None:
        self.browser = browser
        self.server = server
        self.viewport = viewport
        self.prefix = re.sub(r"[^A-Za-z0-9_.-]+", "_", test_name)
        self.contexts: list[Any] = []
        self.errors: list[str] = []

    def open(self, username: str, path: str = "/") -> Any:
        """A fresh browser context signed in as ``username`` through the login form."""
        context = self.browser.new_context(base_url=self.server.url, **VIEWPORTS[self.viewport])
        self.contexts.append(context)
        context.set_default_timeout(10_000)
        context.route(re.compile(r"^(?!http://127\.0\.0\.1:)"), self._refuse_outside)
        page = context.new_page()
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.goto(f"/login?next={path}")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state()
        return page

    def _refuse_outside(self, route: Any) -> None:
        """Nothing may load from outside the test server (no CDN: plotly.js is served locally)."""
        self.errors.append(f"request outside the server: {route.request.url}")
        route.abort()

    def shot(self, page: Any, name: str) -> Path:
        """Check the page's layout and labels, then save a full-page screenshot."""
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= VIEWPORTS[self.viewport]["viewport"]["width"], f"{name}: scrolls sideways"
        unlabelled = page.evaluate(UNLABELLED_CONTROLS)
        assert unlabelled == [], f"{name}: form controls without a label: {unlabelled}"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{self.prefix}-{name}.png"
        where = page.evaluate("[window.scrollX, window.scrollY]")
        page.screenshot(path=str(path), full_page=True)
        # A full-page screenshot can leave Chromium's scroll position out of step with the page
        # (the next click then lands where the page jumps back to): scroll back explicitly.
        page.evaluate("([x, y]) => window.scrollTo(x, y)", where)
        return path

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def pages(
    browser: Any, server: LiveServer, viewport: str, request: pytest.FixtureRequest
) -> Iterator[Pages]:
    """Signed-in browser pages for the test; no JavaScript errors allowed."""
    helper = Pages(browser, server, viewport, request.node.name)
    yield helper
    helper.close()
    assert helper.errors == [], helper.errors


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every browser test is ``slow``: ``pytest -m "not slow"`` leaves them out."""
    for item in items:
        if E2E in item.path.resolve().parents:
            item.add_marker(pytest.mark.slow)
