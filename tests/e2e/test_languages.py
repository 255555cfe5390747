"""A German-speaking patient on a phone (issue 21): the browser's language picks German before
sign-in, Today speaks German after it, the page fits the phone and axe finds nothing."""

from __future__ import annotations

import re
from typing import Any

from e2e.conftest import ARTIFACTS, VIEWPORTS
from e2e.setup import running_trial
from helpers import Clinic, FixedClock
from integration.api.live import PASSWORD, LiveServer

PHONE = {**VIEWPORTS["phone"], "viewport": {"width": 390, "height": 844}}


def test_today_in_german_on_a_phone(
    browser: Any, server: LiveServer, clinic: Clinic, clock: FixedClock
) -> None:
    from axe_playwright_python.sync_playwright import Axe

    running_trial(clinic, clock)
    context = browser.new_context(base_url=server.url, locale="de-DE", **PHONE)
    errors: list[str] = []
    try:
        context.set_default_timeout(10_000)
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto("/login?next=/today")
        assert page.locator("html").get_attribute("lang") == "de"
        page.get_by_label("Benutzername").fill("p_A-001")
        page.get_by_label("Passwort").fill(PASSWORD)
        page.get_by_role("button", name="Anmelden").click()
        page.get_by_role("heading", name=re.compile("^Heute, Montag, 2. März 2026")).wait_for()
        assert page.locator("html").get_attribute("lang") == "de"
        assert "MicroTrial ersetzt nicht Ihre Ärztin oder Ihren Arzt." in page.inner_text("footer")
        page.get_by_role("heading", name="Schmerzen und Schlaf").wait_for()
        page.get_by_role("button", name="Heutiges Tagebuch speichern").wait_for()
        legend = page.get_by_role("group", name=re.compile("^Durchschnittliche Schmerzen"))
        assert legend.count() == 1
        assert "Save today's diary" not in page.content()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"Today in German scrolls sideways ({width} px)"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "languages-today-de-phone.png"), full_page=True)
        violations = Axe().run(page).response["violations"]
        assert violations == [], [v["id"] for v in violations]
        # the outbox script reads its words from the page: German too
        words = page.evaluate("JSON.parse(document.getElementById('mt-words').textContent)")
        assert words["heading"] == "Auf diesem Telefon gespeichert"
    finally:
        context.close()
    assert errors == [], errors
