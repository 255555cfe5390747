"""Paging and sorting of lists, the pure part: page sizes, sort keys, what a page shows.

Every list of the product (patients, alerts, kits, trials, diary entries) asks for a window of
rows with a :class:`ListRequest`; ``services.paging`` turns it into one counted, ordered SQL
query. Bad values are refused here with the field and what is allowed, before any query runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from microtrial.errors import ValidationError

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100  # the API's bound since its first release
# The deepest offset a list accepts: far beyond any clinic, small enough that a bad link
# cannot make the database skip an absurd number of rows.
MAX_OFFSET = 10_000_000


@dataclass(frozen=True)
class SortKey:
    """A whitelisted column name and its direction."""

    field: str
    descending: bool = False

    @property
    def text(self) -> str:
        """The key as it is written in a query string (``-created_at`` for descending)."""
        return f"-{self.field}" if self.descending else self.field


@dataclass(frozen=True)
class ListRequest:
    """Which window of a list is wanted: rows from ``offset``, ``size`` of them, ``sort``."""

    offset: int = 0
    size: int = DEFAULT_PAGE_SIZE
    sort: str = ""  # "" = the list's default order; "-field" sorts descending

    @classmethod
    def for_page(cls, page: int, size: int = DEFAULT_PAGE_SIZE, sort: str = "") -> ListRequest:
        """The request for 1-based page ``page`` of ``size`` rows (checked)."""
        size = check_size(size)
        return cls(offset=(check_page(page) - 1) * size, size=size, sort=sort)


def check_size(size: int, field: str = "page_size") -> int:
    """``size`` when it is 1 to MAX_PAGE_SIZE; ValidationError naming ``field`` otherwise."""
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise ValidationError(
            field, "rows per page out of range", value=size, allowed=f"1-{MAX_PAGE_SIZE}"
        )
    return size


def check_page(page: int, field: str = "page") -> int:
    """``page`` when it is a page number from 1; ValidationError naming ``field`` otherwise."""
    if not 1 <= page <= MAX_OFFSET:
        raise ValidationError(field, "pages start at 1", value=page, allowed=">= 1")
    return page


def check_offset(offset: int, field: str = "cursor") -> int:
    """``offset`` when it is 0 to MAX_OFFSET; ValidationError naming ``field`` otherwise."""
    if not 0 <= offset <= MAX_OFFSET:
        raise ValidationError(field, "position out of range", value=offset)
    return offset


def parse_sort(raw: str, allowed: Sequence[str], default: str) -> SortKey:
    """The sort key ``raw`` names (``field`` or ``-field``), ``default`` when empty.

    ValidationError naming ``sort`` and every allowed value when the field is not whitelisted.
    """
    text = (raw or default).strip()
    key = SortKey(text[1:], True) if text.startswith("-") else SortKey(text)
    if key.field not in allowed:
        choices = [c for f in allowed for c in (f, f"-{f}")]
        raise ValidationError("sort", "cannot sort by that", value=raw, allowed=choices)
    return key


def check_choice(field: str, value: str, allowed: Sequence[str]) -> str:
    """``value`` when it is empty or one of ``allowed``; ValidationError naming ``field``."""
    if value and value not in allowed:
        raise ValidationError(field, "not a listed choice", value=value, allowed=list(allowed))
    return value


@dataclass(frozen=True)
class PageInfo:
    """Where a page lies in its list: offset, size, how many rows there are, the sort used."""

    offset: int
    size: int
    total: int
    sort: str
    shown: int

    @property
    def page(self) -> int:
        """The 1-based page number."""
        return self.offset // self.size + 1

    @property
    def pages(self) -> int:
        """How many pages of this size the list has (at least 1)."""
        return max(1, -(-self.total // self.size))

    @property
    def has_previous(self) -> bool:
        """Whether rows come before this page."""
        return self.offset > 0

    @property
    def has_next(self) -> bool:
        """Whether rows come after this page."""
        return self.offset + self.shown < self.total

    @property
    def next_offset(self) -> int | None:
        """The offset of the next page; None on the last."""
        return self.offset + self.size if self.has_next else None

    @property
    def previous_offset(self) -> int | None:
        """The offset of the previous page; None on the first."""
        return max(0, self.offset - self.size) if self.has_previous else None

    def showing(self) -> str:
        """In words: ``showing 51–100 of 10,000`` (``none to show`` for an empty list)."""
        if self.total == 0 or self.shown == 0:
            return "none to show" if self.total == 0 else f"none of {self.total:,} on this page"
        first = self.offset + 1
        return f"showing {first:,}–{self.offset + self.shown:,} of {self.total:,}"


def last_offset(total: int, size: int) -> int:
    """The offset of the last page of a list of ``total`` rows in pages of ``size``."""
    return max(0, (total - 1) // size * size)
