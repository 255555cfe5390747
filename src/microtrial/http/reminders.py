"""Daily diary and dose reminders by e-mail (off unless ``MICROTRIAL_SMTP_HOST`` is set).

A reminder carries no clinical content: only that today's diary or capsule check-in is due.
Each is claimed in the database before sending, so several workers never send it twice; a
failed send is not retried that day (reminders are at most once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import smtplib
from collections.abc import AsyncIterator, Coroutine, Iterator
from email.message import EmailMessage
from typing import Any

from microtrial import i18n
from microtrial.http.config import ServerSettings
from microtrial.http.security import TokenSigner
from microtrial.i18n import N_
from microtrial.services import reminders
from microtrial.services.common import Clock
from microtrial.services.reminders import Reminder
from microtrial.store.db import Database

log = logging.getLogger("microtrial.reminders")

SUBJECTS = {
    "diary": N_("MicroTrial: today's diary"),
    "dose": N_("MicroTrial: today's capsule check-in"),
}
TEXTS = {
    "diary": N_("Please fill in today's MicroTrial diary."),
    "dose": N_("Today is a capsule day in your trial: please take it as planned and check it in."),
}
FOOTER = N_(
    "MicroTrial does not replace your clinician. If you feel unwell, contact your clinician;\n"
    "in an emergency call your local emergency number.\n"
)


def reminder_message(settings: ServerSettings, reminder: Reminder) -> EmailMessage:
    """The e-mail for one reminder."""
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = reminder.email
    language = reminder.language or i18n.DEFAULT  # in the patient's language
    message["Subject"] = i18n.gettext(SUBJECTS[reminder.kind], language)
    link = f"\n\n{settings.public_url.rstrip('/')}/today" if settings.public_url else ""
    text = i18n.gettext(TEXTS[reminder.kind], language)
    message.set_content(f"{text}{link}\n\n{i18n.gettext(FOOTER, language)}")
    return message


def send_due_reminders(settings: ServerSettings, db: Database, clock: Clock) -> int:
    """Send every reminder due now; returns how many were sent (0 when SMTP is off)."""
    if not settings.smtp_host:
        return 0
    due = reminders.due_reminders(db, remind_at=settings.reminder_time, clock=clock)
    if not due:
        return 0
    with smtp_session(settings) as smtp:
        for reminder in due:
            smtp.send_message(reminder_message(settings, reminder))
    return len(due)


@contextlib.contextmanager
def smtp_session(settings: ServerSettings) -> Iterator[smtplib.SMTP]:
    """A connection to the configured SMTP server, with STARTTLS and login as configured."""
    assert settings.smtp_host
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=30) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_username and settings.smtp_password:
            smtp.login(settings.smtp_username, settings.smtp_password.get_secret_value())
        yield smtp


@contextlib.asynccontextmanager
async def in_background(loop: Coroutine[Any, Any, None] | None) -> AsyncIterator[None]:
    """Run ``loop`` as a task while the block runs, then cancel it (None: nothing to run)."""
    task = asyncio.create_task(loop) if loop is not None else None
    try:
        yield
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def reminder_loop(settings: ServerSettings, db: Database, clock: Clock) -> None:
    """Check for due reminders every ``reminder_interval_s`` seconds until cancelled."""
    while True:
        try:
            sent = await asyncio.to_thread(send_due_reminders, settings, db, clock)
            if sent:
                log.info("sent %d reminder(s)", sent)
        except (OSError, smtplib.SMTPException) as err:
            log.warning("reminders not sent: %s", err)
        await asyncio.sleep(settings.reminder_interval_s)


@contextlib.asynccontextmanager
async def reminders_running(
    settings: ServerSettings, db: Database, clock: Clock
) -> AsyncIterator[None]:
    """Run the reminder loop in the background while the app runs (when SMTP is configured)."""
    async with in_background(reminder_loop(settings, db, clock) if settings.smtp_host else None):
        yield


def feed_addresses(settings: ServerSettings, base_url: str, token: str) -> tuple[str, str]:
    """The https address of a calendar feed and its ``webcal://`` twin (for subscribing)."""
    base = (settings.public_url or base_url).rstrip("/")
    address = f"{base}/calendar/{token}.ics"
    return address, "webcal://" + address.split("://", 1)[1]


def feed_token(
    tokens: TokenSigner, patient_id: int, user_id: int | None, key: str | None
) -> str | None:
    """The token of a calendar feed made by a request with the Idempotency-Key ``key``: derived
    from the server's key, so that a replay answers with the same address (None without a key:
    the feed gets a random token)."""
    if key is None:
        return None
    return tokens.derive(f"calendar-feed:patient:{patient_id}:user:{user_id}:key:{key}")
