"""Server settings: the shared ``Settings`` plus what the web server alone needs."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from microtrial.errors import ValidationError
from microtrial.settings import Settings


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
    login_max_failures: int = Field(default=5, ge=1)
    login_window_s: int = Field(default=900, ge=1)
    research_secret: SecretStr | None = Field(
        default=None,
        description="Keys the research export's pseudonyms; derived from secret_key when unset.",
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
    public_url: str | None = Field(
        default=None, description="The site's address, for links in e-mails."
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
            raise ValidationError(
                "secret_key", "too short", allowed="at least 32 characters of random text"
            )
        return key
    if settings.environment == "production":
        raise ValidationError(
            "secret_key",
            "production needs MICROTRIAL_SECRET_KEY",
            allowed="at least 32 characters of random text",
        )
    return secrets.token_urlsafe(32)


def derived_secret(key: str, purpose: str) -> str:
    """A secret for one purpose derived from the signing key (HMAC-SHA256)."""
    return hmac.new(key.encode(), purpose.encode(), hashlib.sha256).hexdigest()
