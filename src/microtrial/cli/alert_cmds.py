"""``microtrial alerts sweep``: run the alert sweep now (for cron), printing what it raised."""

from __future__ import annotations

from typing import Annotated

import typer

from microtrial.cli.common import DatabaseUrlOpt, console, handle_errors, load_settings, open_db
from microtrial.domain.actors import system_actor

alerts_app = typer.Typer(
    help="Alerts: the sweep for missed diaries and escalation.", no_args_is_help=True
)


@alerts_app.command("sweep")
def sweep(
    site: Annotated[
        str | None, typer.Option("--site", help="Site code (default: every site).")
    ] = None,
    database_url: DatabaseUrlOpt = None,
) -> None:
    """Raise the time-driven alerts and escalate overdue urgent ones; safe to run often."""
    from microtrial.http.config import server_settings
    from microtrial.http.sweeps import mail_escalations
    from microtrial.services.sweeps import sweep_alerts

    with open_db(database_url) as db, handle_errors():
        results = sweep_alerts(db, system_actor(), site_code=site)
    sent = mail_escalations(server_settings(load_settings(database_url)), results)
    for result in results:
        console.print(
            f"{result.site_code}: {len(result.raised)} raised, {len(result.escalated)} escalated"
        )
        for alert in result.raised:
            console.print(
                f"  raised {alert.id} {alert.code} patient {alert.patient_id}: {alert.message}"
            )
        for alert in result.escalated:
            console.print(f"  escalated {alert.id} {alert.code} patient {alert.patient_id}")
    if sent:
        console.print(f"{sent} escalation e-mail(s) sent")


def register(app: typer.Typer) -> None:
    """Add the alerts command group."""
    app.add_typer(alerts_app, name="alerts")
