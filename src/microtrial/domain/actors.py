"""Who is acting: every service call carries an Actor."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    """The roles a user can hold."""

    ADMIN = "admin"
    CLINICIAN = "clinician"
    UNBLINDED_STAFF = "unblinded_staff"
    RESEARCHER = "researcher"
    PATIENT = "patient"
    # The operator at the command line: has direct access to the database anyway, so is
    # allowed everything, and is audited under the label "cli".
    SYSTEM = "system"


USER_ROLES: tuple[str, ...] = tuple(r.value for r in Role if r is not Role.SYSTEM)


@dataclass(frozen=True, slots=True)
class Actor:
    """The acting user, with the scope that access checks use."""

    role: Role
    username: str
    user_id: int | None = None
    site_id: int | None = None
    patient_id: int | None = None

    @property
    def label(self) -> str:
        """How this actor appears in the audit log."""
        return self.username if self.role is not Role.SYSTEM else f"system:{self.username}"


def system_actor(name: str = "cli") -> Actor:
    """The command-line operator, who may do everything (and is audited)."""
    return Actor(role=Role.SYSTEM, username=name)


def check_role(role: str) -> Role:
    """Return the user role named ``role`` or raise ValidationError naming the allowed ones."""
    from microtrial.errors import ValidationError

    if role not in USER_ROLES:
        raise ValidationError("role", f"unknown role {role!r}", value=role, allowed=USER_ROLES)
    return Role(role)


def check_patient_link(role: Role, patient_code: str | None) -> None:
    """ValidationError unless a new patient user names their patient and no other user does."""
    from microtrial.errors import ValidationError

    if role is Role.PATIENT and not patient_code:
        raise ValidationError(
            "patient", "a patient user needs --patient CODE", allowed="a study code"
        )
    if role is not Role.PATIENT and patient_code:
        raise ValidationError("patient", "only patient users are linked to a patient")


def check_role_change(current: Role, new: Role) -> None:
    """ValidationError unless a staff login's role may become ``new`` (patients stay patients)."""
    from microtrial.errors import ValidationError

    if Role.PATIENT in (current, new) and current is not new:
        raise ValidationError(
            "role",
            "a patient's login is tied to their record and cannot change role",
            value=new.value,
            allowed=[r for r in USER_ROLES if r != Role.PATIENT.value],
        )
