"""Sites and users (administrative use cases)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from microtrial.domain.access import Action, authorize, sees_site
from microtrial.domain.actors import Actor, Role, check_patient_link, check_role
from microtrial.domain.inputs import require_text
from microtrial.domain.patients import check_site_code, check_username
from microtrial.errors import ConflictError, NotFound, ValidationError
from microtrial.services.common import Clock, audit, scoped, site_by_code, system_clock
from microtrial.services.schemas import ReadModel, SiteRead, UserRead
from microtrial.services.security import hash_password
from microtrial.services.unit import UnitOfWork
from microtrial.store.db import Database
from microtrial.store.models import PatientRow, SiteRow, UserRow


def add_site(
    db: Database, actor: Actor, code: str, name: str | None = None, *, clock: Clock = system_clock
) -> SiteRead:
    """Create a site with a unique code."""
    work = UnitOfWork(db, actor, Action.ADD_SITE, clock=clock)
    code = check_site_code(code)
    with work as (session, now):
        if session.execute(select(SiteRow.id).where(SiteRow.code == code)).first():
            raise ConflictError(f"site: a site with code {code!r} already exists")
        site = SiteRow(code=code, name=(name or code).strip(), created_at=now)
        session.add(site)
        session.flush()
        audit(session, actor, "create", "site", site.id, at=now, site_id=site.id)
        return SiteRead.model_validate(site)


MAX_BACKFILL_DAYS = 3650  # ten years: transcribing old paper diaries


def set_backfill_days(
    db: Database, actor: Actor, code: str, days: int | None, *, clock: Clock = system_clock
) -> int | None:
    """Set how many days back a site's diary entries may be dated (None: the default)."""
    authorize(actor, Action.SET_SITE_SETTINGS)
    if days is not None and not 0 <= days <= MAX_BACKFILL_DAYS:
        raise ValidationError(
            "backfill_days",
            f"{days} is not a backfill window",
            value=days,
            allowed=f"0-{MAX_BACKFILL_DAYS} days, or empty for the default",
        )
    _update_site(db, actor, code, clock, backfill_days=days)
    return days


def set_crisis_lines(
    db: Database,
    actor: Actor,
    code: str,
    lines: list[tuple[str, str]] | None,
    *,
    clock: Clock = system_clock,
) -> list[tuple[str, str]] | None:
    """Set the crisis lines (label, phone number) a site's patients see (None: the default)."""
    authorize(actor, Action.SET_SITE_SETTINGS)
    for label, number in lines or []:
        require_text("label", label, "a crisis line needs a label")
        digits = sum(ch.isdigit() for ch in number)
        if not 2 <= digits <= 20 or any(not (ch.isdigit() or ch in " +-()") for ch in number):
            raise ValidationError(
                "number",
                f"{number!r} is not a phone number",
                value=number,
                allowed="2-20 digits, with spaces, +, - or brackets",
            )
    stored = [{"label": label.strip(), "number": number.strip()} for label, number in lines or []]
    _update_site(db, actor, code, clock, crisis_contacts=stored or None)
    return lines or None


def _update_site(db: Database, actor: Actor, code: str, clock: Clock, **settings: Any) -> None:
    """Store a site's settings and audit the update with the new values."""
    with db.transaction() as session:
        site = site_by_code(session, actor, code)
        for name, value in settings.items():
            setattr(site, name, value)
        audit(
            session, actor, "update", "site", site.id, at=clock(), site_id=site.id, detail=settings
        )


def list_sites(db: Database, actor: Actor) -> list[SiteRead]:
    """Sites the actor may see."""
    with db.transaction() as session:
        query = select(SiteRow).order_by(SiteRow.code)
        query = scoped(query, actor, Action.LIST_SITES, SiteRow.id)
        return [SiteRead.model_validate(s) for s in session.execute(query).scalars()]


