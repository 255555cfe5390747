"""Cursor pagination, ETags and Idempotency-Key handling shared by the API routes."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Generic, Protocol, TypeVar

from fastapi import Depends, Header, Query, Response
from pydantic import BaseModel

from microtrial.errors import NotFound, ValidationError
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


@dataclass(frozen=True)
class PageRequest:
    """The cursor and page size a list request asked for."""

    cursor: str | None
    limit: int

    def of(self, items: Sequence[T], key: Callable[[T], Key]) -> Page[T]:
        """The requested page of ``items`` ordered by ``key``."""
        return paginate(items, key, self.cursor, self.limit)


async def _page_request(cursor: CursorQuery = None, limit: LimitQuery = 50) -> PageRequest:
    # async: FastAPI runs a sync dependency in the thread pool, a hop per request for nothing.
    return PageRequest(cursor, limit)


PageQuery = Annotated[PageRequest, Depends(_page_request)]


def tagged(response: Response, version: int) -> None:
    """Give the response the ETag of ``version``."""
    response.headers["ETag"] = etag_for(version)


class _Versioned(Protocol):
    @property
    def version(self) -> int: ...


VR = TypeVar("VR", bound=_Versioned)


@dataclass(frozen=True)
class Precondition:
    """An update's If-Match header and the response its new ETag goes on."""

    if_match: str | None
    response: Response

    def expected(self) -> int:
        """The version If-Match names (428 without one, as ``expected_version``)."""
        return expected_version(self.if_match)

    def tag(self, version: int) -> None:
        """Give the response the ETag of the new ``version``."""
        tagged(self.response, version)

    def apply(self, change: Callable[[int], VR]) -> VR:
        """Run ``change`` at the version If-Match names; the response gets the new ETag."""
        new = change(self.expected())
        self.tag(new.version)
        return new


async def _precondition(response: Response, if_match: IfMatchHeader = None) -> Precondition:
    # Only reads the header: a missing If-Match is refused (428) by the handler, after the
    # request has been validated, as before.
    return Precondition(if_match, response)


PreconditionDep = Annotated[Precondition, Depends(_precondition)]


class _Record(Protocol):
    @property
    def record_id(self) -> str: ...


R = TypeVar("R", bound=_Record)


def current_record(items: Sequence[R], record_id: str, kind: str) -> R:
    """The item with ``record_id`` (NotFound naming ``kind`` when there is none)."""
    for item in items:
        if item.record_id == record_id:
            return item
    raise NotFound(f"{kind}: no {kind} {record_id}")
