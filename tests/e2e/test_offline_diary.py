"""The patient's app installs and works offline (issue 21): the manifest and service worker pass
Chromium's installability check; Today's diary (side effects, blood pressure, capsule check-in),
the mood and anxiety questionnaires, the period guess and the headache-attack log filled in
offline wait on the phone, are sent when the connection returns, land exactly once, and raise
their alerts (BP 210/125: the hold shows at once)."""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from e2e.conftest import CHROMIUM, CHROMIUM_ARGS, VIEWPORTS, Pages
from e2e.setup import running_trial
from helpers import Clinic, FixedClock
from integration.api.live import PASSWORD, LiveServer
from microtrial.domain.regimens import guess_opens_on
from microtrial.services import alerts, attacks, dosing, records, trial_views

PHONE = pytest.mark.parametrize("viewport", ["phone"], indirect=True)
CACHED = """async () => {
  const out = [];
  for (const name of await caches.keys()) {
    const cache = await caches.open(name);
    for (const request of await cache.keys()) out.push(new URL(request.url).pathname);
  }
  return out;
}"""
KEPT = """() => new Promise((resolve, reject) => {
  const open = indexedDB.open("microtrial-outbox", 1);
  open.onsuccess = () => {
    const get = open.result.transaction("items").objectStore("items").getAll();
    get.onsuccess = () => resolve(get.result.map(i => [i.status, i.action, i.local_date]));
    get.onerror = () => reject(get.error);
  };
  open.onerror = () => reject(open.error);
})"""
RESEND = """() => new Promise((resolve, reject) => {
  const open = indexedDB.open("microtrial-outbox", 1);
  open.onsuccess = () => {
    const tx = open.result.transaction("items", "readwrite");
    const store = tx.objectStore("items");
    const get = store.getAll();
    get.onsuccess = () => get.result.forEach(i => { i.status = "waiting"; store.put(i); });
    tx.oncomplete = () => resolve(get.result.length);
    tx.onerror = () => reject(tx.error);
  };
})"""


def choose(page: Any, group: str, value: str) -> None:
    """Pick ``value`` in the radio group whose legend starts with ``group``."""
    fieldset = page.get_by_role("group", name=re.compile(f"^{re.escape(group)}"))
    fieldset.get_by_text(value, exact=True).click()


def until(page: Any, condition: str) -> None:
    """Wait (at most 10 s) until the JavaScript ``condition`` holds (wait_for_function would
    evaluate a string, which the pages' Content-Security-Policy forbids)."""
    held = page.evaluate(
        "async () => { for (let i = 0; i < 100; i++) {"
        f" if (await ({condition})) return true;"
        " await new Promise(r => setTimeout(r, 100)); } return false; }"
    )
    assert held, condition


def controlled(page: Any) -> None:
    """Wait until the service worker is active, then load the page again under it."""
    until(page, "navigator.serviceWorker.getRegistration().then(r => !!(r && r.active))")
    page.reload()
    until(page, "navigator.serviceWorker.controller !== null")


@pytest.fixture
def installed(browser: Any, server: LiveServer, tmp_path: Path) -> Iterator[Any]:
    """A phone browser with a profile on disk: Chromium never offers to install an app in a
    private (incognito) window, which is what Playwright's ordinary contexts are."""
    context = browser.browser_type.launch_persistent_context(
        str(tmp_path / "profile"),
        executable_path=str(CHROMIUM),
        headless=True,
        args=CHROMIUM_ARGS,
        base_url=server.url,
        **VIEWPORTS["phone"],
    )
    context.set_default_timeout(10_000)
    errors: list[str] = []
    page = context.pages[0] if context.pages else context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto("/login?next=/today")
    page.get_by_label("Username").fill("p_A-001")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    yield page
    context.close()
    assert errors == []


