"""Column types shared by the models."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp column that stores UTC and always reads back an aware UTC datetime.

    SQLite keeps no offset (it hands back naive text written in UTC) and PostgreSQL answers in
    the connection's time zone; both come back here as UTC. Naive datetimes are refused on
    write, so an unzoned local time can never be stored as if it were UTC. The database type is
    ``DateTime(timezone=True)``, so the schema (and its migrations) is unchanged.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> dt.datetime | None:  # noqa: ARG002
        """UTC for the database; a naive datetime is an error."""
        if value is None:
            return None
        if not isinstance(value, dt.datetime) or value.utcoffset() is None:
            raise ValueError(f"timestamps must be timezone-aware datetimes, got {value!r}")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:  # noqa: ARG002
        """The stored instant as an aware UTC datetime."""
        if value is None:
            return None
        if value.tzinfo is None:
            # SQLite's text has no offset; it was written in UTC (see process_bind_param).
            return value.replace(tzinfo=dt.UTC)  # type: ignore[no-any-return]
        return value.astimezone(dt.UTC)  # type: ignore[no-any-return]
