"""Today says where the patient is (issue 15): period and day, the capsule due and its kit (never
the arm), a scheduled trial's start date; the capsule is checked in by typing the kit code or by
scanning the kit label's QR code, and the server refuses a kit that is not the one due."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
import segno
from playwright.sync_api import expect

from e2e.conftest import CHROMIUM, CHROMIUM_ARGS, Pages
from e2e.setup import hand_out, plan_for, running_trial
from e2e.test_patient_today import choose
from helpers import Clinic, FixedClock
from integration.api.live import LiveServer
from microtrial.services import alerts, dosing, trial_lifecycle, trial_views


@pytest.fixture
def viewport() -> str:
    """Patient pages: a 390x844 phone."""
    return "phone"


def axe_violations(page: Any) -> list[str]:
    """axe-core's violations on the page (rule id and the first target of each)."""
    from axe_playwright_python.sync_playwright import Axe

    found = Axe().run(page).response["violations"]
    return [f"{v['id']}: {v['nodes'][0]['target']}" for v in found]


def _calendar(clinic: Clinic, trial_id: int) -> Any:
    return trial_views.trial_calendar(clinic.db, clinic.actors["clinician_sitea"], trial_id)


def test_today_says_period_day_and_the_kit_due(
    pages: Pages, clinic: Clinic, clock: FixedClock
) -> None:
    trial = running_trial(clinic, clock)
    today = _calendar(clinic, trial.id).on(clock.now.date())
    assert today.is_dose_day
    assert today.period == 1
    page = pages.open("p_A-001")
    where = page.locator("#where")
    assert where.locator("#where-now").inner_text() == "Period 1 of 6, day 1 of 14."
    due = where.locator("#capsule-due").inner_text()
    assert "A capsule is due today" in due
    assert f"kit {today.kit_code}" in due
    text = page.inner_text("main").lower()
    assert "active" not in text
    assert "placebo" not in text
    assert axe_violations(page) == []
    pages.shot(page, "today-where")

    # Two days later: no capsule that day (every third day), the next one named with its kit.
    clock.advance(days=1)
    page = pages.open("p_A-001")  # a session ends 12 h after sign-in: sign in again
    assert page.locator("#where-now").inner_text() == "Period 1 of 6, day 2 of 14."
    later = _calendar(clinic, trial.id)
    nxt = next(d for d in later.days if d.date > clock.now.date() and d.is_dose_day)
    due = page.locator("#capsule-due").inner_text()
    assert "No capsule today" in due
    assert f"{nxt.date.day} {nxt.date.strftime('%B %Y')}" in due
    assert nxt.kit_code in due


def test_today_without_a_trial_shows_no_plan(pages: Pages) -> None:
    page = pages.open("p_A-001")
    assert page.locator("#where").count() == 0
    assert "No capsules are due" in page.inner_text("main")
    assert page.locator("script[src='/static/checkin.js']").count() == 0
    assert axe_violations(page) == []


def test_a_scheduled_trial_shows_its_start_date(
    pages: Pages, clinic: Clinic, clock: FixedClock
) -> None:
    today = clock.now
    clock.now = today + dt.timedelta(days=5)
    try:
        trial = plan_for(clinic, clock)
        trial_lifecycle.transition(
            clinic.db, clinic.actors["clinician_sitea"], trial.id, "schedule", clock=clock
        )
    finally:
        clock.now = today
    page = pages.open("p_A-001")
    assert page.locator("#where-now").inner_text() == "Your trial starts on Saturday 7 March 2026."
    where = page.locator("#where").inner_text()
    assert "fill in the diary without capsules" in where
    assert "First capsule: Saturday 14 March 2026" in where
    assert "Trial starts" in where
    # Not running: no capsule to check in, so no check-in controls, only why.
    assert page.get_by_label("Kit code on the capsule pack").count() == 0
    assert "No capsules are due" in page.inner_text("main")
    assert axe_violations(page) == []
    pages.shot(page, "today-scheduled")


def test_typed_kit_code_is_checked_against_the_kit_due(
    pages: Pages, clinic: Clinic, clock: FixedClock
) -> None:
    trial = running_trial(clinic, clock)
    calendar = _calendar(clinic, trial.id)
    due = calendar.on(clock.now.date()).kit_code
    other = next(d for d in calendar.days if d.period == 2).kit_code
    doc = clinic.actors["clinician_sitea"]
    hand_out(clinic, clock, trial.id, str(due))  # the pharmacy handed out period 1's kit
    page = pages.open("p_A-001")

    choose(page, "Average pain", "5")
    choose(page, "Today's capsule", "Taken")
    page.get_by_label("Kit code on the capsule pack").fill("ABC")
    page.get_by_role("button", name="Save today's diary").click()
    alert = page.get_by_role("alert")
    assert "“ABC” is not a kit code" in alert.inner_text()
    assert "kit_code" not in alert.inner_text()
    assert dosing.list_doses(clinic.db, doc, trial.id) == []

    page.get_by_label("Kit code on the capsule pack").fill(other.lower())
    page.get_by_role("button", name="Add to today").click()
    alert = page.get_by_role("alert")
    words = alert.inner_text()
    assert f"Kit {other} is your kit for period 2, not the kit due today." in words
    assert f"Today's capsule comes from kit {due} (period 1)." in words
    assert page.get_by_label("Kit code on the capsule pack").input_value() == other.lower()
    assert dosing.list_doses(clinic.db, doc, trial.id) == []
    assert axe_violations(page) == []
    pages.shot(page, "today-wrong-kit")

    page.get_by_label("Kit code on the capsule pack").fill(due)
    page.get_by_role("button", name="Add to today").click()
    page.get_by_text("Today's diary is saved").wait_for()
    assert page.locator("#capsule-due").inner_text().strip() == (
        "Today's capsule is checked in. Thank you."
    )
    doses = dosing.list_doses(clinic.db, doc, trial.id)
    assert [(d.kit_code, d.deviation) for d in doses] == [(due, None)]
    assert alerts.list_alerts(clinic.db, doc) == []