def test_the_patient_app_installs(installed: Any, clinic: Clinic, clock: FixedClock) -> None:
    running_trial(clinic, clock)
    page = installed
    page.reload()
    controlled(page)
    response = page.request.get("/manifest.webmanifest")
    assert response.headers["content-type"] == "application/manifest+json"
    manifest = response.json()
    assert manifest["display"] == "standalone"
    assert manifest["start_url"] == "/today"
    sizes = {(i["sizes"], i["purpose"]) for i in manifest["icons"]}
    assert {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")} <= sizes
    for icon in manifest["icons"]:
        image = Image.open(io.BytesIO(page.request.get(icon["src"]).body()))
        assert f"{image.width}x{image.height}" == icon["sizes"]
    touch = page.locator('link[rel="apple-touch-icon"]').get_attribute("href")
    assert page.request.get(touch).ok
    cdp = page.context.new_cdp_session(page)
    assert cdp.send("Page.getInstallabilityErrors")["installabilityErrors"] == []
    assert cdp.send("Page.getAppManifest")["errors"] == []
    csp = page.request.get("/today").headers["content-security-policy"]
    assert "worker-src 'self'" in csp
    assert "script-src 'self';" in csp
    # The worker keeps static files and the patient's own form pages only: no clinic page, no
    # API answer, no history (nothing that could carry an arm or another patient).
    forms = {"/today", "/questionnaires/phq9", "/questionnaires/gad7", "/attacks"}
    for path in (*forms, "/history", "/diary", "/account/reminders"):
        page.goto(path)
    kept = set(page.evaluate(CACHED))
    assert forms | {"/static/app.js", "/static/offline.html"} <= kept
    assert all(p.startswith("/static/") or p in forms for p in kept)
    # Signing out forgets the pages.
    page.goto("/today")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile("/login"))
    assert not forms & set(page.evaluate(CACHED))


@PHONE
def test_offline_diary_and_check_in_land_once_with_their_alerts(
    pages: Pages, clinic: Clinic, clock: FixedClock
) -> None:
    trial = running_trial(clinic, clock)
    doc = clinic.actors["clinician_sitea"]
    pid = clinic.patients["A-001"].id
    plan = trial_views.trial_calendar(clinic.db, doc, trial.id)
    today = plan.on(clock.now.date())
    assert today is not None
    assert today.is_dose_day
    page = pages.open("p_A-001", "/questionnaires/phq9")
    controlled(page)
    page.goto("/today")
    page.context.set_offline(True)

    # A page the phone keeps no copy of says it needs a connection.
    page.goto("/history")
    page.get_by_role("heading", name="You are offline").wait_for()
    pages.shot(page, "offline-page")
    # The mood questionnaire, offline (from the phone's copy of the page).
    page.goto("/questionnaires/phq9")
    for i in range(1, 10):
        page.locator(f"input[name='phq9.q{i}'][value='{1 if i == 1 else 0}']").check()
    page.get_by_role("button", name=re.compile("^Save")).click()
    page.locator("#outbox li.waiting").wait_for()
    assert "You are offline" in page.locator("#outbox").inner_text()

    page.goto("/today")
    choose(page, "Average pain", "5")
    choose(page, "Worst pain", "7")
    choose(page, "How would you rate last night", "6")
    choose(page, "Today's capsule", "Taken")
    page.get_by_label("Kit code on the capsule pack").fill(today.kit_code or "")
    page.locator("summary", has_text="Side effects today").click()
    page.get_by_label(re.compile("^Headache")).select_option("1")
    page.locator("summary", has_text="Blood pressure").click()
    page.get_by_label("Systolic blood pressure (mmHg)").fill("210")
    page.get_by_label("Diastolic blood pressure (mmHg)").fill("125")
    page.get_by_role("button", name="Save today's diary").click()
    outbox = page.locator("#outbox")
    page.locator("#outbox li.waiting").nth(1).wait_for()
    text = outbox.inner_text()
    assert "Waiting to be sent: Today's diary for Monday 2 March 2026" in text
    assert "Waiting to be sent: Mood questionnaire for Monday 2 March 2026" in text
    pages.shot(page, "offline-waiting")
    assert records.list_diary_entries(clinic.db, doc, pid) == []
    assert dosing.list_doses(clinic.db, doc, trial.id) == []

    page.context.set_offline(False)
    page.locator("#hold-notice").wait_for()
    assert "Do not take a capsule" in page.locator("#hold-notice").inner_text()
    page.locator("#outbox li.sent").nth(1).wait_for()
    assert page.locator("#outbox li.waiting").count() == 0
    assert "Sent: Today's diary for Monday 2 March 2026" in page.locator("#outbox").inner_text()
    pages.shot(page, "offline-sent")

    # Sending everything again (a retry after a lost answer) stores nothing twice.
    assert page.evaluate(RESEND) == 2
    with page.expect_navigation():  # sent again, Today is loaded again
        page.evaluate("window.dispatchEvent(new Event('online'))")
    page.locator("#outbox li.sent").nth(1).wait_for()
    assert page.locator("#outbox li.waiting").count() == 0
    assert sorted(s for s, _, _ in page.evaluate(KEPT)) == ["sent", "sent"]
    stored = records.list_diary_entries(clinic.db, doc, pid)
    assert sorted(e.instrument_id for e in stored) == [
        "ae_checklist",
        "daily_diary",
        "home_bp",
        "phq9",
    ]
    assert {e.local_date for e in stored} == {clock.now.date()}
    doses = dosing.list_doses(clinic.db, doc, trial.id)
    assert len(doses) == 1
    assert doses[0].local_date == clock.now.date()
    codes = {a.code for a in alerts.list_alerts(clinic.db, doc)}
    assert "bp-crisis" in codes


