"""Shared CLI plumbing: the database option, settings, and error translation.

Every failure a user can cause ends as one ``error:`` line on stderr and a non-zero exit code:
``handle_errors`` maps MicroTrial's own errors, ``ErrorBoundaryGroup`` (the root command) the
rest: unreadable or non-UTF-8 files, paths that cannot be written, an unreachable database. An
unexpected exception is a bug, so it is shown as one line naming its type, and in full when
``MICROTRIAL_DEBUG=1``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from microtrial.errors import (
    ConflictError,
    MicroTrialError,
    NotFound,
    PermissionDenied,
    SafetyBlock,
    ValidationError,
)
from microtrial.settings import Settings

if TYPE_CHECKING:
    from typer._click.core import Context as ClickContext

    from microtrial.domain.actors import Actor
    from microtrial.store.db import Database

console = Console()
err_console = Console(stderr=True)

DatabaseUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="SQLAlchemy database URL; defaults to $MICROTRIAL_DATABASE_URL or sqlite:///./microtrial.db",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
AsUserOpt = Annotated[
    str | None,
    typer.Option(
        "--as",
        help="Act as this active user (their role and site apply; the audit names them);"
        " default: the operator (audited as system:cli).",
        show_default=False,
    ),
]

DEBUG_ENV = "MICROTRIAL_DEBUG"
EXIT_BAD_INPUT = 2  # the same code as ValidationError: a file, path or setting the user gave
EXIT_DATABASE_UNAVAILABLE = 9
EXIT_INTERNAL = 1

# Exit codes per error kind, so scripts can tell them apart.
EXIT_CODES: dict[type[MicroTrialError], int] = {
    ValidationError: 2,
    NotFound: 5,
    PermissionDenied: 6,
    ConflictError: 7,
    SafetyBlock: 8,
}


def load_settings(database_url: str | None) -> Settings:
    """Build settings from the environment, with the command-line URL taking precedence."""
    if database_url:
        return Settings(database_url=database_url)
    return Settings()


def describe_url(url: str) -> str:
    """The database URL as shown in messages: its password, if any, masked."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL at all: make_engine names that; show nothing secret here
        return "the configured database"


def _check_sqlite_location(url: str, *, must_exist: bool) -> None:
    """Fail before SQLite creates anything when the file's folder is missing (or the file is)."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:
        return  # make_engine reports a malformed URL with the allowed forms
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return
    path = Path(database)
    if not path.parent.is_dir():
        fail(f"database_url: folder {path.parent} does not exist ({url})", EXIT_BAD_INPUT)
    if must_exist and not path.exists():
        # SQLite would create an empty file here; a typo should not leave one behind.
        fail(
            f"database_url: no database at {path}: run `microtrial db upgrade` to create one",
            EXIT_BAD_INPUT,
        )


def _connection_reason(error: BaseException) -> str:
    """The driver's own first line, e.g. 'Connection refused' or 'unable to open database file'."""
    reason = str(getattr(error, "orig", None) or error).strip()
    return reason.splitlines()[0] if reason else type(error).__name__


@contextmanager
def open_db(database_url: str | None, *, migrated: bool = True) -> Iterator[Database]:
    """Open the configured database (reachable, and migrated unless not) and close it afterwards."""
    from sqlalchemy.exc import SQLAlchemyError

    from microtrial.store.db import Database

    with handle_errors():
        settings = load_settings(database_url)
        _check_sqlite_location(settings.database_url, must_exist=migrated)
        db = Database.from_settings(settings)
    try:
        try:
            with db.engine.connect():
                pass
        except SQLAlchemyError as err:
            fail(
                f"database: cannot connect to {describe_url(settings.database_url)}: "
                f"{_connection_reason(err)}",
                EXIT_DATABASE_UNAVAILABLE,
            )
        if migrated:
            with handle_errors():
                db.require_schema()
        yield db
    finally:
        db.dispose()


def acting_user(db: Database, username: str | None) -> Actor:
    """The actor a command acts as: the named active user, or the operator when none is named."""
    from microtrial.domain.actors import system_actor
    from microtrial.services.admin import user_actor

    return system_actor() if username is None else user_actor(db, username)


