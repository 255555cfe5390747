"""Stored cohort results (issue 19): pooled, descriptive and blinding results per cohort view.

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create cohort_results (empty: the next refresh fills it; until then requests compute)."""
    op.create_table(
        "cohort_results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=True),
        sa.Column("condition_group", sa.String(length=40), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fits_version", sa.String(length=64), nullable=False),
        sa.Column("trial_versions", sa.JSON(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_cohort_results_site_id_sites")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cohort_results")),
        sa.UniqueConstraint("site_id", "condition_group", name="uq_cohort_results_view"),
    )


def downgrade() -> None:
    """Drop cohort_results (requests pool the stored fits again)."""
    op.drop_table("cohort_results")
