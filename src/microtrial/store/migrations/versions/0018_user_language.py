"""Each user's language (issue 21): ``users.language``, empty for the browser's choice.

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add users.language (nullable: no choice made yet)."""
    op.add_column("users", sa.Column("language", sa.String(length=8), nullable=True))


def downgrade() -> None:
    """Drop users.language again."""
    # A plain DROP COLUMN (SQLite >= 3.35), as in 0016: no batch copy of a table with triggers.
    op.drop_column("users", "language")
