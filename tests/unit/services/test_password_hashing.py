"""Passwords are hashed with argon2id at the OWASP minimum in production; the suite's cheap hasher
(tests/conftest.py) is the same algorithm at lower cost, and each verifies the other's hashes."""

from __future__ import annotations

import subprocess
import sys

from argon2 import Type, extract_parameters

from microtrial.services import security

PASSWORD = "four unrelated words here"


def test_production_hashes_with_argon2id_at_the_owasp_minimum() -> None:
    code = (
        "from microtrial.services import security as s; "
        "print(s.HASHER is s.OWASP_MINIMUM, s.hash_password('four unrelated words here'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out[0] == "True"
    params = extract_parameters(out[1])
    assert params.type is Type.ID
    assert (params.time_cost, params.memory_cost, params.parallelism) == (2, 19 * 1024, 1)
    assert security.verify_password(out[1], PASSWORD)
    assert not security.verify_password(out[1], PASSWORD + "!")


def test_the_suites_hasher_is_argon2id_and_checks_passwords() -> None:
    stored = security.hash_password(PASSWORD)
    assert extract_parameters(stored).type is Type.ID
    assert security.verify_password(stored, PASSWORD)
    assert not security.verify_password(stored, "four unrelated words hero")
    assert security.verify_password(security.OWASP_MINIMUM.hash(PASSWORD), PASSWORD)
