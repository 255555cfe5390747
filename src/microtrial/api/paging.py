"""Cursor pagination, ETags and Idempotency-Key handling shared by the API routes."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from typing import Annotated, Generic, TypeVar

from fastapi import Header, Query
from pydantic import BaseModel

from microtrial.errors import ValidationError
from microtrial.http.errors import PreconditionRequired

T = TypeVar("T")
MAX_PAGE = 100
Key = tuple[str | int, ...]


class Page(BaseModel, Generic[T]):
    """One page of a list; pass ``next_cursor`` back as ``cursor`` for the next one."""

    items: list[T]
    next_cursor: str | None = None


CursorQuery = Annotated[
    str | None, Query(description="Opaque cursor from the previous page's next_cursor.")
]
LimitQuery = Annotated[int, Query(ge=1, le=MAX_PAGE, description="Items per page (at most 100).")]
IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Client-generated key: a retried create with the same key lands once.",
    ),
]
IfMatchHeader = Annotated[
    str | None, Header(alias="If-Match", description="The ETag of the version being updated.")
]


def encode_cursor(key: Key) -> str:
    """An opaque cursor for the position after ``key``."""
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> Key:
    """The key a cursor names; ValidationError naming ``cursor`` when it is malformed."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError) as err:
        raise ValidationError("cursor", "malformed cursor", value=cursor) from err
    if not isinstance(value, list) or not all(
        isinstance(v, str | int) and not isinstance(v, bool) for v in value
    ):
        raise ValidationError("cursor", "malformed cursor", value=cursor)
    return tuple(value)


def paginate(
    items: Sequence[T], key: Callable[[T], Key], cursor: str | None, limit: int
) -> Page[T]:
    """The page of ``items`` (ordered by ``key``) that follows ``cursor``."""
    ordered = sorted(items, key=key)
    if cursor is not None:
        after = decode_cursor(cursor)
        try:
            ordered = [item for item in ordered if key(item) > after]
        except TypeError as err:
            raise ValidationError("cursor", "cursor does not fit this list") from err
    page = ordered[:limit]
    more = len(ordered) > limit
    return Page[T](items=page, next_cursor=encode_cursor(key(page[-1])) if more else None)


def etag_for(version: int) -> str:
    """The ETag of a resource version."""
    return f'"{version}"'


def expected_version(if_match: str | None) -> int:
    """The version an If-Match header names: 428 without one, 412 when it names none."""
    if if_match is None or not if_match.strip():
        raise PreconditionRequired()
    tag = if_match.strip().split(",")[0].strip()
    if tag.startswith("W/"):
        tag = tag[2:]
    tag = tag.strip('"')
    if tag == "*":  # "any version" would defeat the check: ask for a real one
        raise PreconditionRequired()
    return int(tag) if tag.isdigit() else -1  # an unknown tag matches no version: 412
