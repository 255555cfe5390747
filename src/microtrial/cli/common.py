"""Shared CLI plumbing: the database option, settings, and error translation."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console

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


@contextmanager
def open_db(database_url: str | None, *, migrated: bool = True) -> Iterator[Database]:
    """Open the configured database (checking it is migrated) and close it afterwards."""
    from microtrial.store.db import Database

    with handle_errors():
        db = Database.from_settings(load_settings(database_url))
    try:
        if migrated:
            with handle_errors():
                db.require_schema()
        yield db
    finally:
        db.dispose()


def fail(message: str, code: int = 2) -> NoReturn:
    """Print one error line to stderr and exit with ``code``."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
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


def read_secret(prompt_text: str, from_stdin: bool) -> str:
    """Read a password from stdin (one line) or an interactive, confirmed prompt."""
    if from_stdin:
        secret = sys.stdin.readline().rstrip("\n")
    else:
        secret = typer.prompt(prompt_text, hide_input=True, confirmation_prompt=True)
    return secret
