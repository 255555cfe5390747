"""Trial data stamps and what each stored cohort view last checked (issue 19).

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add trials.data_stamp (0 for existing trials) and cohort_results.checked (NULL)."""
    op.add_column(
        "trials", sa.Column("data_stamp", sa.Integer(), server_default="0", nullable=False)
    )
    op.add_column("cohort_results", sa.Column("checked", sa.JSON(), nullable=True))


def downgrade() -> None:
    """Drop both columns (reads recompute every trial's data version again)."""
    # plain DROP COLUMNs (SQLite >= 3.35): a batch copy of `trials` would break the triggers
    # that name it (migration 0002)
    op.drop_column("cohort_results", "checked")
    op.drop_column("trials", "data_stamp")
