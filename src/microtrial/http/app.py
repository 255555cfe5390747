"""The application factory: one FastAPI app serving the JSON API and the web pages.

The composition root: the only module of ``microtrial.http`` that imports ``api`` and ``web``.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from sqlalchemy import Engine

from microtrial import api
from microtrial.errors import ConflictError
from microtrial.http.config import ServerSettings, research_secret, server_settings, signing_key
from microtrial.http.deps import AppContext
from microtrial.http.errors import install_error_handlers
from microtrial.http.inputs import plain_request
from microtrial.http.limits import CostLimit, Hsts, ProxyHeaders, trusted_networks
from microtrial.http.middleware import BodySizeLimit, SecurityHeaders, StaticGZip
from microtrial.http.reminders import reminders_running
from microtrial.http.security import LoginThrottle, SessionCodec, TokenSigner
from microtrial.http.sweeps import sweeps_running
from microtrial.services import demo
from microtrial.services.common import Clock, system_clock
from microtrial.services.diary_writer import DiaryWriter
from microtrial.settings import Settings
from microtrial.store.db import Database, sqlite_pragmas
from microtrial.web import pages
from microtrial.web.session import COOKIE as SESSION_COOKIE

_SYNCHRONOUS = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}


def require_durable_sqlite(engine: Engine) -> None:
    """Refuse a SQLite database not in ``journal_mode=WAL`` with ``synchronous=FULL`` (or
    EXTRA): an acknowledged submission must survive a crash or power loss. PostgreSQL passes."""
    if engine.dialect.name != "sqlite":
        return
    pragmas = sqlite_pragmas(engine)
    journal = str(pragmas["journal_mode"]).lower()
    synchronous = _SYNCHRONOUS.get(int(pragmas["synchronous"]), str(pragmas["synchronous"]))
    if journal != "wal" or synchronous not in {"FULL", "EXTRA"}:
        raise ConflictError(
            f"SQLite database is not crash-safe: it runs journal_mode={journal}, "
            f"synchronous={synchronous}; MicroTrial needs journal_mode=WAL and "
            "synchronous=FULL (a file on a local disk that supports WAL; not :memory:)"
        )


def require_production_ready(config: ServerSettings, db: Database) -> None:
    """In production, refuse a database where the published demo logins still work."""
    if config.environment != "production":
        return
    found = demo.demo_logins(db)
    if found:
        raise ConflictError(
            f"production refuses this database: {len(found)} demo login(s) ({', '.join(found[:3])}"
            f"{', ...' if len(found) > 3 else ''}) sign in with the published demo password; "
            "use a database of your own (microtrial db upgrade on an empty one)"
        )


def create_app(settings: Settings, *, clock: Clock = system_clock) -> FastAPI:
    """Build the app for ``settings``; ``clock`` is injectable for tests."""
    config = server_settings(settings)
    key = signing_key(config)
    db = Database.from_settings(config)
    context = AppContext(
        settings=config,
        db=db,
        clock=clock,
        tokens=TokenSigner(key, config.token_ttl_s),
        sessions=SessionCodec(key, config.session_max_age_s),
        throttle=LoginThrottle(
            db,
            config.login_max_failures,
            config.login_window_s,
            account_cap_s=config.login_backoff_max_s,
            client_free=config.login_client_free_failures,
            client_cap_s=config.login_client_backoff_max_s,
            clock=clock,
        ),
        research_secret=research_secret(config, key),
        diary=DiaryWriter(db, clock=clock),
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        """Check durability and schema, run reminders and the sweep, close the pool at the end."""
        require_durable_sqlite(db.engine)
        db.require_schema()
        require_production_ready(config, db)
        # Everything built so far (app, routes, catalog, ORM mappers) lives until shutdown.
        # Frozen, it is left out of the cyclic collector's full passes, which otherwise walked
        # it every few seconds under load and held every request for up to 100 ms (the p99 of
        # bench/load.py fell from ~150 ms to ~55 ms; docs/PERFORMANCE.md "Load").
        gc.collect()
        gc.freeze()
        try:
            async with reminders_running(config, db, clock), sweeps_running(config, db, clock):
                yield
        finally:
            context.diary.stop()
            db.dispose()

    app = FastAPI(
        title="MicroTrial",
        version="1",
        openapi_url=f"{api.API_V1}/openapi.json",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
        dependencies=[Depends(plain_request)],  # no control character in any path or query
    )
    app.state.context = context
    app.include_router(api.router())
    pages.install(app)
    install_error_handlers(app, pages.render_error)
    app.add_middleware(
        CostLimit,
        per_minute=config.costly_per_minute,
        identify=_identify(context),
        clock=clock,
        session_cookie=SESSION_COOKIE,
    )
    app.add_middleware(SecurityHeaders)
    app.add_middleware(BodySizeLimit, max_bytes=config.max_request_bytes)
    # Static files travel compressed (plotly.js: 4.8 MB -> 1.5 MB); pages do not (BREACH).
    app.add_middleware(StaticGZip)
    app.add_middleware(Hsts)
    # Outermost: the client address and scheme every layer below sees.
    app.add_middleware(ProxyHeaders, trusted=trusted_networks(config.trusted_proxies.split(",")))
    return app


def _identify(context: AppContext) -> Callable[[str | None, str | None], str | None]:
    """Who a request is, for the rate limits: the user behind its token or session cookie."""

    def identify(token: str | None, cookie: str | None) -> str | None:
        verified = context.tokens.verify(token) if token else None
        actor = verified[0] if verified else None  # (actor, session version)
        if actor is None and cookie:
            session = context.sessions.loads(cookie)
            actor = session.actor if session else None
        return f"user:{actor.user_id}" if actor and actor.user_id is not None else None

    return identify


def create_app_from_environment() -> FastAPI:
    """Factory for Uvicorn workers: settings from ``MICROTRIAL_*`` variables."""
    return create_app(ServerSettings())
