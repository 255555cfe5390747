"""Password hashing with argon2id at (at least) the OWASP minimum parameters."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from microtrial.errors import ValidationError

# OWASP Password Storage Cheat Sheet: argon2id, m=19 MiB, t=2, p=1 as the minimum.
_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
MIN_PASSWORD_LENGTH = 10


def hash_password(password: str) -> str:
    """Hash a new password, refusing ones that are too short."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(
            "password",
            "too short",
            allowed=f"at least {MIN_PASSWORD_LENGTH} characters",
        )
    return _HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether ``password`` matches ``password_hash``."""
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def dummy_verify(password: str) -> None:
    """Spend the same time as a real check, so unknown usernames are not revealed by timing."""
    verify_password(_DUMMY_HASH, password)


_DUMMY_HASH = _HASHER.hash("not-a-real-password-for-timing")