@PHONE
def test_offline_guess_anxiety_and_attack_land_once(
    pages: Pages, clinic: Clinic, clock: FixedClock
) -> None:
    trial = running_trial(clinic, clock)
    doc = clinic.actors["clinician_sitea"]
    pid = clinic.patients["A-001"].id
    period = trial_views.get_trial(clinic.db, doc, trial.id).periods[0]
    clock.now = dt.datetime.combine(guess_opens_on(period.end_date), clock.now.timetz())
    day = clock.now.date()
    page = pages.open("p_A-001", "/attacks")
    controlled(page)
    page.goto("/questionnaires/gad7")
    page.goto("/today")
    page.get_by_role("heading", name=re.compile("^Period 1 is ending")).wait_for()
    page.context.set_offline(True)

    # The period guess, offline, on the phone's copy of Today.
    page.reload()
    choose(page, "My guess for period 1", "The placebo capsules")
    page.get_by_label(re.compile("^How sure are you")).fill("70")
    page.get_by_role("button", name="Save my guess").click()
    page.locator("#outbox li.waiting").wait_for()
    pages.shot(page, "offline-guess-waiting")
    # The anxiety questionnaire, offline (from the phone's copy of the page).
    page.goto("/questionnaires/gad7")
    for i in range(1, 8):
        page.locator(f"input[name='gad7.q{i}'][value='1']").check()
    page.get_by_role("button", name=re.compile("^Save")).click()
    page.locator("#outbox li.waiting").nth(1).wait_for()
    # The headache-attack log, offline (from the phone's copy of the page).
    page.goto("/attacks")
    page.get_by_label("When did it start?").fill(f"{day.isoformat()}T07:30")
    page.get_by_label("When did it end?").fill(f"{day.isoformat()}T08:45")
    page.get_by_label("2 – Moderate").check()
    page.get_by_role("button", name="Save this attack").click()
    page.locator("#outbox li.waiting").nth(2).wait_for()
    text = page.locator("#outbox").inner_text()
    long_day = f"{day:%A} {day.day} {day:%B %Y}"
    assert f"Waiting to be sent: My guess for {long_day}" in text
    assert f"Waiting to be sent: Anxiety questionnaire for {long_day}" in text
    assert f"Waiting to be sent: Headache attack for {long_day}" in text
    assert "You are offline" in text
    pages.shot(page, "offline-attack-waiting")
    assert dosing.list_guesses(clinic.db, doc, trial.id) == []
    assert attacks.list_attacks(clinic.db, doc, pid) == []
    assert records.list_diary_entries(clinic.db, doc, pid) == []

    page.context.set_offline(False)
    page.locator("#outbox li.sent").nth(2).wait_for()
    assert page.locator("#outbox li.waiting").count() == 0
    assert f"Sent: Headache attack for {long_day}" in page.locator("#outbox").inner_text()
    latest = page.get_by_role("table", name="My latest attacks").locator("tbody tr").first
    latest.filter(has_text="2 – Moderate").wait_for()  # the page's list, brought up to date
    pages.shot(page, "offline-attack-sent")

    # Sending all again (a retry after a lost answer) stores nothing twice.
    assert page.evaluate(RESEND) == 3
    page.evaluate("window.dispatchEvent(new Event('online'))")
    until(page, f"({KEPT})().then(items => items.every(i => i[0] === 'sent'))")
    page.locator("#outbox li.sent").nth(2).wait_for()
    assert page.locator("#outbox li.problem").count() == 0
    guesses = dosing.list_guesses(clinic.db, doc, trial.id)
    assert [(g.period, g.guess, g.confidence) for g in guesses] == [(1, "placebo", 70)]
    assert [(a.severity, a.local_date) for a in attacks.list_attacks(clinic.db, doc, pid)] == [
        (2, day)
    ]
    # GAD-7 (no alert rule in alerts.yaml) stored once; the attack also wrote its day's diary.
    stored = records.list_diary_entries(clinic.db, doc, pid)
    assert sorted(e.instrument_id for e in stored) == ["gad7", "migraine_diary"]
    anxiety = next(e for e in stored if e.instrument_id == "gad7")
    assert (anxiety.local_date, anxiety.answers["q1"]) == (day, 1)
    page.goto("/today")
    assert page.locator("form[action='/guess']").count() == 0  # the guess is in
