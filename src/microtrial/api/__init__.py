"""The JSON API (``/api/v1``): route modules and their schemas; ``microtrial.http`` serves them."""

from __future__ import annotations

from fastapi import APIRouter

from microtrial.api.routes import (
    alerts,
    auth,
    patients,
    records,
    reminders,
    results,
    screenings,
    trials,
    users,
)

API_V1 = "/api/v1"


def router() -> APIRouter:
    """Every ``/api/v1`` route."""
    v1 = APIRouter(prefix=API_V1)
    for module in (
        auth,
        patients,
        records,
        reminders,
        alerts,
        screenings,
        trials,
        results,
        users,
    ):
        v1.include_router(module.router)
    return v1