def add_user(
    db: Database,
    actor: Actor,
    *,
    site_code: str,
    role: str,
    username: str,
    password: str,
    patient_code: str | None = None,
    email: str | None = None,
    clock: Clock = system_clock,
) -> UserRead:
    """Create a user with a role at a site (a patient user is linked to a patient)."""
    work = UnitOfWork(db, actor, Action.ADD_USER, clock=clock)
    user_role = check_role(role)
    username = check_username(username)
    check_patient_link(user_role, patient_code)
    password_hash = hash_password(password)
    with work as (session, now):
        site = site_by_code(session, actor, site_code)
        if not sees_site(actor, Action.ADD_USER, site.id):
            raise NotFound(f"site: no site {site_code!r}")
        taken = select(UserRow.id).where(UserRow.username_key == username.lower())
        if session.execute(taken).first():
            raise ConflictError(f"username: {username!r} is taken (case does not matter)")
        patient_id = None
        if patient_code:
            patient = session.execute(
                select(PatientRow).where(
                    PatientRow.site_id == site.id, PatientRow.study_code == patient_code
                )
            ).scalar_one_or_none()
            if patient is None:
                raise NotFound(f"patient: no patient {patient_code!r} at site {site_code!r}")
            patient_id = patient.id
        user = UserRow(
            username=username,
            username_key=username.lower(),
            password_hash=password_hash,
            role=role,
            site_id=site.id,
            patient_id=patient_id,
            email=email,
            is_active=True,
            created_at=now,
        )
        session.add(user)
        try:
            session.flush()
        except IntegrityError as err:
            raise ConflictError(
                f"username: {username!r} is taken, or that patient already has a user"
            ) from err
        audit(
            session,
            actor,
            "create",
            "user",
            user.id,
            at=now,
            site_id=site.id,
            patient_id=patient_id,
            detail={"role": role},
        )
        return UserRead.model_validate(user)


def user_by_name(session: Session, actor: Actor, username: str, action: Action) -> UserRow:
    """The user named ``username`` (case aside) at a site ``action`` reaches; NotFound otherwise."""
    missing = NotFound(f"user: no user {username.strip()[:80]!r}")
    try:
        key = check_username(username).lower()
    except ValidationError:
        raise missing from None
    user = session.execute(select(UserRow).where(UserRow.username_key == key)).scalar_one_or_none()
    if user is None or not sees_site(actor, action, user.site_id):
        raise missing
    return user


def actor_for_user(user: UserRow | UserRead) -> Actor:
    """The Actor that a signed-in user acts as."""
    return Actor(
        role=Role(user.role),
        username=user.username,
        user_id=user.id,
        site_id=user.site_id,
        patient_id=user.patient_id,
    )


def user_actor(db: Database, username: str) -> Actor:
    """The Actor for an existing, active username (for trusted local tools and tests)."""
    return _active_user(db, UserRow.username == username, f"user: no active user {username!r}")


def actor_for_patient(db: Database, patient_id: int) -> Actor:
    """The Actor of the patient user linked to ``patient_id`` (for simulations and tools)."""
    return _active_user(
        db, UserRow.patient_id == patient_id, f"user: patient {patient_id} has no login"
    )


def _active_user(db: Database, which: ColumnElement[bool], missing: str) -> Actor:
    """The Actor of the one active user that ``which`` selects; NotFound(``missing``) if none."""
    with db.transaction() as session:
        user = session.execute(
            select(UserRow).where(which, UserRow.is_active.is_(True))
        ).scalar_one_or_none()
        if user is None:
            raise NotFound(missing)
        return actor_for_user(user)


class UserSummary(ReadModel):
    """A user as the admin pages list them (no password hash, no patient identity)."""

    id: int
    username: str
    role: str
    site_code: str | None
    is_active: bool
    linked_to_patient: bool


def _summary(user: UserRow, site_code: str | None) -> UserSummary:
    """What the admin list shows of a stored user."""
    copied = {name: getattr(user, name) for name in ("id", "username", "role", "is_active")}
    return UserSummary(**copied, site_code=site_code, linked_to_patient=user.patient_id is not None)


def list_users(db: Database, actor: Actor, *, clock: Clock = system_clock) -> list[UserSummary]:
    """The users of the administrator's site (every site for the operator), by username."""
    with UnitOfWork(db, actor, Action.LIST_USERS, clock=clock) as (session, now):
        query = (
            select(UserRow, SiteRow.code)
            .join(SiteRow, SiteRow.id == UserRow.site_id, isouter=True)
            .order_by(SiteRow.code, UserRow.username)
        )
        rows = session.execute(scoped(query, actor, Action.LIST_USERS, UserRow.site_id)).all()
        result = [_summary(user, code) for user, code in rows]
        audit(session, actor, "list", "user", None, at=now, detail={"count": len(result)})
        return result
