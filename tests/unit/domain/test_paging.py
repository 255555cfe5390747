"""The pure part of list paging: sizes, whitelisted sorts, and what a page says it shows."""

from __future__ import annotations

import pytest

from microtrial.domain.paging import (
    MAX_PAGE_SIZE,
    PageInfo,
    SortKey,
    check_choice,
    check_page,
    check_size,
    parse_sort,
)
from microtrial.errors import ValidationError


def test_sort_keys_are_whitelisted_and_a_refusal_names_every_allowed_value() -> None:
    assert parse_sort("", ("id", "created_at"), "-id") == SortKey("id", True)
    assert parse_sort("created_at", ("id", "created_at"), "-id") == SortKey("created_at")
    assert parse_sort("-created_at", ("id", "created_at"), "id").text == "-created_at"
    with pytest.raises(ValidationError) as refused:
        parse_sort("password_hash", ("id", "created_at"), "id")
    assert refused.value.field == "sort"
    assert refused.value.allowed == "id, -id, created_at, -created_at"


@pytest.mark.parametrize("size", [0, -1, MAX_PAGE_SIZE + 1])
def test_page_sizes_are_bounded(size: int) -> None:
    with pytest.raises(ValidationError) as refused:
        check_size(size, "size")
    assert refused.value.field == "size"
    assert refused.value.allowed == f"1-{MAX_PAGE_SIZE}"


def test_pages_start_at_one_and_choices_are_listed() -> None:
    assert check_page(1) == 1
    with pytest.raises(ValidationError, match="page"):
        check_page(0)
    assert check_choice("state", "", ("open", "all")) == ""
    with pytest.raises(ValidationError, match=r"state: .*allowed: open, all"):
        check_choice("state", "closed", ("open", "all"))


def test_a_page_says_which_rows_it_shows_and_where_its_neighbours_are() -> None:
    middle = PageInfo(offset=50, size=50, total=10_000, sort="id", shown=50)
    assert middle.showing() == "showing 51–100 of 10,000"
    assert (middle.page, middle.pages) == (2, 200)
    assert (middle.previous_offset, middle.next_offset) == (0, 100)
    last = PageInfo(offset=9_950, size=50, total=10_000, sort="id", shown=50)
    assert (last.has_next, last.next_offset) == (False, None)
    first = PageInfo(offset=0, size=50, total=3, sort="id", shown=3)
    assert (first.showing(), first.previous_offset, first.pages) == ("showing 1–3 of 3", None, 1)
    assert PageInfo(offset=0, size=50, total=0, sort="id", shown=0).showing() == "none to show"