def check_output(path: Path, option: str, *, folder: bool = False) -> None:
    """Fail, before any work is done, when ``path`` (a file, or a folder) cannot be written there.

    Commands write their files whole through a temporary file in the same folder, so what must
    hold is: the path is not the wrong kind of thing, and its nearest existing folder is writable
    (missing folders below it are created).
    """
    where = f"{option} {path}"
    if path.exists():
        if folder and not path.is_dir():
            fail(f"{where}: is a file, not a folder", EXIT_BAD_INPUT)
        if not folder and path.is_dir():
            fail(f"{where}: is a folder, not a file", EXIT_BAD_INPUT)
    ancestor = path if folder and path.is_dir() else path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        fail(f"{where}: {ancestor} is a file, not a folder", EXIT_BAD_INPUT)
    if not os.access(ancestor, os.W_OK | os.X_OK):
        fail(f"{where}: folder {ancestor} is not writable", EXIT_BAD_INPUT)


def read_input(path: Path, *, utf8: bool = True) -> bytes:
    """An input text file's bytes; refused, naming the file, if unreadable, binary or not UTF-8.

    ``utf8=False`` leaves the encoding to the reader (a REDCap dictionary may be Windows-1252).
    """
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ValidationError(str(path), f"cannot read: {err.strerror}") from err
    if b"\x00" in data:
        raise ValidationError(str(path), "binary data (NUL bytes), not text; save it as UTF-8 text")
    if not utf8:
        return data
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ValidationError(
            str(path),
            f"not UTF-8 text (byte 0x{data[err.start]:02x} at offset {err.start}); "
            "save it as UTF-8",
        ) from err
    return data


def read_input_text(path: Path) -> str:
    """An input text file as a string (UTF-8, a leading byte-order mark dropped)."""
    return read_input(path).decode("utf-8-sig")


def fail(message: str, code: int = 2) -> NoReturn:
    """Print one error line to stderr and exit with ``code``."""
    # Escaped: a message quoting user input ("[x]") must not be read as Rich markup.
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def exit_code_for(error: MicroTrialError) -> int:
    """Map an error to the CLI's exit code."""
    for kind, code in EXIT_CODES.items():
        if isinstance(error, kind):
            return code
    return 1


@contextmanager
def handle_errors() -> Iterator[None]:
    """Turn MicroTrial errors raised inside the block into one line and an exit code."""
    try:
        yield
    except MicroTrialError as error:
        fail(str(error), exit_code_for(error))


def _boundary_message(error: Exception) -> tuple[str, int] | None:
    """The one line and exit code for a failure the user can cause; None for a bug."""
    if isinstance(error, MicroTrialError):
        return str(error), exit_code_for(error)
    if isinstance(error, UnicodeDecodeError):
        return f"input is not UTF-8 text ({error.reason} at offset {error.start})", EXIT_BAD_INPUT
    if isinstance(error, OSError) and error.filename is not None:
        return f"{error.filename}: {error.strerror or error}", EXIT_BAD_INPUT
    sa_exc = sys.modules.get("sqlalchemy.exc")  # only loaded if a command used the database
    if sa_exc is not None and isinstance(error, sa_exc.OperationalError):
        return f"database: {_connection_reason(error)}", EXIT_DATABASE_UNAVAILABLE
    return None


class ErrorBoundaryGroup(TyperGroup):
    """The root command: whatever a subcommand lets escape ends as one line and an exit code."""

    def invoke(self, ctx: ClickContext) -> Any:
        """Run the chosen subcommand inside the error boundary."""
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):  # usage errors, --help, exits
            raise
        except BrokenPipeError:  # the reader went away (`... | head`): main() stops quietly
            raise
        except Exception as error:
            known = _boundary_message(error)
            if known is not None:
                fail(*known)
            if os.environ.get(DEBUG_ENV):
                raise
            fail(
                f"internal error: {type(error).__name__}: {error} "
                f"(run with {DEBUG_ENV}=1 for the traceback)",
                EXIT_INTERNAL,
            )


def read_secret(prompt_text: str, from_stdin: bool) -> str:
    """Read a password from stdin (one line) or an interactive, confirmed prompt."""
    if from_stdin:
        secret = sys.stdin.readline().rstrip("\n")
    else:
        secret = typer.prompt(prompt_text, hide_input=True, confirmation_prompt=True)
    return secret