def test_a_confirmed_wrong_kit_is_recorded_as_a_deviation(
    pages: Pages, clinic: Clinic, clock: FixedClock
) -> None:
    trial = running_trial(clinic, clock)
    other = next(d for d in _calendar(clinic, trial.id).days if d.period == 3).kit_code
    page = pages.open("p_A-001")
    choose(page, "Average pain", "5")
    choose(page, "Today's capsule", "Taken")
    page.get_by_label("Kit code on the capsule pack").fill(other)
    page.get_by_role("button", name="Save today's diary").click()
    page.get_by_label(f"I did take today's capsule from kit {other}").check()
    page.get_by_role("button", name="Add to today").click()
    page.get_by_text("Today's diary is saved").wait_for()
    doc = clinic.actors["clinician_sitea"]
    doses = dosing.list_doses(clinic.db, doc, trial.id)
    assert [(d.kit_code, d.deviation) for d in doses] == [(other, "wrong-kit")]
    # Period 3's kit was never handed out either: the clinician is asked to check that too.
    assert sorted(a.code for a in alerts.list_alerts(clinic.db, doc)) == [
        "kit-not-dispensed",
        "wrong-kit",
    ]


def qr_y4m(text: str, path: Path, *, width: int = 640, height: int = 480) -> Path:
    """A short Y4M video (what Chromium's fake camera plays) showing ``text`` as a QR code."""
    qr = segno.make_qr(text, error="m")
    scale, border = 8, 4
    luma = bytearray(b"\xeb" * (width * height))  # white (video range)
    matrix = list(qr.matrix)
    size = (len(matrix) + 2 * border) * scale
    left, top = (width - size) // 2, (height - size) // 2
    for r, row in enumerate(matrix):
        for c, dark in enumerate(row):
            if dark:
                for dy in range(scale):
                    y = top + (r + border) * scale + dy
                    x = left + (c + border) * scale
                    luma[y * width + x : y * width + x + scale] = b"\x10" * scale
    chroma = b"\x80" * (width * height // 2)
    frame = b"FRAME\n" + bytes(luma) + chroma
    header = f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode()
    path.write_bytes(header + frame * 10)
    return path


@pytest.fixture
def camera_video(clinic: Clinic, clock: FixedClock, tmp_path: Path) -> tuple[int, Path]:
    """A running trial, and a fake-camera video of today's kit label's QR code."""
    trial = running_trial(clinic, clock)
    code = _calendar(clinic, trial.id).on(clock.now.date()).kit_code
    return trial.id, qr_y4m(code, tmp_path / "kit.y4m")


def test_check_in_by_scanning_the_kit_qr_code_with_the_camera(
    browser: Any,
    server: LiveServer,
    clinic: Clinic,
    camera_video: tuple[int, Path],
    request: Any,
) -> None:
    trial_id, video = camera_video
    args = [
        *CHROMIUM_ARGS,
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={video}",
    ]
    # A second Chromium of the session's Playwright, whose camera plays the label's QR code.
    camera = browser.browser_type.launch(executable_path=str(CHROMIUM), headless=True, args=args)
    helper = Pages(camera, server, "phone", request.node.name)
    try:
        page = helper.open("p_A-001")
        page.context.grant_permissions(["camera"])
        choose(page, "Average pain", "3")
        scripts: list[str] = []
        page.on("request", lambda r: scripts.append(r.url) if r.url.endswith(".js") else None)
        page.get_by_role("button", name="Scan the QR code with the camera").click()
        field = page.get_by_label("Kit code on the capsule pack")
        expect(field).to_have_value(re.compile("^[0-9A-Z]{8}$"), timeout=15_000)
        code = field.input_value()
        assert "scanned" in page.locator("#scan-status").inner_text()
        assert page.locator("#scanner").is_hidden()  # the camera is closed again
        assert page.locator("input[name='daily_diary.dose_check_in'][value='taken']").is_checked()
        assert any(u.endswith("/static/vendor/jsQR.js") for u in scripts) or page.evaluate(
            "'BarcodeDetector' in window"
        )
        helper.shot(page, "today-scanned")
        page.get_by_role("button", name="Save today's diary").click()
        page.get_by_text("Today's diary is saved").wait_for()
    finally:
        helper.close()
        camera.close()
    assert helper.errors == []
    doses = dosing.list_doses(clinic.db, clinic.actors["clinician_sitea"], trial_id)
    assert [(d.kit_code, d.deviation) for d in doses] == [(code, None)]


def test_the_page_decoder_reads_a_kit_label_qr_image(
    pages: Pages, clinic: Clinic, clock: FixedClock
) -> None:
    trial = running_trial(clinic, clock)
    code = _calendar(clinic, trial.id).on(clock.now.date()).kit_code
    page = pages.open("p_A-001")
    image = segno.make_qr(code, error="m").png_data_uri(scale=6, border=4)
    got = page.evaluate(
        """async (src) => {
            const img = new Image();
            img.src = src;
            await img.decode();
            return await window.microtrialCheckin.decodeImage(img);
        }""",
        image,
    )
    assert got == code
    assert page.get_by_label("Kit code on the capsule pack").input_value() == code
    assert re.search(f"Kit {code} scanned", page.locator("#scan-status").inner_text())
