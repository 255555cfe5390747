"""The exception tree shared by every layer.

::

    MicroTrialError
    ├── ValidationError      bad input: names the field, the value and what is allowed
    │   └── InvalidFields    several fields' ValidationErrors at once (a form's every mistake)
    ├── NotFound             no such object, or one outside the caller's reach (same answer)
    │   └── OutOfScope       it exists but is outside the caller's reach (audited as a refusal)
    ├── PermissionDenied     the caller's role may not do this at all
    ├── ConflictError        the object's state forbids it (duplicate, wrong stage)
    │   └── StaleVersion     the caller's copy is out of date (If-Match names an older version)
    └── SafetyBlock          a safety rule forbids it (do-not-start screening, paused trial)

Only ``cli``, ``api`` and ``web`` translate these into exit codes or HTTP statuses.
"""

from __future__ import annotations

from collections.abc import Iterable


class MicroTrialError(Exception):
    """Base class of every error MicroTrial raises on purpose."""


class ValidationError(MicroTrialError, ValueError):
    """Input that breaks a rule; names the field, the value and what is allowed."""

    def __init__(
        self,
        field: str,
        message: str,
        *,
        value: object = None,
        allowed: str | Iterable[str] | None = None,
    ) -> None:
        self.field = field
        self.value = value
        if allowed is not None and not isinstance(allowed, str):
            allowed = ", ".join(str(a) for a in allowed)
        self.allowed = allowed
        text = f"{field}: {message}"
        if allowed:
            text += f" (allowed: {allowed})"
        super().__init__(text)


class InvalidFields(ValidationError):
    """Several fields refused at once, so that a form can mark every mistake in one go.

    Reads as its first error (``field``, ``value``, ``allowed``) where one is expected; its
    text is every error's, joined by "; ".
    """

    def __init__(self, errors: Iterable[ValidationError]) -> None:
        self.errors = tuple(errors)
        first = self.errors[0]
        self.field, self.value, self.allowed = first.field, first.value, first.allowed
        MicroTrialError.__init__(self, "; ".join(str(e) for e in self.errors))


def refuse_all(errors: Iterable[ValidationError]) -> None:
    """Raise nothing for no errors, the error itself for one, :class:`InvalidFields` for more
    (the errors of an ``InvalidFields`` among them listed one by one)."""
    flat = [
        e
        for error in errors
        for e in (error.errors if isinstance(error, InvalidFields) else (error,))
    ]
    if len(flat) == 1:
        raise flat[0]
    if flat:
        raise InvalidFields(flat)


class NotFound(MicroTrialError, LookupError):
    """No such object, or one the caller may not see (answered the same way on purpose)."""


class OutOfScope(NotFound):
    """An object that exists but lies outside the caller's reach.

    Answered exactly like :class:`NotFound` (same status, same words, which name only what the
    caller asked for); ``actor`` (who asked) lets the edge audit it as a refused request.
    """

    def __init__(self, message: str, *, actor: object = None) -> None:
        self.actor = actor
        super().__init__(message)


class PermissionDenied(MicroTrialError):
    """The caller's role may not perform this action (``actor``: who asked, for the audit)."""

    def __init__(self, message: str, *, actor: object = None) -> None:
        self.actor = actor
        super().__init__(message)


class ConflictError(MicroTrialError):
    """The current state of the object forbids the action."""


class StaleVersion(ConflictError):
    """The caller's copy is out of date: it names an older version than the current one."""

    def __init__(self, expected: int, current: int) -> None:
        self.expected = expected
        self.current = current
        super().__init__(f"version: expected version {expected}, current is {current}")


class SafetyBlock(MicroTrialError):
    """A safety rule forbids the action (e.g. a do-not-start screening or a paused trial)."""


class StatisticalWarning(UserWarning):
    """A result that computes but deserves doubt (too few days, rho at the boundary)."""
