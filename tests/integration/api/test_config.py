"""Server settings refuse a missing or weak secret in production; tokens and sessions expire."""

from __future__ import annotations

import secrets

import pytest
from itsdangerous import URLSafeTimedSerializer

from helpers import FixedClock
from microtrial.domain.actors import Actor, Role
from microtrial.errors import ValidationError
from microtrial.http.config import ServerSettings, signing_key
from microtrial.http.security import LoginThrottle, SessionCodec, TokenSigner, new_session
from microtrial.store.db import Database

ACTOR = Actor(role=Role.CLINICIAN, username="dr", user_id=3, site_id=1)


def test_production_needs_a_real_secret() -> None:
    with pytest.raises(ValidationError, match="secret_key"):
        signing_key(ServerSettings(environment="production"))
    with pytest.raises(ValidationError, match="too short"):
        signing_key(ServerSettings(environment="production", secret_key="short"))
    for weak in ("a" * 32, "s" * 40, "password" * 4, "abab" * 10):
        with pytest.raises(ValidationError, match="too predictable"):
            signing_key(ServerSettings(environment="production", secret_key=weak))
    assert signing_key(ServerSettings(secret_key="a" * 32)) == "a" * 32  # development allows it
    strong = secrets.token_urlsafe(32)
    assert signing_key(ServerSettings(environment="production", secret_key=strong)) == strong
    hexed = secrets.token_hex(16)
    assert signing_key(ServerSettings(environment="production", secret_key=hexed)) == hexed
    assert signing_key(ServerSettings()) != signing_key(ServerSettings())  # random in development


def test_tokens_expire_and_do_not_pass_as_sessions() -> None:
    signer = TokenSigner("k" * 40, ttl_s=60)
    token = signer.issue(ACTOR, 4)
    assert signer.verify(token) == (ACTOR, 4)
    assert TokenSigner("x" * 40, ttl_s=60).verify(token) is None
    expired = TokenSigner("k" * 40, ttl_s=-1)
    assert expired.verify(token) is None
    codec = SessionCodec("k" * 40, max_age_s=60)
    assert codec.loads(token) is None  # another salt: a token is not a session
    session = new_session(ACTOR, 2, 1_700_000_000.0)
    assert codec.loads(codec.dumps(session)) == session
    forged = URLSafeTimedSerializer("k" * 40, salt="microtrial.session").dumps(
        {"c": "x", "i": "y", "a": {"u": 1, "n": "sys", "r": "system", "s": None, "p": None}}
    )
    assert codec.loads(forged) is None  # no session may claim the system role


def test_the_throttle_backs_off_without_locking_the_owner_out(
    db: Database, clock: FixedClock
) -> None:
    throttle = LoginThrottle(db, 2, 900, account_cap_s=60, clock=clock)
    throttle.failed("Dr", "1.2.3.4")
    assert throttle.retry_after("dr", "1.2.3.4") is None
    clock.advance(seconds=10)
    throttle.failed("dr", "1.2.3.4")  # the free tries are spent: 1 s, then 2, 4, ... 60 s
    delays = [throttle.retry_after("dr", "5.6.7.8")]
    for _ in range(10):
        clock.advance(seconds=delays[-1] or 0)
        assert throttle.retry_after("dr", "5.6.7.8") is None
        throttle.failed("dr", "1.2.3.4")
        delays.append(throttle.retry_after("dr", "5.6.7.8"))
    assert delays == [1, 2, 4, 8, 16, 32, 60, 60, 60, 60, 60]  # growing, never beyond a minute
    throttle.succeeded("DR")
    assert throttle.retry_after("dr", "1.2.3.4") is None


def test_the_throttle_holds_across_worker_processes(db: Database, clock: FixedClock) -> None:
    """Two workers share the database: failures seen by one slow the name in the other."""
    first = LoginThrottle(db, 3, 60, client_free=12, clock=clock)
    second = LoginThrottle(db, 3, 60, client_free=12, clock=clock)
    first.failed("nurse", "10.0.0.1")
    second.failed("nurse", "10.0.0.2")
    assert first.retry_after("nurse", "10.0.0.3") is None
    first.failed("nurse", "10.0.0.1")
    assert second.retry_after("nurse", "10.0.0.9") == 1
    # the address's free failures count every name tried from it
    for name in "abcdefghijk":  # 11 names, one failure each
        second.failed(name, "10.0.0.7")
    assert first.retry_after("m", "10.0.0.7") is None
    first.failed("l", "10.0.0.7")  # the 12th from this address
    assert first.retry_after("m", "10.0.0.7") == 1
    assert first.retry_after("m", "10.0.0.8") is None
