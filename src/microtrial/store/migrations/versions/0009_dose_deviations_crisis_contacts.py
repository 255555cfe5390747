"""A reported dose is a fact: the deviations it was stored with; each site's crisis contacts.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add dose_events.deviation and sites.crisis_contacts."""
    op.add_column("dose_events", sa.Column("deviation", sa.String(length=200), nullable=True))
    op.add_column("sites", sa.Column("crisis_contacts", sa.JSON(), nullable=True))


def downgrade() -> None:
    """Drop them again."""
    with op.batch_alter_table("sites") as batch:
        batch.drop_column("crisis_contacts")
    with op.batch_alter_table("dose_events") as batch:
        batch.drop_column("deviation")
