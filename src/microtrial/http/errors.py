"""Translate MicroTrial errors into HTTP answers (JSON under /api, HTML pages elsewhere)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from microtrial.errors import (
    ConflictError,
    InvalidFields,
    MicroTrialError,
    NotFound,
    PermissionDenied,
    SafetyBlock,
    StaleVersion,
    ValidationError,
)
from microtrial.http.refusals import audit_refusal

API_PREFIX = "/api/"

STATUS: tuple[tuple[type[MicroTrialError], int], ...] = (
    (ValidationError, 422),
    (NotFound, 404),
    (PermissionDenied, 403),
    (StaleVersion, 412),
    (ConflictError, 409),
    (SafetyBlock, 423),
)


class PreconditionRequired(Exception):
    """An update came without If-Match."""


class LoginRequired(Exception):
    """A page needs a signed-in user of another kind."""


def status_for(error: MicroTrialError) -> int:
    """The HTTP status of a MicroTrial error."""
    for kind, status in STATUS:
        if isinstance(error, kind):
            return status
    return 400


def error_body(error: MicroTrialError) -> dict[str, Any]:
    """The JSON body of an error; validation errors list the field like FastAPI does."""
    if isinstance(error, ValidationError):
        each = error.errors if isinstance(error, InvalidFields) else (error,)
        return {
            "detail": [
                {
                    "loc": [e.field],
                    "field": e.field,
                    "msg": str(e),
                    "type": "value_error",
                    "allowed": e.allowed,
                }
                for e in each
            ]
        }
    body: dict[str, Any] = {"detail": str(error)}
    if isinstance(error, SafetyBlock):
        body["safety"] = True
    return body


def is_api(request: Request) -> bool:
    """Whether the request is for the JSON API."""
    return request.url.path.startswith(API_PREFIX)


def _field_of(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "form")]
    return ".".join(parts) or "body"


def install_error_handlers(app: FastAPI, render_error: Any) -> None:
    """Register the handlers; ``render_error(request, status, message)`` draws HTML pages."""

    async def on_domain_error(request: Request, exc: Exception) -> Response:
        """MicroTrialError -> its status (JSON for the API, a page otherwise)."""
        assert isinstance(exc, MicroTrialError)  # registered for this class only
        status = status_for(exc)
        await audit_refusal(request, exc, status)  # out of scope or forbidden: audited
        if is_api(request):
            return JSONResponse(error_body(exc), status_code=status)
        return render_error(request, status, str(exc))  # type: ignore[no-any-return]

    async def on_request_validation(request: Request, exc: Exception) -> Response:
        """Request parsing errors -> 422 naming each field."""
        assert isinstance(exc, RequestValidationError)
        errors = [
            {
                "loc": list(e.get("loc", ())),
                "field": _field_of(e.get("loc", ())),
                "msg": e.get("msg", ""),
                "type": e.get("type", "value_error"),
            }
            for e in exc.errors()
        ]
        if is_api(request):
            return JSONResponse({"detail": errors}, status_code=422)
        message = "; ".join(f"{e['field']}: {e['msg']}" for e in errors)
        return render_error(request, 422, message)  # type: ignore[no-any-return]

    async def on_precondition(_request: Request, _exc: Exception) -> Response:
        """An update without If-Match -> 428."""
        return JSONResponse(
            {"detail": "this update needs an If-Match header with the resource's ETag"},
            status_code=428,
        )

    async def on_http(request: Request, exc: Exception) -> Response:
        """HTTP errors raised by handlers (401, 403, 429 ...)."""
        assert isinstance(exc, StarletteHTTPException)
        if is_api(request):
            return JSONResponse(
                {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
            )
        response: Response = render_error(request, exc.status_code, str(exc.detail))
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    app.add_exception_handler(MicroTrialError, on_domain_error)
    app.add_exception_handler(RequestValidationError, on_request_validation)
    app.add_exception_handler(PreconditionRequired, on_precondition)
    app.add_exception_handler(StarletteHTTPException, on_http)
