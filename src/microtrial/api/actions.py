"""Which access-policy action each route takes, declared on the route for the OpenAPI document.

The services enforce the policy; the declaration names the action so that the access matrix
can be derived from ``microtrial.domain.access.POLICY`` (``x-action``, an OpenAPI extension
field carrying the action's phrase).
"""

from __future__ import annotations

from typing import Any

from microtrial.domain.access import Action

X_ACTION = "x-action"


def takes(action: Action) -> dict[str, Any]:
    """``openapi_extra`` for a route that takes ``action``."""
    return {X_ACTION: action.value}
