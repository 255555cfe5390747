"""The installable app: the web app manifest and the service worker (served from the site root so
that its scope covers the patient pages). What the worker keeps offline is in ``static/sw.js``:
the static files and the signed-in patient's own form pages, never an arm or another patient."""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from microtrial.web.rendering import static_dir

router = APIRouter(include_in_schema=False)

MANIFEST_TYPE = "application/manifest+json"
THEME = "#0a4fb4"
# Every file the worker keeps for offline use (the patient form pages are added as visited).
SHELL_FILES = (
    "app.css",
    "patient.css",
    "app.js",
    "checkin.js",
    "outbox.js",
    "offline.html",
    "offline.js",
    "favicon.svg",
    "icons/icon-192.png",
)


def manifest() -> dict[str, Any]:
    """The web app manifest: the patient's diary opens full screen from the home screen."""
    icons: list[dict[str, str]] = []
    for size in (192, 512):
        icons.append(
            {
                "src": f"/static/icons/icon-{size}.png",
                "sizes": f"{size}x{size}",
                "type": "image/png",
                "purpose": "any",
            }
        )
        icons.append(
            {
                "src": f"/static/icons/maskable-{size}.png",
                "sizes": f"{size}x{size}",
                "type": "image/png",
                "purpose": "maskable",
            }
        )
    return {
        "id": "/today",
        "name": "MicroTrial diary",
        "short_name": "MicroTrial",
        "description": "Your daily trial diary.",
        "start_url": "/today",
        "scope": "/",
        "display": "standalone",
        "orientation": "portrait",
        "background_color": "#ffffff",
        "theme_color": THEME,
        "icons": icons,
    }


@cache
def shell_version() -> str:
    """A digest of the worker and the files it keeps: a new release replaces the offline copies."""
    digest = hashlib.sha256()
    root = Path(static_dir())
    for name in ("sw.js", *SHELL_FILES):
        digest.update(name.encode())
        digest.update((root / name).read_bytes())
    return digest.hexdigest()[:16]


@cache
def worker_script() -> str:
    """``static/sw.js`` with its version and file list filled in."""
    source = (Path(static_dir()) / "sw.js").read_text(encoding="utf-8")
    files = json.dumps([f"/static/{name}" for name in SHELL_FILES])
    return source.replace('"__VERSION__"', json.dumps(shell_version())).replace(
        "__SHELL_FILES__", files
    )


@router.get("/manifest.webmanifest")
def web_manifest() -> Response:
    """The web app manifest, with its own media type."""
    return Response(json.dumps(manifest()), media_type=MANIFEST_TYPE)


@router.get("/sw.js")
def service_worker() -> Response:
    """The service worker, from the root so that its scope is the whole site."""
    # no-cache: the browser asks again on each visit, so a new release takes over at once.
    headers = {"Cache-Control": "no-cache"}
    return Response(worker_script(), media_type="text/javascript", headers=headers)
