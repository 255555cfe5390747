"""Install the web pages on the app: routers, static files, plotly.js, login redirects."""

from __future__ import annotations

import gzip
from functools import cache
from importlib.resources import files

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from microtrial.http.errors import LoginRequired, is_api
from microtrial.web import (
    account_pages,
    admin_pages,
    adverse_event_pages,
    app_shell,
    attack_pages,
    auth_pages,
    clinic_pages,
    diary_pages,
    history_pages,
    patient_pages,
    patient_record_pages,
    pharmacy_pages,
    reminder_pages,
    result_pages,
    trial_pages,
    worklist_pages,
)
from microtrial.web.rendering import render_error, static_dir
from microtrial.web.session import login_redirect_target

__all__ = ["install", "render_error"]


def plotly_js_path() -> str:
    """The plotly.min.js bundled with the plotly package (served locally, no CDN)."""
    return str(files("plotly") / "package_data" / "plotly.min.js")


@cache
def gzipped(path: str) -> bytes:
    """A file's gzip-compressed bytes, made once per process (plotly.js: 4.8 MB -> 1.5 MB, which
    would otherwise block the event loop for most of a second on every request)."""
    with open(path, "rb") as file:
        return gzip.compress(file.read(), compresslevel=6)


# Every module with page routes, in the order their routers are added (the route table the
# language test walks: tests/integration/api/test_languages.py).
PAGE_MODULES = (
    app_shell,
    auth_pages,
    account_pages,
    patient_pages,
    history_pages,
    reminder_pages,
    diary_pages,
    attack_pages,
    worklist_pages,
    clinic_pages,
    adverse_event_pages,
    patient_record_pages,
    trial_pages,
    pharmacy_pages,
    result_pages,
    admin_pages,
)


def install(app: FastAPI) -> None:
    """Add every page router and the static files to ``app``."""
    for module in PAGE_MODULES:
        app.include_router(module.router)
    plotly_js = plotly_js_path()

    @app.get("/static/vendor/plotly.min.js", include_in_schema=False)
    def plotly_bundle(request: Request) -> Response:
        """plotly.min.js from the installed plotly package (compressed once, when accepted)."""
        headers = {"Cache-Control": "public, max-age=86400", "Vary": "Accept-Encoding"}
        if "gzip" in request.headers.get("accept-encoding", ""):
            headers["Content-Encoding"] = "gzip"
            return Response(gzipped(plotly_js), media_type="text/javascript", headers=headers)
        return FileResponse(plotly_js, media_type="text/javascript", headers=headers)

    app.mount("/static", StaticFiles(directory=static_dir()), name="static")

    async def on_login_required(request: Request, exc: Exception) -> Response:
        """Send an anonymous page request to the login form."""
        if is_api(request):
            return Response(status_code=401)
        return RedirectResponse(login_redirect_target(str(exc) or "/"), status_code=303)

    app.add_exception_handler(LoginRequired, on_login_required)
