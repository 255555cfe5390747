"""Edge protections: trusted-proxy headers, HSTS over TLS, and rate limits on costly requests.

- ``ProxyHeaders`` takes the client address and scheme from ``X-Forwarded-For`` /
  ``X-Forwarded-Proto`` only when the direct peer is one of the configured proxies
  (``MICROTRIAL_TRUSTED_PROXIES``: addresses or networks); with none configured the headers are
  ignored, whoever sends them.
- ``Hsts`` adds ``Strict-Transport-Security`` to every answer given over HTTPS.
- ``CostLimit`` allows each user (or, unsigned, each address) at most ``per_minute`` requests of
  each costly kind (reports, exports, the cohort) in any 60 seconds; more get 429 with
  ``Retry-After``. The counts are kept in the worker process (N workers allow N times as many).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import math
import re
import threading
from collections import defaultdict, deque
from collections.abc import Callable, Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from microtrial.errors import ValidationError

HSTS = b"max-age=31536000; includeSubDomains"
COSTLY: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("cohort", re.compile(r"^(/api/v1/cohort|/research)$")),
    ("export", re.compile(r"^(/api/v1/cohort/export|/research/export\.zip|/api/v1/fhir/.*)$")),
    (
        "report",
        re.compile(
            r"^(/api/v1/trials/[^/]+/report|/(clinic|my)/trials/[^/]+/report\.[a-z]+"
            r"|/pharmacy/trials/[^/]+/(labels|preparation)\.pdf)$"
        ),
    ),
    # The private calendar feed needs no sign-in: limited per address (calendars poll hourly).
    ("calendar", re.compile(r"^/calendar/[^/]+\.ics$")),
)
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_PROXY_FORMS = "the proxies' addresses or networks, comma-separated (10.0.0.5, 10.0.0.0/24)"


def trusted_networks(entries: Sequence[str]) -> tuple[Network, ...]:
    """The proxies to trust, parsed (an address is a network of one); ``*`` is refused."""
    networks = []
    for entry in entries:
        text = entry.strip()
        if text == "*":
            raise ValidationError(
                "trusted_proxies", "'*' would trust every client", allowed=_PROXY_FORMS
            )
        if text:
            try:
                networks.append(ipaddress.ip_network(text, strict=False))
            except ValueError:
                raise ValidationError(
                    "trusted_proxies", "is not an address", value=text, allowed=_PROXY_FORMS
                ) from None
    return tuple(networks)


def _is_in(address: str, networks: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def _header(scope: Scope, name: bytes) -> str | None:
    values = [v.decode("latin-1") for k, v in scope.get("headers", []) if k == name]
    return ",".join(values) if values else None


class ProxyHeaders:
    """Client address and scheme from ``X-Forwarded-*``, from the trusted proxies only."""

    def __init__(self, app: ASGIApp, trusted: Sequence[Network]) -> None:
        self.app = app
        self.trusted = tuple(trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Rewrite the scope's client and scheme when the peer is a trusted proxy."""
        peer = scope.get("client")
        if scope["type"] == "http" and self.trusted and peer and _is_in(peer[0], self.trusted):
            forwarded = _header(scope, b"x-forwarded-for")
            if forwarded:
                hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
                # the nearest hop not itself a trusted proxy is the client
                client = next((h for h in reversed(hops) if not _is_in(h, self.trusted)), None)
                if client is not None:
                    scope = {**scope, "client": (client, 0)}
            proto = _header(scope, b"x-forwarded-proto")
            if proto:
                scheme = proto.split(",")[-1].strip().lower()
                if scheme in ("http", "https"):
                    scope = {**scope, "scheme": scheme}
        await self.app(scope, receive, send)


class Hsts:
    """``Strict-Transport-Security`` on every answer sent over HTTPS."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass through, adding the header when the request came over TLS."""
        if scope["type"] != "http" or scope.get("scheme") != "https":
            await self.app(scope, receive, send)
            return

        async def send_with_hsts(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    (b"strict-transport-security", HSTS),
                ]
            await send(message)

        await self.app(scope, receive, send_with_hsts)


def costly_kind(path: str) -> str | None:
    """Which costly kind a request path is (``cohort``, ``export``, ``report``), or None."""
    return next((kind for kind, pattern in COSTLY if pattern.match(path)), None)


class CostLimit:
    """At most ``per_minute`` costly requests of each kind per user (or address) in 60 s."""

    def __init__(
        self,
        app: ASGIApp,
        per_minute: int,
        identify: Callable[[str | None, str | None], str | None],
        clock: Callable[[], dt.datetime],
        session_cookie: str,
    ) -> None:
        self.app = app
        self.per_minute = per_minute
        self.identify = identify
        self.clock = clock
        self.cookie = session_cookie
        self._seen: dict[tuple[str, str], deque[dt.datetime]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _who(self, scope: Scope) -> str:
        authorization = _header(scope, b"authorization") or ""
        token = authorization[7:].strip() if authorization[:7].lower() == "bearer " else None
        cookie = None
        for part in (_header(scope, b"cookie") or "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == self.cookie:
                cookie = value
        user = self.identify(token, cookie)
        if user is not None:
            return user
        client = scope.get("client")
        return f"address:{client[0] if client else 'unknown'}"

    def wait_s(self, who: str, kind: str) -> int | None:
        """Count a request; the seconds to wait instead when the limit is reached."""
        now = self.clock()
        window = dt.timedelta(seconds=60)
        with self._lock:
            seen = self._seen[(who, kind)]
            while seen and seen[0] <= now - window:
                seen.popleft()
            if len(seen) >= self.per_minute:
                return max(1, math.ceil((seen[0] + window - now).total_seconds()))
            seen.append(now)
            if len(self._seen) > 10_000:  # forget idle callers
                for key in [k for k, v in self._seen.items() if not v]:
                    del self._seen[key]
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse a costly request over the limit with 429; pass everything else through."""
        kind = costly_kind(str(scope.get("path", ""))) if scope["type"] == "http" else None
        wait = self.wait_s(self._who(scope), kind) if kind else None
        if wait is None:
            await self.app(scope, receive, send)
            return
        if str(scope.get("path", "")).startswith("/api/"):
            text = json.dumps({"detail": f"too many {kind} requests; try again in {wait} s"})
            media = b"application/json"
        else:
            text = f"Too many requests for {kind}s. Please wait {wait} seconds and try again.\n"
            media = b"text/plain; charset=utf-8"
        body = text.encode()
        await send(
            {
                "type": "http.response.start",
                "status": 429,
                "headers": [
                    (b"content-type", media),
                    (b"content-length", str(len(body)).encode()),
                    (b"retry-after", str(wait).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
