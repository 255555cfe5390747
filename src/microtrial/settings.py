"""Runtime settings: one object, built from the environment only when asked."""

from __future__ import annotations

import math
import stat
from collections import Counter
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from microtrial.errors import ConflictError, ValidationError

# A secret must carry at least this many bits by its own characters' Shannon entropy times its
# length, and not be one block repeated (a screen for obvious non-secrets: 32 x "a" carries 0
# bits, "password" x 4 is a repetition; 32 random hex digits carry 99-125 bits, 32 random
# URL-safe characters about 150-190).
MIN_SECRET_BITS = 80


class Settings(BaseSettings):
    """MicroTrial settings, read from ``MICROTRIAL_*`` variables when constructed."""

    model_config = SettingsConfigDict(env_prefix="MICROTRIAL_", extra="ignore")

    database_url: str = Field(
        default="sqlite:///./microtrial.db",
        description="SQLAlchemy URL: sqlite:///FILE or postgresql+psycopg://USER@HOST:PORT/DB",
    )
    sqlite_busy_timeout_ms: int = Field(default=30_000, ge=0)
    pg_pool_size: int = Field(default=10, ge=1)
    instrument_dir: str = Field(
        default="./instruments",
        description="User instrument folder; a relative one lies beside the SQLite database file",
    )
    export_secret: str = Field(
        default="", description="Key for research-export pseudonyms (HMAC); server and CLI"
    )
    export_secret_file: str = Field(
        default="",
        description="A 0600 file holding the export key (when MICROTRIAL_EXPORT_SECRET is unset)",
    )

    def instrument_path(self) -> Path:
        """The user instrument folder, absolute: the one place every reader and writer asks.

        An absolute ``instrument_dir`` is used as it is. A relative one is resolved against the
        folder of the SQLite database file (so the server, the CLI and cron jobs find the same
        instruments from any working directory); for PostgreSQL, an in-memory SQLite database or
        an unparseable URL there is no such file, so a relative value falls back to the working
        directory (give an absolute path there).
        """
        folder = Path(self.instrument_dir).expanduser()
        if folder.is_absolute():
            return folder
        base = _sqlite_folder(self.database_url)
        return (base or Path.cwd()) / folder


def _sqlite_folder(database_url: str) -> Path | None:
    """The absolute folder of a SQLite database file named by ``database_url``; None otherwise."""
    from sqlalchemy.engine import make_url

    try:
        url = make_url(database_url)
    except Exception:  # make_engine reports a malformed URL; here there is just no file
        return None
    database = url.database
    if url.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    if database.startswith("file:"):
        return None
    return Path(database).expanduser().absolute().parent


def secret_bits(secret: str) -> float:
    """Estimated bits: length x Shannon entropy per character; 0 for a repeated block."""
    if not secret or secret in (secret + secret)[1:-1]:
        return 0.0  # empty, or one shorter block repeated
    counts = Counter(secret)
    per_char = -sum(n / len(secret) * math.log2(n / len(secret)) for n in counts.values())
    return per_char * len(secret)


def read_key_file(path: Path) -> str:
    """The key in ``path``, refusing a file that other accounts could read."""
    try:
        mode = path.stat().st_mode
    except OSError as error:
        raise ValidationError(
            "export_secret_file", f"cannot be read: {error.strerror}", value=str(path)
        ) from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ValidationError(
            "export_secret_file",
            "is readable by other accounts",
            value=str(path),
            allowed="mode 0600 (chmod 600 FILE)",
        )
    return path.read_text(encoding="utf-8").strip()


def export_secret(settings: Settings) -> str | None:
    """The configured research-export key, or None when none is configured.

    ``MICROTRIAL_EXPORT_SECRET`` wins over ``MICROTRIAL_EXPORT_SECRET_FILE``; the key is never
    derived from the signing secret and never kept in the database.
    """
    if settings.export_secret:
        return settings.export_secret
    if settings.export_secret_file:
        return read_key_file(Path(settings.export_secret_file)) or None
    return None


def require_export_secret(settings: Settings) -> str:
    """The configured research-export key; a clear refusal when there is none."""
    secret = export_secret(settings)
    if secret is None:
        raise no_export_key()
    return secret


def no_export_key() -> ConflictError:
    """The refusal of a research export on an installation without an export key."""
    return ConflictError(
        "research export: no export key is configured; set MICROTRIAL_EXPORT_SECRET or "
        "MICROTRIAL_EXPORT_SECRET_FILE (a 0600 file; `microtrial export rotate-key` writes one) "
        "for the server and the command line alike"
    )
