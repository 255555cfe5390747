"""Alembic environment: runs against the engine handed in, or MICROTRIAL_DATABASE_URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from microtrial.settings import Settings
from microtrial.store.db import make_engine
from microtrial.store.models import Base

config = context.config
engine: Engine | None = config.attributes.get("engine")
owned = engine is None
if engine is None:
    url = config.get_main_option("sqlalchemy.url") or Settings().database_url
    engine = make_engine(Settings(database_url=url))

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
if owned:
    engine.dispose()
