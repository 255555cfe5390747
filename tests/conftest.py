"""Shared fixtures: a fresh, migrated database per test on SQLite and (if configured) PostgreSQL.

Storage tests take the ``db`` fixture, which runs them once on SQLite and, when
``MICROTRIAL_TEST_PG_URL`` is set, once more on PostgreSQL; an unreachable server is then an error.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import argon2
import pytest
from argon2 import PasswordHasher
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from helpers import Clinic, FixedClock
from microtrial.services import security
from microtrial.settings import Settings
from microtrial.store import migrate
from microtrial.store.db import Database, make_engine
from microtrial.store.models import Base

# Tests hash passwords with argon2id at the library's cheapest parameters (the real hasher and
# verifier, about 0.1 ms a hash instead of 40 ms: a test clinic makes nine users, and the suite
# thousands). Production keeps the OWASP parameters: test_password_hashing.py checks both.
security.HASHER = PasswordHasher.from_parameters(argon2.profiles.CHEAPEST)

PG_URL = os.environ.get("MICROTRIAL_TEST_PG_URL")
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)]


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(Settings(database_url=f"sqlite:///{path}"))
    migrate.upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def pg_database_url() -> Iterator[str]:
    if not PG_URL:
        pytest.skip("PostgreSQL tests need MICROTRIAL_TEST_PG_URL (CI sets it)")
    admin_url = make_url(PG_URL)
    name = f"microtrial_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:  # an unreachable server fails here: an error, not a skip
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    engine = make_engine(Settings(database_url=url))
    migrate.upgrade(engine)
    engine.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _reset_postgres(db: Database) -> None:
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with db.engine.begin() as conn:
        # The append-only guards refuse TRUNCATE; tests may reset as the database owner.
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL of an empty, migrated database on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "test.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("pg_database_url")
    db = Database.from_settings(Settings(database_url=url))
    _reset_postgres(db)
    db.dispose()
    return url


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    """A Database on an empty, migrated schema."""
    database = Database.from_settings(Settings(database_url=database_url))
    yield database
    database.dispose()


@pytest.fixture
def clinic(db: Database, clock: FixedClock) -> Clinic:
    return Clinic(db, clock)


@pytest.fixture(scope="session")
def demo_clinic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """The demo clinic (12 patients, every trial stage), built once per test session."""
    from microtrial.services.demo import build_demo

    out = tmp_path_factory.mktemp("demo")
    build_demo(out, n_patients=12, seed=3)
    database = Database.from_settings(Settings(database_url=f"sqlite:///{out / 'demo.db'}"))
    yield database
    database.dispose()
