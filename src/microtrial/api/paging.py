"""Cursor pagination, ETags and Idempotency-Key handling shared by the API routes.

Lists the database pages (``services.paging``) take ``cursor``, ``limit`` and ``sort`` and
answer ``total``; their cursor names a position in the sorted list. Short per-patient lists
still page a list the service returned (``paginate``), with the same parameters but no sort.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Generic, Protocol, TypeVar

from fastapi import Depends, Header, Query, Response
from pydantic import BaseModel

from microtrial.domain.actors import Actor
from microtrial.domain.paging import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, ListRequest, check_offset
from microtrial.errors import NotFound, ValidationError
from microtrial.http.deps import ActorDep, AppContext, ContextDep
from microtrial.http.errors import PreconditionRequired
from microtrial.services.paging import Paged

T = TypeVar("T")
MAX_PAGE = MAX_PAGE_SIZE
_AT = "at"  # first element of a positional cursor: ["at", offset, sort]
Key = tuple[str | int, ...]


class Page(BaseModel, Generic[T]):
    """One page of a list; pass ``next_cursor`` back as ``cursor`` for the next one."""

    items: list[T]
    next_cursor: str | None = None
    total: int | None = None  # rows in the whole (filtered) list


CursorQuery = Annotated[
    str | None, Query(description="Opaque cursor from the previous page's next_cursor.")
]
LimitQuery = Annotated[
    int, Query(ge=1, le=MAX_PAGE, description=f"Items per page (at most {MAX_PAGE}).")
]
SortQuery = Annotated[
    str,
    Query(
        max_length=40,
        description="Sort key, '-' first for descending (each list names its keys); ties by id.",
    ),
]
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
    cursor_out = encode_cursor(key(page[-1])) if more else None
    # the whole list is at hand: its length is the total, as the database-paged lists give it
    return Page[T](items=page, next_cursor=cursor_out, total=len(items))


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
    """The cursor, page size and sort a list request asked for."""

    cursor: str | None
    limit: int
    sort: str = ""

    def of(self, items: Sequence[T], key: Callable[[T], Key]) -> Page[T]:
        """The requested page of ``items`` ordered by ``key`` (a list without sort keys)."""
        if self.sort:
            raise ValidationError("sort", "this list has one order", value=self.sort, allowed="")
        return paginate(items, key, self.cursor, self.limit)

    def listing(self) -> ListRequest:
        """The window of a database-paged list this request names."""
        offset = 0
        if self.cursor is not None:
            value = decode_cursor(self.cursor)
            if len(value) != 3 or value[0] != _AT or not isinstance(value[1], int):
                raise ValidationError("cursor", "cursor does not fit this list", value=self.cursor)
            if value[2] != self.sort:
                raise ValidationError(
                    "cursor", "cursor belongs to another sort; keep sort as it was", value=value[2]
                )
            offset = check_offset(value[1])
        return ListRequest(offset=offset, size=self.limit, sort=self.sort)

    def page(self, found: Paged[T]) -> Page[T]:
        """The API page of a database-paged list, its cursor naming the next position."""
        info = found.info
        following = info.offset + info.shown
        more = info.shown > 0 and following < info.total
        cursor = encode_cursor((_AT, following, self.sort)) if more else None
        return Page[T](items=found.items, next_cursor=cursor, total=info.total)


async def _page_request(
    cursor: CursorQuery = None, limit: LimitQuery = DEFAULT_PAGE_SIZE, sort: SortQuery = ""
) -> PageRequest:
    # async: FastAPI runs a sync dependency in the thread pool, a hop per request for nothing.
    return PageRequest(cursor, limit, sort)


PageQuery = Annotated[PageRequest, Depends(_page_request)]


@dataclass(frozen=True)
class PatientPages:
    """A request for one page of a patient's database-paged list (diary entries, trials, ...)."""

    context: AppContext
    actor: Actor
    patient_id: int
    request: PageRequest

    def of(self, fetch: Callable[..., Paged[T]], **filters: str) -> Page[T]:
        """The page that ``fetch`` (a service's ``*_page(db, actor, patient_id, ...)``) finds."""
        listing = self.request.listing()
        context = self.context
        found = fetch(
            context.db, self.actor, self.patient_id, listing, clock=context.clock, **filters
        )
        return self.request.page(found)


def _patient_pages(
    context: ContextDep, actor: ActorDep, patient_id: int, page: PageQuery
) -> PatientPages:
    return PatientPages(context, actor, patient_id, page)


PatientPagesQuery = Annotated[PatientPages, Depends(_patient_pages)]


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
