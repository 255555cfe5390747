"""Paging, sorting and counting of list queries in SQL: the one helper every list uses.

A list hands :func:`fetch_page` its scoped, filtered query, the caller's
:class:`~microtrial.domain.paging.ListRequest` and its :class:`Listing` (the whitelist of sort
columns). Two statements run whatever the list's length: a count and the ordered window, with
the row id as the last sort key so that the order is total and pages never overlap.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Row, Select, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from microtrial.domain.paging import ListRequest, PageInfo, check_offset, check_size, parse_sort

T = TypeVar("T")
U = TypeVar("U")
Column = ColumnElement[Any] | InstrumentedAttribute[Any]


@dataclass(frozen=True)
class Listing:
    """The columns a list may be sorted by (by name), its default sort and its unique id column."""

    columns: Mapping[str, Column]
    default: str
    tie: Column

    @classmethod
    def of(cls, row: Any, *names: str, default: str, **columns: Column) -> Listing:
        """Sortable by ``row``'s columns of these names, then by any others given; ties broken by
        ``row.id``."""
        return cls({**{name: getattr(row, name) for name in names}, **columns}, default, row.id)

    @property
    def sorts(self) -> tuple[str, ...]:
        """The whitelisted sort names."""
        return tuple(self.columns)


@dataclass(frozen=True)
class Paged(Generic[T]):
    """One page of a list and where it lies in the list."""

    items: list[T]
    info: PageInfo

    def map(self, convert: Callable[[T], U]) -> Paged[U]:
        """The same page with every item converted."""
        return Paged([convert(item) for item in self.items], self.info)


def fetch_page(
    session: Session,
    query: Select[Any],
    request: ListRequest,
    listing: Listing,
    *,
    clamp: bool = False,
    lead: Sequence[ColumnElement[Any]] = (),
) -> tuple[Sequence[Row[Any]], PageInfo]:
    """The rows of ``query`` in the requested window and order, with the list's total.

    ``clamp`` moves a window past the end onto the last page (a web link from a longer list);
    otherwise such a window is empty. Sorting by anything but the whitelist is refused.
    ``lead`` are order keys that go before the requested sort (e.g. escalated alerts first).
    """
    key = parse_sort(request.sort, listing.sorts, listing.default)
    size = check_size(request.size)
    offset = check_offset(request.offset)
    total = session.execute(
        select(func.count()).select_from(query.order_by(None).subquery())
    ).scalar_one()
    if clamp and offset >= total:
        offset = max(0, (total - 1) // size * size)
    column = listing.columns[key.field]
    order = (
        (column.desc(), listing.tie.desc()) if key.descending else (column.asc(), listing.tie.asc())
    )
    rows = session.execute(query.order_by(*lead, *order).offset(offset).limit(size)).all()
    return rows, PageInfo(offset=offset, size=size, total=total, sort=key.text, shown=len(rows))
