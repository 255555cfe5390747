"""A per-site diary backfill window: how many days back a diary entry may be dated.

NULL means the default window (``services.records.DEFAULT_BACKFILL_DAYS``).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add sites.backfill_days (nullable)."""
    with op.batch_alter_table("sites") as batch:
        batch.add_column(sa.Column("backfill_days", sa.Integer(), nullable=True))


def downgrade() -> None:
    """Drop sites.backfill_days."""
    with op.batch_alter_table("sites") as batch:
        batch.drop_column("backfill_days")
