"""Runtime settings: one object, built from the environment only when asked."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """MicroTrial settings, read from ``MICROTRIAL_*`` variables when constructed."""

    model_config = SettingsConfigDict(env_prefix="MICROTRIAL_", extra="ignore")

    database_url: str = Field(
        default="sqlite:///./microtrial.db",
        description="SQLAlchemy URL: sqlite:///FILE or postgresql+psycopg://USER@HOST:PORT/DB",
    )
    sqlite_busy_timeout_ms: int = Field(default=30_000, ge=0)
    pg_pool_size: int = Field(default=10, ge=1)
    instrument_dir: str = Field(default="./instruments", description="User instrument directory")
    export_secret: str = Field(default="", description="Key for research-export pseudonyms (HMAC)")
