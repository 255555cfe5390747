"""``/auth/token`` (OAuth2 password flow), ``/auth/logout``, ``/me`` and the patient's own
``/me/status``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.security import OAuth2PasswordRequestForm

from microtrial.api.actions import takes
from microtrial.api.schemas import MeRead, MeUpdate, TokenRead
from microtrial.domain.access import Action
from microtrial.http.deps import ActorDep, ContextDep, client_address
from microtrial.services import auth, languages, sessions
from microtrial.services.patient_status import PatientStatus, patient_status

router = APIRouter(tags=["auth"])

BAD_LOGIN = "incorrect username or password"


@router.post(
    "/auth/token",
    responses={401: {"description": BAD_LOGIN}, 429: {"description": "too many failed logins"}},
)
def issue_token(
    context: ContextDep,
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
) -> TokenRead:
    """Exchange a username and password for a bearer token."""
    client = client_address(request)
    wait = context.throttle.retry_after(form.username, client)
    if wait is not None:
        raise HTTPException(429, "too many failed logins; try later", {"Retry-After": str(wait)})
    actor = auth.authenticate(
        context.db, form.username, form.password, client=client, clock=context.clock
    )
    if actor is None:
        context.throttle.failed(form.username, client)
        raise HTTPException(401, BAD_LOGIN, {"WWW-Authenticate": "Bearer"})
    context.throttle.succeeded(form.username)
    token = context.tokens.issue(actor, sessions.session_version(context.db, actor))
    return TokenRead(access_token=token, expires_in=context.tokens.ttl_s)


@router.post(
    "/auth/logout",
    status_code=204,
    response_class=Response,
    openapi_extra=takes(Action.SEE_OWN_ACCOUNT),
)
def sign_out(context: ContextDep, actor: ActorDep) -> Response:
    """Sign out: this token and every other session and token of the user stop working."""
    sessions.sign_out(context.db, actor, clock=context.clock)
    return Response(status_code=204)


def _me(context: ContextDep, actor: ActorDep) -> MeRead:
    return MeRead(
        username=actor.username,
        role=actor.role.value,
        site_id=actor.site_id,
        patient_id=actor.patient_id,
        language=languages.user_language(context.db, actor),
    )


@router.get("/me", openapi_extra=takes(Action.SEE_OWN_ACCOUNT))
def read_me(context: ContextDep, actor: ActorDep) -> MeRead:
    """The signed-in user's role, scope and language."""
    return _me(context, actor)


@router.patch("/me", openapi_extra=takes(Action.SEE_OWN_ACCOUNT))
def update_me(context: ContextDep, actor: ActorDep, body: MeUpdate) -> MeRead:
    """Set one's own language (en, es, de, nl, pt): pages, e-mails and reports use it."""
    languages.set_user_language(context.db, actor, body.language, clock=context.clock)
    return _me(context, actor)


@router.get("/me/status", openapi_extra=takes(Action.USE_PATIENT_APP))
def read_my_status(context: ContextDep, actor: ActorDep) -> PatientStatus:
    """The signed-in patient's safety status: holds (do not take a capsule), crisis lines."""
    return patient_status(context.db, actor, clock=context.clock)
