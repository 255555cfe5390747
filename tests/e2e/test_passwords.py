"""Passwords in the browser: change one's own; reset by an e-mailed link (a real aiosmtpd
server); without e-mail, the page says to ask the clinic, and the clinician sets a new one."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from axe_playwright_python.sync_playwright import Axe

from e2e.conftest import VIEWPORTS, Pages
from helpers import Clinic, FixedClock
from integration.api.live import PASSWORD, LiveServer
from microtrial.domain.actors import system_actor
from microtrial.http.app import create_app
from microtrial.http.config import ServerSettings
from microtrial.services import admin, auth

NEW = "purple elephant umbrella"


def no_axe_violations(page: Any) -> None:
    """axe-core finds nothing wrong on the page."""
    results = Axe().run(page)
    assert results.violations_count == 0, results.generate_report()


class Inbox:
    """An aiosmtpd handler that keeps every message it receives."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, _server: object, _session: object, envelope: object) -> str:
        self.messages.append(message_from_bytes(envelope.content))  # type: ignore[attr-defined]
        return "250 OK"


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    """A local SMTP server and its port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, port
    controller.stop()


def signs_in(clinic: Clinic, username: str, password: str) -> bool:
    return auth.authenticate(clinic.db, username, password) is not None


@pytest.mark.parametrize("viewport", ["phone"], indirect=True)
def test_patient_changes_their_password(pages: Pages, clinic: Clinic) -> None:
    page = pages.open("p_A-001", "/today")
    page.get_by_role("link", name="Password").click()
    page.get_by_role("heading", name="Change my password").wait_for()
    page.get_by_label("Current password").fill("wrong password")
    page.get_by_label("New password", exact=True).fill(NEW)
    page.get_by_label("New password again").fill(NEW)
    page.get_by_role("button", name="Change my password").click()
    current = page.get_by_label("Current password")
    assert current.get_attribute("aria-invalid") == "true"
    assert "Current password: this is not the password you sign in with" in page.inner_text("main")
    assert "current_password" not in page.inner_text("main")
    no_axe_violations(page)
    pages.shot(page, "password-refused")
    current.fill(PASSWORD)
    page.get_by_label("New password", exact=True).fill(NEW)
    page.get_by_label("New password again").fill(NEW)
    page.get_by_role("button", name="Change my password").click()
    page.get_by_text("Your password is changed.").wait_for()
    no_axe_violations(page)
    pages.shot(page, "password-changed")
    assert signs_in(clinic, "p_A-001", NEW)
    assert not signs_in(clinic, "p_A-001", PASSWORD)


@pytest.mark.parametrize("viewport", ["phone"], indirect=True)
def test_without_email_the_patient_is_told_to_ask_the_clinic_who_sets_one(
    pages: Pages, clinic: Clinic
) -> None:
    context = pages.browser.new_context(base_url=pages.server.url, **VIEWPORTS["phone"])
    pages.contexts.append(context)
    anonymous = context.new_page()
    anonymous.goto("/login")
    anonymous.get_by_role("link", name="Forgotten your password?").click()
    assert "ask your clinic" in anonymous.inner_text("main")
    no_axe_violations(anonymous)
    pages.shot(anonymous, "forgot-no-email")
    pages.viewport = "desktop"
    pid = clinic.patients["A-001"].id
    page = pages.open("clinician_sitea", f"/clinic/patients/{pid}")
    page.get_by_role("link", name="Set a new password").click()
    page.get_by_label("New password").fill("short")
    page.get_by_role("button", name="Set the new password").click()
    assert "New password: is too short (allowed: at least 12 characters" in page.inner_text(
        "#new_password-error"
    )
    page.get_by_label("New password").fill(NEW)
    page.get_by_role("button", name="Set the new password").click()
    page.get_by_text("The new password for p_A-001 is set.").wait_for()
    no_axe_violations(page)
    pages.shot(page, "clinic-set-password")
    assert signs_in(clinic, "p_A-001", NEW)


def test_reset_by_an_emailed_link_through_a_real_smtp_server(
    browser: Any,
    clinic: Clinic,
    clock: FixedClock,
    database_url: str,
    inbox: tuple[Inbox, int],
    request: pytest.FixtureRequest,
) -> None:
    handler, port = inbox
    admin.add_user(
        clinic.db, system_actor("test"), site_code="SITEA", role="clinician",
        username="doc_mail", password=PASSWORD, email="doc@example.org", clock=clock,
    )  # fmt: skip
    settings = ServerSettings(
        database_url=database_url,
        secret_key="e2e-" + "k" * 40,
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_starttls=False,
    )
    with LiveServer(create_app(settings, clock=clock)) as live:
        pages = Pages(browser, live, "phone", request.node.name)
        try:
            context = browser.new_context(base_url=live.url, **VIEWPORTS["phone"])
            pages.contexts.append(context)
            page = context.new_page()
            page.goto("/password/forgot")
            no_axe_violations(page)
            pages.shot(page, "forgot")
            page.get_by_label("Username or e-mail address").fill("DOC@example.org")
            page.get_by_role("button", name="Send me a link").click()
            page.get_by_text("If an account with an e-mail address matches").wait_for()
            pages.shot(page, "forgot-sent")
            assert len(handler.messages) == 1
            mail = handler.messages[0]
            assert mail["To"] == "doc@example.org"
            body = mail.get_payload(decode=True).decode()  # type: ignore[union-attr]
            link = re.search(r"http://\S+/password/reset\?token=\S+", body)
            assert link is not None, body
            # An unknown account gets the same answer and no e-mail.
            page.goto("/password/forgot")
            page.get_by_label("Username or e-mail address").fill("nobody")
            page.get_by_role("button", name="Send me a link").click()
            page.get_by_text("If an account with an e-mail address matches").wait_for()
            assert len(handler.messages) == 1

            page.goto(link.group(0))
            page.get_by_label("New password", exact=True).fill(NEW)
            page.get_by_label("New password again").fill(NEW + "!")
            page.get_by_role("button", name="Set my new password").click()
            assert "New password again: the two new passwords are not the same" in (
                page.inner_text("main")
            )
            no_axe_violations(page)
            pages.shot(page, "reset-refused")
            page.get_by_label("New password", exact=True).fill(NEW)
            page.get_by_label("New password again").fill(NEW)
            page.get_by_role("button", name="Set my new password").click()
            page.get_by_text("Your new password is set.").wait_for()
            pages.shot(page, "reset-done")
            assert signs_in(clinic, "doc_mail", NEW)
            # The link works once.
            page.goto(link.group(0))
            page.get_by_label("New password", exact=True).fill(NEW + "2")
            page.get_by_label("New password again").fill(NEW + "2")
            page.get_by_role("button", name="Set my new password").click()
            assert "Reset link: this link has expired or was already used" in page.inner_text(
                "main"
            )
            assert signs_in(clinic, "doc_mail", NEW)
            # Asking again and again is refused after five requests for one account.
            for _ in range(6):
                page.goto("/password/forgot")
                page.get_by_label("Username or e-mail address").fill("doc_mail")
                page.get_by_role("button", name="Send me a link").click()
                page.wait_for_load_state()
            page.get_by_text("Too many requests for a new password").wait_for()
            assert len(handler.messages) == 6  # the first link and five more
        finally:
            pages.close()
        assert pages.errors == []
