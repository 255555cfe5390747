"""Template rendering: the Jinja2 environment and the context every page gets."""

from __future__ import annotations

import re
import weakref
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, PackageLoader, pass_context, select_autoescape
from jinja2.runtime import Context

from microtrial.domain.access import Action, user_may
from microtrial.domain.actors import Actor
from microtrial.http.deps import AppContext, get_context
from microtrial.services.alerts import overdue_alerts
from microtrial.services.report_data import is_demo_database
from microtrial.web.forms import FormState, plain_message
from microtrial.web.session import read_session


@dataclass(frozen=True)
class NavLink:
    """A main-navigation link, shown to whoever the access policy allows its ``action``."""

    path: str
    label: str
    action: Action


TODAY = NavLink("/today", "Today", Action.USE_PATIENT_APP)
PATIENTS = NavLink("/clinic/patients", "Patients", Action.USE_CLINIC_PAGES)
KITS = NavLink("/pharmacy/kits", "Kits", Action.SEE_ALLOCATION)
COHORT = NavLink("/research", "Cohort", Action.USE_RESEARCH_PAGES)
ADMIN = NavLink("/admin", "Sites and users", Action.ADMINISTER)
# Every user sees the links they may use, in this order. The alert list is open to all clinic
# staff, but only those who act on alerts get it in their navigation.
NAV: tuple[NavLink, ...] = (
    TODAY,
    NavLink("/questionnaires/phq9", "Mood", Action.USE_PATIENT_APP),
    NavLink("/history", "History", Action.USE_PATIENT_APP),
    NavLink("/account/reminders", "Reminders", Action.SET_REMINDERS),
    PATIENTS,
    NavLink("/clinic/alerts", "Alerts", Action.ACKNOWLEDGE_ALERT),
    NavLink("/clinic/enrol", "Enrol", Action.ENROL_PATIENT),
    KITS,
    COHORT,
    ADMIN,
)
# Where a user lands after signing in: the first of these they may use. The pharmacy's daily
# work is the kit sheet, so it comes before the patient list it shares with clinicians.
LANDING: tuple[NavLink, ...] = (KITS, TODAY, PATIENTS, COHORT, ADMIN)


def landing_page(actor: Actor) -> str | None:
    """The page ``actor`` starts on; None when no page is for them."""
    return next((link.path for link in LANDING if user_may(actor, link.action)), None)


HEADINGS = {
    401: "Please sign in",
    403: "Not allowed",
    404: "Not found",
    409: "That cannot be done now",
    412: "Changed by someone else",
    413: "Too much data",
    422: "Please check what you entered",
    423: "Stopped for safety",
    429: "Too many attempts",
}


@cache
def templates() -> Jinja2Templates:
    """The page templates (built on first use, not at import)."""
    env = Environment(
        loader=PackageLoader("microtrial.web", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["form_for"] = form_for
    env.filters["headline"] = headline
    return Jinja2Templates(env=env)


def headline(message: str) -> str:
    """The first clause of an alert's message, to name it (its code is an internal id)."""
    return re.split(r"; |: |\. ", message, maxsplit=1)[0].rstrip(".")


@pass_context
def form_for(context: Context, key: str) -> FormState | None:
    """In a template: the page's refused form if it is form ``key`` (else none)."""
    form = context.get("form")
    return form if isinstance(form, FormState) and form.key == key else None


def static_dir() -> str:
    """Where the stylesheet and scripts live."""
    return str(files("microtrial.web") / "static")


def nav_for(actor: Actor | None) -> tuple[tuple[str, str], ...]:
    """The main navigation of a signed-in user: (path, label) of each link they may use."""
    if actor is None:
        return ()
    return tuple((link.path, link.label) for link in NAV if user_may(actor, link.action))


def render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    *,
    status: int = 200,
    actor: Actor | None = None,
    csrf_token: str | None = None,
) -> HTMLResponse:
    """Render a page with the signed-in user, navigation and CSRF token."""
    app_context = get_context(request)
    session = read_session(app_context, request)
    if actor is None and session is not None:
        actor = session.actor
    if csrf_token is None and session is not None:
        csrf_token = session.csrf
    page: dict[str, Any] = {
        "user": actor,
        "nav": nav_for(actor),
        "csrf_token": csrf_token or "",
        "patient_facing": actor is None or user_may(actor, Action.USE_PATIENT_APP),
        "escalated": escalated_for(app_context, actor),
        "simulated": simulated_data(app_context),
    }
    page.update(context or {})
    return templates().TemplateResponse(request, name, page, status_code=status)


_DEMO: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()  # database -> demo?


def simulated_data(context: AppContext) -> bool:
    """Whether the server runs on the demo clinic's database (asked once per database)."""
    if context.db not in _DEMO:
        _DEMO[context.db] = is_demo_database(context.db)
    return _DEMO[context.db]


def age_text(hours: float) -> str:
    """An alert's age in words: "30 h" or "3 d 4 h"."""
    whole = int(hours)
    return f"{whole} h" if whole < 48 else f"{whole // 24} d {whole % 24} h"


def escalated_for(context: AppContext, actor: Actor | None) -> list[tuple[Any, str]]:
    """Escalated alerts of a staff member's site with their age, for the banner on every page."""
    if actor is None or actor.site_id is None or not user_may(actor, Action.LIST_ALERTS):
        return []
    now = context.clock()
    return [
        (a, age_text((now - a.created_at).total_seconds() / 3600))
        for a in overdue_alerts(context.db, actor, clock=context.clock)
    ]


def render_form(
    request: Request,
    name: str,
    context: dict[str, Any],
    form: FormState,
) -> HTMLResponse:
    """Draw a page again around its refused form: typed values kept, the error beside its field."""
    page = {**context, "form": form, "error": form.message}
    return render(request, name, page, status=form.status)


def render_error(request: Request, status: int, message: str) -> HTMLResponse:
    """An error page for a status (internal field names replaced by their labels)."""
    heading = HEADINGS.get(status, "Something went wrong")
    return render(
        request,
        "error.html",
        {"status": status, "heading": heading, "message": plain_message(message)},
        status=status,
    )
