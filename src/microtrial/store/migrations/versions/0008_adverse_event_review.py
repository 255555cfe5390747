"""Adverse events as a clinician-reviewed record: where the report came from, its review status,
its outcome, and the checklist symptom it was raised for (one record per symptom episode).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add adverse_events.source, status, outcome and symptom (existing rows: clinician, confirmed)."""
    with op.batch_alter_table("adverse_events") as batch:
        batch.add_column(
            sa.Column("source", sa.String(24), nullable=False, server_default="clinician")
        )
        batch.add_column(
            sa.Column("status", sa.String(24), nullable=False, server_default="confirmed")
        )
        batch.add_column(sa.Column("outcome", sa.String(40), nullable=True))
        batch.add_column(sa.Column("symptom", sa.String(60), nullable=True))


def downgrade() -> None:
    """Drop them again."""
    with op.batch_alter_table("adverse_events") as batch:
        batch.drop_column("symptom")
        batch.drop_column("outcome")
        batch.drop_column("status")
        batch.drop_column("source")
