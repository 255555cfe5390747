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

from microtrial import i18n
from microtrial.domain.access import Action, user_may
from microtrial.domain.actors import Actor
from microtrial.domain.substances import substance_title
from microtrial.http.deps import AppContext, get_context
from microtrial.i18n import N_
from microtrial.reports.trial_adaptive import rule_words
from microtrial.reports.trial_prose import analysis_note
from microtrial.services.alerts import overdue_alerts
from microtrial.services.languages import user_language
from microtrial.services.report_data import is_demo_database
from microtrial.web import item_language, staff_words
from microtrial.web.forms import FormState, plain_message
from microtrial.web.refusal_words import form_in_language, refusal_text
from microtrial.web.session import read_session


@dataclass(frozen=True)
class NavLink:
    """A main-navigation link, shown to whoever the access policy allows its ``action``."""

    path: str
    label: str
    action: Action


TODAY = NavLink("/today", N_("Today"), Action.USE_PATIENT_APP)
PATIENTS = NavLink("/clinic/patients", N_("Patients"), Action.USE_CLINIC_PAGES)
KITS = NavLink("/pharmacy/kits", N_("Kits"), Action.SEE_ALLOCATION)
COHORT = NavLink("/research", N_("Cohort"), Action.USE_RESEARCH_PAGES)
ADMIN = NavLink("/admin", N_("Sites and users"), Action.ADMINISTER)
# Every user sees the links they may use, in this order. The alert list is open to all clinic
# staff, but only those who act on alerts get it in their navigation.
NAV: tuple[NavLink, ...] = (
    TODAY,
    NavLink("/questionnaires/phq9", N_("Mood"), Action.USE_PATIENT_APP),
    NavLink("/history", N_("History"), Action.USE_PATIENT_APP),
    NavLink("/account/reminders", N_("Reminders"), Action.SET_REMINDERS),
    PATIENTS,
    NavLink("/clinic/alerts", N_("Alerts"), Action.ACKNOWLEDGE_ALERT),
    NavLink("/clinic/enrol", N_("Enrol"), Action.ENROL_PATIENT),
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


SOMETHING_WRONG = N_("Something went wrong")
HEADINGS = {  # translated when shown
    401: N_("Please sign in"),
    403: N_("Not allowed"),
    404: N_("Not found"),
    409: N_("That cannot be done now"),
    412: N_("Changed by someone else"),
    413: N_("Too much data"),
    422: N_("Please check what you entered"),
    423: N_("Stopped for safety"),
    429: N_("Too many attempts"),
}


@cache
def templates() -> Jinja2Templates:
    """The page templates (built on first use, not at import)."""
    env = Environment(
        loader=PackageLoader("microtrial.web", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    # The callables read the language of the page being rendered (a context variable that
    # ``render`` sets), so one environment serves concurrent requests in different languages.
    env.install_gettext_callables(  # type: ignore[attr-defined]
        lambda message: i18n.gettext(message),
        lambda singular, plural, n: i18n.ngettext(singular, plural, n),
        newstyle=True,
        pgettext=lambda context, message: i18n.pgettext(context, message),
    )
    env.globals["form_for"] = form_for
    env.globals["month_names"] = i18n.month_names
    env.globals["item_label"] = item_language.item_label
    env.globals["option_text"] = item_language.option_text
    env.globals["named_text"] = item_language.named_text
    env.globals["label_text"] = item_language.label_text
    env.globals["speaks"] = item_language.speaks
    env.globals["hold_text"] = item_language.hold_text
    env.globals["question_text"] = item_language.question_text
    env.globals["answer_text"] = item_language.answer_text
    env.globals["ended_early_text"] = item_language.ended_early_text
    env.globals["adaptive_stop_text"] = item_language.adaptive_stop_text
    env.filters["item_text"] = item_language.item_text
    env.filters["headline"] = headline
    env.filters["tr"] = item_language.words
    env.globals["adaptive_rule_text"] = (
        rule_words  # an adaptive trial's rule in the page's language
    )
    env.filters["analysis_note"] = analysis_note  # an analysis warning, translated
    env.filters["word"] = staff_words.word
    env.filters["substance"] = substance_title
    env.filters["decision"] = staff_words.decision
    env.filters["alert_text"] = staff_words.alert_text
    env.filters["ldate"] = lambda when, pattern: i18n.format_when(when, pattern)
    env.filters["lnum"] = lambda value, digits=1: i18n.format_number(value, digits=digits)
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


def page_language(request: Request, actor: Actor | None = None) -> str:
    """The language of a page: the signed-in user's choice, else the browser's preference."""
    cached = getattr(request.state, "mt_language", None)
    if isinstance(cached, str):
        return cached
    if actor is None:
        session = read_session(get_context(request), request)
        actor = session.actor if session is not None else None
    chosen = user_language(get_context(request).db, actor)
    language = chosen or i18n.negotiate(request.headers.get("accept-language"))
    request.state.mt_language = language
    return language


def tr(request: Request, message: str, **values: Any) -> str:
    """``message`` in the request's language, with ``%(name)s`` values filled in."""
    text = i18n.gettext(message, page_language(request))
    return text % values if values else text


# The words the patient pages' scripts write (static/outbox.js, checkin.js), served to them in
# the page's language as inline JSON (#mt-words).
UI_STRINGS = {
    "heading": N_("Saved on this phone"),
    "offline": N_(
        "You are offline. What you save now stays on this phone and is sent when you are back "
        "online."
    ),
    "waiting": N_("Waiting to be sent"),
    "sent": N_("Sent"),
    "problem": N_("Not accepted"),
    "signIn": N_("Sign in again to send what is waiting."),
    "onlineOnly": N_("You are offline. This form can only be sent when you are back online."),
    "forDay": N_("for"),
    "savedAt": N_("saved at"),
    "form:/today": N_("Today's diary"),
    "form:/guess": N_("My guess"),
    "form:/questionnaires/phq9": N_("Mood questionnaire"),
    "form:/questionnaires/gad7": N_("Anxiety questionnaire"),
    "form:/attacks": N_("Headache attack"),
    "scanNotKit": N_("That QR code is not a kit code. Type the code printed on the pack instead."),
    "scanned": N_("Kit %(code)s scanned. Check the code, then save today's diary."),
    "scanStarting": N_("Starting the camera…"),
    "scanPoint": N_("Point the camera at the QR code on the capsule pack."),
    "scanFailed": N_(
        "The camera could not be used. Type the kit code printed on the pack instead."
    ),
}


def ui_strings(language: str) -> dict[str, str]:
    """The scripts' words in ``language``."""
    return {key: i18n.gettext(text, language) for key, text in UI_STRINGS.items()}


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
    language = page_language(request, actor)
    page["lang"] = language
    page["ui_strings"] = ui_strings(language)
    token = i18n.set_current(language)
    try:
        # a refused form's words and the page's error in the reader's language
        for key, value in page.items():
            if isinstance(value, FormState):
                page[key] = form_in_language(value)
        if isinstance(page.get("error"), str):
            page["error"] = refusal_text(page["error"])
        response = templates().TemplateResponse(request, name, page, status_code=status)
    finally:
        i18n.reset_current(token)
    response.headers["Content-Language"] = language
    return response


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
    heading = tr(request, HEADINGS.get(status, SOMETHING_WRONG))
    with i18n.speaking(page_language(request)):
        words = refusal_text(plain_message(message))
    return render(
        request,
        "error.html",
        {"status": status, "heading": heading, "message": words},
        status=status,
    )
