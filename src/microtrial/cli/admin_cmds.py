"""``microtrial site`` and ``microtrial user``."""

from __future__ import annotations

from typing import Annotated

import typer

from microtrial.cli.common import DatabaseUrlOpt, console, handle_errors, open_db, read_secret
from microtrial.domain.actors import USER_ROLES, check_role, system_actor
from microtrial.domain.patients import check_username

site_app = typer.Typer(help="Manage sites.", no_args_is_help=True)
user_app = typer.Typer(help="Manage users.", no_args_is_help=True)


@site_app.command("add")
def site_add(
    code: Annotated[str, typer.Argument(help="Short unique site code, e.g. LON1.")],
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    database_url: DatabaseUrlOpt = None,
) -> None:
    """Create a site."""
    from microtrial.services import admin

    with open_db(database_url) as db, handle_errors():
        site = admin.add_site(db, system_actor(), code, name)
    console.print(f"site {site.code} created (id {site.id})")


@site_app.command("backfill-days")
def site_backfill_days(
    code: Annotated[str, typer.Argument(help="The site's code.")],
    days: Annotated[
        int | None,
        typer.Argument(help="Days back a diary entry may be dated (omit for the default, 7)."),
    ] = None,
    database_url: DatabaseUrlOpt = None,
) -> None:
    """Set a site's diary backfill window."""
    from microtrial.services import admin

    with open_db(database_url) as db, handle_errors():
        admin.set_backfill_days(db, system_actor(), code, days)
    console.print(f"site {code}: backfill window {'default' if days is None else days} days")


@site_app.command("crisis-lines")
def site_crisis_lines(
    code: Annotated[str, typer.Argument(help="The site's code.")],
    lines: Annotated[
        list[str] | None,
        typer.Argument(
            help='Lines as "LABEL=NUMBER", e.g. "Samaritans=116 123" (none: the default set).'
        ),
    ] = None,
    database_url: DatabaseUrlOpt = None,
) -> None:
    """Set the crisis lines a site's patients are shown (as tap-to-call links)."""
    from microtrial.errors import ValidationError
    from microtrial.services import admin

    with open_db(database_url) as db, handle_errors():
        pairs = []
        for line in lines or []:
            label, sep, number = line.partition("=")
            if not sep:
                raise ValidationError("lines", f"{line!r} has no '='", allowed='"LABEL=NUMBER"')
            pairs.append((label, number))
        admin.set_crisis_lines(db, system_actor(), code, pairs or None)
    shown = ", ".join(f"{label.strip()} {number.strip()}" for label, number in pairs)
    console.print(f"site {code}: crisis lines {shown or 'the default set'}")


@site_app.command("list")
def site_list(database_url: DatabaseUrlOpt = None) -> None:
    """List sites."""
    from microtrial.services import admin

    with open_db(database_url) as db, handle_errors():
        for site in admin.list_sites(db, system_actor()):
            console.print(f"{site.code}\t{site.name}")


@user_app.command("add")
def user_add(
    site: Annotated[str, typer.Option("--site", help="Site code.")],
    role: Annotated[str, typer.Option("--role", help=f"One of: {', '.join(USER_ROLES)}.")],
    username: Annotated[str, typer.Option("--username", help="Login name.")],
    patient: Annotated[
        str | None, typer.Option("--patient", help="Study code (patient users only).")
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    email: Annotated[
        str | None, typer.Option("--email", help="E-mail for reminders and password resets.")
    ] = None,
    database_url: DatabaseUrlOpt = None,
) -> None:
    """Create a user; the password comes from a prompt or --password-stdin."""
    from microtrial.services import admin

    with handle_errors():
        check_role(role)
        username = check_username(username)
    with open_db(database_url) as db, handle_errors():
        password = read_secret("Password", password_stdin)
        user = admin.add_user(
            db,
            system_actor(),
            site_code=site,
            role=role,
            username=username,
            password=password,
            patient_code=patient,
            email=email,
        )
    console.print(f"user {user.username} ({user.role}) created")


@user_app.command("set-password")
def user_set_password(
    username: Annotated[str, typer.Argument(help="Login name.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    database_url: DatabaseUrlOpt = None,
) -> None:
    """Set a user's new password (same rules as a new user's; reset links and sessions end)."""
    from microtrial.services import passwords

    with open_db(database_url) as db, handle_errors():
        password = read_secret("New password", password_stdin)
        passwords.set_user_password(db, system_actor(), username, password)
    console.print(f"new password for {username} set")


UsernameArg = Annotated[str, typer.Argument(help="Login name (case does not matter).")]


@user_app.command("deactivate")
def user_deactivate(username: UsernameArg, database_url: DatabaseUrlOpt = None) -> None:
    """Deactivate a user: no more sign-ins; their sessions and API tokens end at once."""
    from microtrial.services import users

    with open_db(database_url) as db, handle_errors():
        users.set_active(db, system_actor(), username, False)
    console.print(f"user {username} deactivated; their sessions and tokens have ended")


@user_app.command("reactivate")
def user_reactivate(username: UsernameArg, database_url: DatabaseUrlOpt = None) -> None:
    """Let a deactivated user sign in again."""
    from microtrial.services import users

    with open_db(database_url) as db, handle_errors():
        users.set_active(db, system_actor(), username, True)
    console.print(f"user {username} reactivated")


@user_app.command("set-role")
def user_set_role(
    username: UsernameArg,
    role: Annotated[str, typer.Argument(help=f"One of: {', '.join(USER_ROLES)}.")],
    database_url: DatabaseUrlOpt = None,
) -> None:
    """Give a staff user another role; their sessions and API tokens end at once."""
    from microtrial.services import users

    with open_db(database_url) as db, handle_errors():
        users.set_role(db, system_actor(), username, role)
    console.print(f"user {username} is now {role}; their sessions and tokens have ended")


def register(app: typer.Typer) -> None:
    """Add the site and user command groups."""
    app.add_typer(site_app, name="site")
    app.add_typer(user_app, name="user")
