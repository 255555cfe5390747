"""Signed API tokens and session cookies, and login throttling.

Tokens and sessions are HMAC-signed (itsdangerous) payloads naming the user, their scope and
the user's session version they were issued under; the signature proves them, and the caller
then checks the version against the database (``services.sessions``), so that sign-out and
account changes end them at once.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import math
import secrets
from dataclasses import dataclass, field
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer

from microtrial.domain.actors import Actor, check_role
from microtrial.services import auth
from microtrial.services.common import Clock, system_clock
from microtrial.store.db import Database


def actor_to_claims(actor: Actor) -> dict[str, Any]:
    """The claims a token or session carries for an actor."""
    return {
        "u": actor.user_id,
        "n": actor.username,
        "r": actor.role.value,
        "s": actor.site_id,
        "p": actor.patient_id,
    }


def claims_to_actor(claims: dict[str, Any]) -> Actor | None:
    """The actor named by verified claims, or None when they are malformed."""
    try:
        # A token names a user role; one naming the operator (or nothing known) is malformed.
        return Actor(
            role=check_role(claims["r"]),
            username=str(claims["n"]),
            user_id=int(claims["u"]),
            site_id=None if claims["s"] is None else int(claims["s"]),
            patient_id=None if claims["p"] is None else int(claims["p"]),
        )
    except (KeyError, TypeError, ValueError):
        return None


class TokenSigner:
    """Issues and checks bearer tokens that expire after ``ttl_s`` seconds."""

    def __init__(self, key: str, ttl_s: int) -> None:
        self._serializer = URLSafeTimedSerializer(key, salt="microtrial.api-token")
        self._key = key.encode()
        self.ttl_s = ttl_s

    def derive(self, purpose: str) -> str:
        """A secret for ``purpose`` (HMAC-SHA256 under the server's key): the same purpose gives
        the same secret again, which nobody without the key can make."""
        digest = hmac.new(self._key, f"microtrial.derived:{purpose}".encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(digest.digest()).decode().rstrip("=")

    def issue(self, actor: Actor, version: int = 0) -> str:
        """A new bearer token for the actor, issued under the user's session ``version``."""
        return self._serializer.dumps({**actor_to_claims(actor), "k": "api", "v": version})

    def verify(self, token: str) -> tuple[Actor, int] | None:
        """The actor behind a validly signed, unexpired token and its session version."""
        try:
            claims = self._serializer.loads(token, max_age=self.ttl_s)
        except BadSignature:
            return None
        if not isinstance(claims, dict) or claims.get("k") != "api":
            return None
        actor = claims_to_actor(claims)
        version = claims.get("v")
        if actor is None or not isinstance(version, int):
            return None
        return actor, version


@dataclass(frozen=True)
class Session:
    """A browser session: the signed-in actor (if any) and the CSRF token of its forms.

    ``version`` is the user's session version at sign-in and ``issued_at`` the sign-in time
    (POSIX seconds): the session ends when the version is raised or its absolute lifetime
    passes, however often the cookie is sent.
    """

    csrf: str
    actor: Actor | None = None
    sid: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    version: int = 0
    issued_at: float = 0.0


class SessionCodec:
    """Encodes sessions into signed cookie values and back."""

    def __init__(self, key: str, max_age_s: int) -> None:
        self._serializer = URLSafeTimedSerializer(key, salt="microtrial.session")
        self.max_age_s = max_age_s

    def dumps(self, session: Session) -> str:
        """The cookie value for a session."""
        claims = actor_to_claims(session.actor) if session.actor else {}
        data: dict[str, Any] = {"c": session.csrf, "i": session.sid, "a": claims}
        if session.actor:
            data |= {"v": session.version, "t": session.issued_at}
        return self._serializer.dumps(data)

    def loads(self, value: str | None) -> Session | None:
        """The session in a cookie value, or None when it is missing, forged or expired."""
        if not value:
            return None
        try:
            data = self._serializer.loads(value, max_age=self.max_age_s)
        except BadSignature:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("c"), str):
            return None
        claims = data.get("a") or {}
        actor = claims_to_actor(claims) if claims else None
        if claims and actor is None:
            return None
        version, issued_at = data.get("v", 0), data.get("t", 0.0)
        if not isinstance(version, int) or not isinstance(issued_at, (int, float)):
            return None
        return Session(
            csrf=data["c"],
            actor=actor,
            sid=str(data.get("i", "")),
            version=version,
            issued_at=float(issued_at),
        )


def new_session(actor: Actor | None = None, version: int = 0, issued_at: float = 0.0) -> Session:
    """A fresh session with a new id and CSRF token (used at login: no fixation)."""
    return Session(
        csrf=secrets.token_urlsafe(32), actor=actor, version=version, issued_at=issued_at
    )


@dataclass(frozen=True)
class Backoff:
    """A growing delay: ``free`` failures cost nothing, then each waits twice the last, capped."""

    free: int
    cap_s: float
    base_s: float = 1.0

    def delay_s(self, failures: int) -> float:
        """Seconds to wait after the latest of ``failures`` failures (0 while they are free)."""
        if failures < self.free:
            return 0.0
        return min(self.base_s * 2.0 ** min(failures - self.free, 30), self.cap_s)


class LoginThrottle:
    """Slows repeated failed logins by growing delays, per account and per client address.

    An account's delay is capped (``account_cap_s``, a minute by default), so guessing can
    never lock its owner out: at worst they wait that long after the latest wrong guess, while
    a guesser gets one try per delay. A client address has many free failures (a clinic's
    staff share one NAT address) before its own, longer delay starts. The failures are kept in
    the database, so the delays hold across worker processes.
    """

    def __init__(
        self,
        db: Database,
        max_failures: int,
        window_s: float,
        *,
        account_cap_s: float = 60,
        client_free: int = 100,
        client_cap_s: float = 300,
        clock: Clock = system_clock,
    ) -> None:
        self.db = db
        self.window = dt.timedelta(seconds=window_s)
        self.account = Backoff(free=max_failures, cap_s=account_cap_s)
        self.client = Backoff(free=client_free, cap_s=client_cap_s)
        self._clock = clock

    def retry_after(self, username: str, client: str) -> int | None:
        """Seconds to wait before this username or client may try again; None when allowed."""
        now = self._clock()
        user_key, client_key = auth.user_throttle_key(username), auth.client_throttle_key(client)
        recent = auth.login_failures_since(self.db, [user_key, client_key], now - self.window)
        waits = []
        for key, backoff in ((user_key, self.account), (client_key, self.client)):
            count, latest = recent.get(key, (0, now))
            left = (latest - now).total_seconds() + backoff.delay_s(count)
            if left > 0:
                waits.append(math.ceil(left))
        return max(waits) if waits else None

    def failed(self, username: str, client: str) -> None:
        """Record a failed attempt."""
        now = self._clock()
        keys = [auth.user_throttle_key(username), auth.client_throttle_key(client)]
        auth.record_login_failure(self.db, keys, now, forget_before=now - self.window)

    def succeeded(self, username: str) -> None:
        """Forget the username's failures after a successful login."""
        auth.clear_login_failures(self.db, auth.user_throttle_key(username))
