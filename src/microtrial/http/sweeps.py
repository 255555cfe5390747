"""The alert sweep and the refresh of stored fits inside the server; escalation e-mail.

Every ``sweep_interval_s`` seconds each worker process asks for the day's sweep of every site;
the first to claim a (site, day) in ``sweep_runs`` runs it, the others skip. Escalation of
overdue urgent alerts is checked every time (each alert is escalated once). When SMTP is set,
the site's clinicians get one e-mail per escalated alert, with no clinical detail (the alert's
id, code and age, and a link); a failed send is logged, not retried (the banner still shows it).
Every ``fit_refresh_interval_s`` seconds each worker also refreshes the stored trial fits
(``services.trial_fits.refresh_fits``: every stale trial in one batch, in a worker thread,
outside request handling; a check that finds nothing stale writes nothing).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import smtplib
from collections.abc import AsyncIterator, Sequence
from email.message import EmailMessage

from microtrial.domain.actors import system_actor
from microtrial.http.config import ServerSettings
from microtrial.http.reminders import in_background, smtp_session
from microtrial.services.alerts import AlertRead
from microtrial.services.common import Clock
from microtrial.services.sweeps import SiteSweep, escalate_due, run_daily_sweeps
from microtrial.services.trial_fits import refresh_fits
from microtrial.store.db import Database

log = logging.getLogger("microtrial.sweeps")


def escalation_message(
    settings: ServerSettings, site_code: str, alert: AlertRead, recipients: Sequence[str]
) -> EmailMessage:
    """The e-mail about one escalated alert, to the site's clinicians."""
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = ", ".join(recipients)
    message["Subject"] = f"MicroTrial {site_code}: urgent alert {alert.id} not acknowledged"
    link = (
        f"\n\n{settings.public_url.rstrip('/')}/clinic/alerts#alert-{alert.id}"
        if settings.public_url
        else ""
    )
    message.set_content(
        f"Urgent alert {alert.id} ({alert.code}, raised {alert.created_at:%Y-%m-%d %H:%M} UTC) "
        f"has not been acknowledged.\nPlease review it now.{link}\n"
    )
    return message


def mail_escalations(settings: ServerSettings, results: Sequence[SiteSweep]) -> int:
    """E-mail each escalated alert to its site's clinicians; how many were sent (0: no SMTP)."""
    due = [(r, a) for r in results if r.recipients for a in r.escalated]
    if not settings.smtp_host or not due:
        return 0
    with smtp_session(settings) as smtp:
        for result, alert in due:
            smtp.send_message(
                escalation_message(settings, result.site_code, alert, result.recipients)
            )
    return len(due)


def sweep_once(settings: ServerSettings, db: Database, clock: Clock) -> list[SiteSweep]:
    """Today's claimed sweep of each site, then escalation, then the e-mails."""
    results = [r for r in run_daily_sweeps(db, clock=clock) if r.ran]
    results += escalate_due(db, clock=clock)
    try:
        mail_escalations(settings, results)
    except (OSError, smtplib.SMTPException) as err:
        log.warning("escalation e-mail not sent: %s", err)
    return results


async def sweep_loop(settings: ServerSettings, db: Database, clock: Clock) -> None:
    """Sweep every ``sweep_interval_s`` seconds (the first after one interval) until cancelled."""
    while True:
        await asyncio.sleep(settings.sweep_interval_s)
        try:
            results = await asyncio.to_thread(sweep_once, settings, db, clock)
        except Exception:  # a failed sweep must not end the loop; the next one retries
            log.exception("alert sweep failed")
            continue
        raised = sum(len(r.raised) for r in results)
        escalated = sum(len(r.escalated) for r in results)
        if raised or escalated:
            log.info("alert sweep: %d raised, %d escalated", raised, escalated)


async def refresh_loop(settings: ServerSettings, db: Database, clock: Clock) -> None:
    """Refresh stale trial fits every ``fit_refresh_interval_s`` seconds until cancelled."""
    actor = system_actor("fit-refresh")
    while True:
        await asyncio.sleep(settings.fit_refresh_interval_s)
        try:
            report = await asyncio.to_thread(refresh_fits, db, actor, clock=clock)
        except Exception:  # a failed refresh must not end the loop; the next one retries
            log.exception("trial fit refresh failed")
            continue
        if report.stale:
            log.info(
                "trial fits: %d stale, %d stored, %d changed meanwhile, %.1f s",
                report.stale,
                report.stored,
                report.changed_meanwhile,
                report.seconds,
            )


@contextlib.asynccontextmanager
async def sweeps_running(
    settings: ServerSettings, db: Database, clock: Clock
) -> AsyncIterator[None]:
    """Run the sweep and refresh loops in the background while the app runs (unless off)."""
    sweep = sweep_loop(settings, db, clock) if settings.alert_sweep else None
    refresh = refresh_loop(settings, db, clock) if settings.fit_refresh else None
    async with in_background(sweep), in_background(refresh):
        yield
