"""Server settings: the shared ``Settings`` plus what the web server alone needs."""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from microtrial.errors import ValidationError
from microtrial.settings import MIN_SECRET_BITS, Settings, export_secret, secret_bits

_RANDOM = (
    "at least 32 characters of random text, e.g. "
    'python -c "import secrets; print(secrets.token_urlsafe(48))"'
)


class ServerSettings(Settings):
    """Settings of ``microtrial serve`` (``MICROTRIAL_*`` variables, like ``Settings``)."""

    model_config = SettingsConfigDict(env_prefix="MICROTRIAL_", extra="ignore")

    environment: Literal["development", "production"] = "development"
    secret_key: SecretStr | None = Field(
        default=None,
        description="Signs session cookies and API tokens; required in production.",
    )
    session_max_age_s: int = Field(default=12 * 3600, ge=60)
    token_ttl_s: int = Field(default=3600, ge=60)
    max_request_bytes: int = Field(default=1_000_000, ge=1024)
    login_max_failures: int = Field(
        default=5, ge=1, description="Free failed logins per account before delays start."
    )
    login_window_s: int = Field(default=900, ge=1, description="How long a failure counts.")
    login_backoff_max_s: int = Field(
        default=60, ge=1, description="Longest delay of an account (its owner waits no longer)."
    )
    login_client_free_failures: int = Field(
        default=100, ge=1, description="Free failed logins per client address (a shared NAT)."
    )
    login_client_backoff_max_s: int = Field(default=300, ge=1)
    research_secret: SecretStr | None = Field(
        default=None,
        description="No longer read (refused when set): use MICROTRIAL_EXPORT_SECRET, which the "
        "CLI reads too.",
    )
    smtp_host: str | None = Field(
        default=None, description="SMTP server for e-mail reminders; None turns reminders off."
    )
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_starttls: bool = True
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = "MicroTrial <microtrial@localhost>"
    reminder_time: dt.time = Field(
        default=dt.time(19, 0), description="Patient-local time after which reminders go out."
    )
    reminder_interval_s: int = Field(default=300, ge=5)
    alert_sweep: bool = Field(
        default=True,
        description="Run the alert sweep (missed diaries, escalation) inside the server.",
    )
    sweep_interval_s: float = Field(
        default=300,
        gt=0,
        description="Seconds between sweep checks (the rule sweep runs once per site and day; "
        "escalation is checked every time).",
    )
    fit_refresh: bool = Field(
        default=True,
        description="Refresh the stored trial fits (the cohort's results) inside the server.",
    )
    fit_refresh_interval_s: float = Field(
        default=60,
        gt=0,
        description="Seconds between checks for stale trial fits (a check that finds none "
        "writes nothing; stale ones are all fitted in one batch).",
    )
    public_url: str | None = Field(
        default=None, description="The site's address, for links in e-mails."
    )
    trusted_proxies: str = Field(
        default="",
        description="Comma-separated addresses or networks of the reverse proxies whose "
        "X-Forwarded-For/-Proto are believed; empty: those headers are ignored.",
    )
    costly_per_minute: int = Field(
        default=20, ge=1, description="Reports, exports and cohort requests per user and minute."
    )
    cookie_secure: bool | None = Field(
        default=None, description="Force the Secure cookie flag; None = when the request is HTTPS."
    )


def server_settings(settings: Settings) -> ServerSettings:
    """``settings`` as ServerSettings (server-only fields take their defaults)."""
    if isinstance(settings, ServerSettings):
        return settings
    return ServerSettings.model_validate(settings.model_dump())


def signing_key(settings: ServerSettings) -> str:
    """The configured secret; a random one for development (sessions end at restart)."""
    if settings.secret_key is not None:
        key = settings.secret_key.get_secret_value()
        if len(key) < 32:
            raise ValidationError("secret_key", "too short", allowed=_RANDOM)
        if settings.environment == "production" and secret_bits(key) < MIN_SECRET_BITS:
            raise ValidationError(
                "secret_key", "is too predictable for production", allowed=_RANDOM
            )
        return key
    if settings.environment == "production":
        raise ValidationError(
            "secret_key",
            "production needs MICROTRIAL_SECRET_KEY",
            allowed=_RANDOM,
        )
    return secrets.token_urlsafe(32)


def research_secret(settings: ServerSettings, signing: str) -> str | None:
    """The research-export key (``MICROTRIAL_EXPORT_SECRET`` or its file), checked; None if unset.

    The same setting the CLI reads, so web and CLI exports give equal pseudonyms. Never derived
    from the signing key, and refused when it equals it (one leaked secret must not do both).
    """
    if settings.research_secret is not None:
        raise ValidationError(
            "research_secret",
            "MICROTRIAL_RESEARCH_SECRET is no longer read",
            allowed="MICROTRIAL_EXPORT_SECRET or MICROTRIAL_EXPORT_SECRET_FILE, for server and CLI",
        )
    secret = export_secret(settings)
    if secret is None:
        return None
    if hmac.compare_digest(secret.encode(), signing.encode()):
        raise ValidationError(
            "export_secret", "is the signing key", allowed="a separate random key"
        )
    if settings.environment == "production" and secret_bits(secret) < MIN_SECRET_BITS:
        raise ValidationError("export_secret", "is too predictable for production", allowed=_RANDOM)
    return secret
