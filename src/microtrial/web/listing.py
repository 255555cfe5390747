"""Reading a list page's page, size and sort from its query string, and its pager links."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from fastapi import Request

from microtrial import i18n
from microtrial.domain.paging import (
    DEFAULT_PAGE_SIZE,
    ListRequest,
    PageInfo,
    check_page,
    check_size,
)
from microtrial.errors import ValidationError
from microtrial.i18n import N_
from microtrial.web.rendering import page_language


def whole_number(raw: str | None, field: str, default: int) -> int:
    """A whole number from the query string (ValidationError naming the field otherwise)."""
    if raw is None or not raw.strip():
        return default
    if not raw.strip().isdigit() or len(raw.strip()) > 9:
        raise ValidationError(field, "enter a whole number", value=raw, allowed=">= 1")
    return int(raw)


def list_request(
    request: Request, default_size: int = DEFAULT_PAGE_SIZE, page_param: str = "page"
) -> ListRequest:
    """The window a list page asks for: ``page`` (from 1; ``page_param`` where a page holds
    two lists), ``size`` rows and ``sort``."""
    params = request.query_params
    page = check_page(whole_number(params.get(page_param), page_param, 1), page_param)
    size = check_size(whole_number(params.get("size"), "size", default_size), "size")
    return ListRequest(offset=(page - 1) * size, size=size, sort=params.get("sort", "")[:40])


@dataclass(frozen=True)
class Pager:
    """What a list page shows under its list: the count in words (in the page's language)
    and the page links."""

    showing: str
    page: int
    pages: int
    previous: str | None
    following: str | None


NONE_TO_SHOW = N_("none to show")
NONE_ON_PAGE = N_("none of %(total)s on this page")
SHOWING = N_("showing %(first)s–%(last)s of %(total)s")


def showing_words(info: PageInfo, language: str) -> str:
    """The count of a list in words, capitalised, in ``language`` (English: ``showing()``)."""
    if language == i18n.DEFAULT:
        return info.showing().capitalize()
    total = i18n.format_number(info.total, language)
    if info.total == 0:
        text = i18n.gettext(NONE_TO_SHOW, language)
    elif info.shown == 0:
        text = i18n.gettext(NONE_ON_PAGE, language) % {"total": total}
    else:
        first = i18n.format_number(info.offset + 1, language)
        last = i18n.format_number(info.offset + info.shown, language)
        words = i18n.gettext(SHOWING, language)
        text = words % {"first": first, "last": last, "total": total}
    return text[:1].upper() + text[1:]


def pager(request: Request, info: PageInfo, page_param: str = "page") -> Pager:
    """The pager of ``info``, its links keeping every filter of the request."""

    def link(offset: int | None) -> str | None:
        if offset is None:
            return None
        params = dict(request.query_params)
        params[page_param] = str(offset // info.size + 1)
        return f"{request.url.path}?{urlencode(params)}"

    return Pager(
        showing=showing_words(info, page_language(request)),
        page=info.page,
        pages=info.pages,
        previous=link(info.previous_offset),
        following=link(info.next_offset),
    )
