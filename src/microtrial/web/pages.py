"""Install the web pages on the app: routers, static files, plotly.js, login redirects."""

from __future__ import annotations

from importlib.resources import files

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from microtrial.http.errors import LoginRequired, is_api
from microtrial.web import (
    admin_pages,
    adverse_event_pages,
    auth_pages,
    clinic_pages,
    patient_pages,
    patient_record_pages,
    pharmacy_pages,
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


def install(app: FastAPI) -> None:
    """Add every page router and the static files to ``app``."""
    for module in (
        auth_pages,
        patient_pages,
        worklist_pages,
        clinic_pages,
        adverse_event_pages,
        patient_record_pages,
        trial_pages,
        pharmacy_pages,
        result_pages,
        admin_pages,
    ):
        app.include_router(module.router)
    plotly_js = plotly_js_path()

    @app.get("/static/vendor/plotly.min.js", include_in_schema=False)
    def plotly_bundle() -> FileResponse:
        """plotly.min.js from the installed plotly package."""
        return FileResponse(
            plotly_js,
            media_type="text/javascript",
            headers={"Cache-Control": "public, max-age=86400"},
        )

    app.mount("/static", StaticFiles(directory=static_dir()), name="static")

    async def on_login_required(request: Request, exc: Exception) -> Response:
        """Send an anonymous page request to the login form."""
        if is_api(request):
            return Response(status_code=401)
        return RedirectResponse(login_redirect_target(str(exc) or "/"), status_code=303)

    app.add_exception_handler(LoginRequired, on_login_required)
