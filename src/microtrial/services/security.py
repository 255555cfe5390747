"""Password hashing with argon2id at (at least) the OWASP minimum parameters, and password rules.

Rules for every new password (user add, change, reset, set by the clinic or an admin): at least
``MIN_PASSWORD_LENGTH`` characters (NIST SP 800-63B 5.1.1.2 asks for a blocklist check beside a
minimum length), not one of the packaged common passwords (``common_passwords.txt``, with its
source and licence in its header), not such a password with digits or symbols around it, not
one block repeated ("aaaaaaaaaaaa") and not a run along the keyboard or the digits.
"""

from __future__ import annotations

import functools
import re
from importlib import resources

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from microtrial.errors import ValidationError

# OWASP Password Storage Cheat Sheet: argon2id, m=19 MiB, t=2, p=1 as the minimum.
OWASP_MINIMUM = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
HASHER = OWASP_MINIMUM  # what new passwords are hashed with (the test suite swaps in a cheap one)
MIN_PASSWORD_LENGTH = 12
_RUNS = (
    "01234567890123456789",
    "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz",
    "qwertyuiopasdfghjklzxcvbnm",
    "qwertzuiopasdfghjklyxcvbnm",
    "azertyuiopqsdfghjklmwxcvbn",
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p",
)
_AROUND = re.compile(r"^[\W\d_]*(.*?)[\W\d_]*$")
_ALLOWED = (
    f"at least {MIN_PASSWORD_LENGTH} characters, not a common password "
    "(a few unrelated words work well)"
)


@functools.cache
def common_passwords() -> frozenset[str]:
    """The packaged list of common passwords (lower case)."""
    text = (
        resources.files("microtrial.services").joinpath("common_passwords.txt").read_text("utf-8")
    )
    return frozenset(
        line.strip().lower()
        for line in text.splitlines()
        if line.strip() and not line.startswith("#")
    )


def password_problem(password: str) -> str | None:
    """Why ``password`` may not be used (None when it may)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return "is too short"
    lowered = password.lower()
    core = _AROUND.sub(r"\1", lowered)
    common = common_passwords()
    if lowered in common or core in common:
        return "is a common password"
    if lowered in (lowered + lowered)[1:-1]:
        return "repeats the same characters"
    folded = re.sub(r"[\W_]", "", lowered)
    if any(folded in run or folded in run[::-1] for run in _RUNS):
        return "is a run of keys or digits"
    return None


def check_password(password: str, field: str = "password") -> None:
    """Refuse a new password that breaks the rules (the error names ``field``)."""
    problem = password_problem(password)
    if problem is not None:
        raise ValidationError(field, problem, allowed=_ALLOWED)


def hash_password(password: str, field: str = "password") -> str:
    """Hash a new password, refusing one that breaks the password rules."""
    check_password(password, field)
    return HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether ``password`` matches ``password_hash``."""
    try:
        return HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def dummy_verify(password: str) -> None:
    """Spend the same time as a real check, so unknown usernames are not revealed by timing."""
    verify_password(_DUMMY_HASH, password)


_DUMMY_HASH = OWASP_MINIMUM.hash("not-a-real-password-for-timing")
