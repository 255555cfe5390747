"""``microtrial serve``: the web pages and the JSON API on Uvicorn."""

from __future__ import annotations

import copy
import os
from typing import TYPE_CHECKING, Annotated

import typer

from microtrial.cli.common import DatabaseUrlOpt, console, fail, handle_errors, open_db

if TYPE_CHECKING:
    from microtrial.http.config import ServerSettings


def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", help="Port to listen on.", min=1, max=65535)
    ] = 8000,
    workers: Annotated[int, typer.Option("--workers", help="Worker processes.", min=1, max=64)] = 1,
    proxy_headers: Annotated[
        bool,
        typer.Option(
            "--proxy-headers/--no-proxy-headers",
            help="Trust X-Forwarded-* from the proxies named by --forwarded-allow-ips "
            "(or MICROTRIAL_TRUSTED_PROXIES); behind a TLS proxy.",
        ),
    ] = False,
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(
            "--forwarded-allow-ips",
            help="The proxies' addresses or networks, comma-separated (no default, no '*').",
        ),
    ] = None,
    database_url: DatabaseUrlOpt = None,
) -> None:
    """Serve the web pages and the JSON API (/api/v1) on one Uvicorn server."""
    import uvicorn

    from microtrial.http.app import create_app, require_durable_sqlite, require_production_ready
    from microtrial.http.config import ServerSettings, signing_key

    with handle_errors():
        settings = ServerSettings(database_url=database_url) if database_url else ServerSettings()
        key = signing_key(settings)
        settings = _with_proxies(settings, proxy_headers, forwarded_allow_ips)
    # Fail early: a SQLite file must be crash-safe (WAL, synchronous=FULL), the schema migrated.
    with open_db(settings.database_url, migrated=False) as db, handle_errors():
        require_durable_sqlite(db.engine)
        db.require_schema()
        require_production_ready(settings, db)
    console.print(f"MicroTrial on http://{host}:{port} ({workers} worker(s))")
    if settings.secret_key is None:
        console.print(
            "[yellow]no MICROTRIAL_SECRET_KEY set: a random key is used, so sign-ins and API "
            "tokens end when the server stops (production refuses to start without one)[/]"
        )
    # Uvicorn's own logging, plus MicroTrial's loggers (reminders, the diary writer) beside it.
    log_config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    log_config["loggers"]["microtrial"] = {"handlers": ["default"], "level": "INFO"}
    common = {
        "host": host,
        "port": port,
        "proxy_headers": False,  # the app reads X-Forwarded-* itself, from trusted_proxies only
        "server_header": False,
        "log_level": "info",
        "log_config": log_config,
    }
    if workers == 1:
        with handle_errors():
            app = create_app(settings)
        uvicorn.run(app, **common)  # type: ignore[arg-type]
        return
    if settings.secret_key is None:
        # Every worker must sign and check sessions with the same key.
        os.environ["MICROTRIAL_SECRET_KEY"] = key
    os.environ["MICROTRIAL_DATABASE_URL"] = settings.database_url
    os.environ["MICROTRIAL_TRUSTED_PROXIES"] = settings.trusted_proxies
    try:
        uvicorn.run(
            "microtrial.http.app:create_app_from_environment",
            factory=True,
            workers=workers,
            **common,  # type: ignore[arg-type]
        )
    except SystemExit as err:  # pragma: no cover - uvicorn exits on bind errors
        fail(f"server stopped: {err}", 1)


def _with_proxies(
    settings: ServerSettings, proxy_headers: bool, forwarded_allow_ips: str | None
) -> ServerSettings:
    """The settings with the trusted proxies the options name (none without --proxy-headers)."""
    from microtrial.errors import ValidationError
    from microtrial.http.limits import trusted_networks

    if not proxy_headers:
        return settings.model_copy(update={"trusted_proxies": ""})
    proxies = forwarded_allow_ips if forwarded_allow_ips is not None else settings.trusted_proxies
    if not trusted_networks(proxies.split(",")):
        raise ValidationError(
            "--forwarded-allow-ips",
            "--proxy-headers needs the proxies' addresses (or MICROTRIAL_TRUSTED_PROXIES)",
        )
    return settings.model_copy(update={"trusted_proxies": proxies})


def register(app: typer.Typer) -> None:
    """Add the serve command."""
    app.command("serve")(serve)
