"""Every request's path and query parameters: no control characters (a 422 naming the field).

Request bodies are checked by their schemas (``api/schemas.py``) and the web forms' values by
``web.session``; this covers the URL, so that a NUL byte never reaches a query (PostgreSQL
cannot take one) on any route, API or page.
"""

from __future__ import annotations

from fastapi import Request

from microtrial.domain.inputs import check_text


async def plain_request(request: Request) -> None:
    """Refuse a path or query parameter holding a control character (ValidationError: 422)."""
    for name, value in request.path_params.items():
        if isinstance(value, str):
            check_text(name, value)
    for name, value in request.query_params.multi_items():
        check_text(name, value)
