"""Stored per-trial fits (issue 19): the cohort reads them instead of fitting per request.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create trial_fits (empty: the next refresh fills it)."""
    op.create_table(
        "trial_fits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("trial_id", sa.Integer(), nullable=False),
        sa.Column("data_version", sa.String(length=64), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("condition_group", sa.String(length=40), nullable=True),
        sa.Column("unblinded_early", sa.Boolean(), nullable=False),
        sa.Column("results", sa.JSON(), nullable=False),
        sa.Column("guesses", sa.JSON(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("warnings", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["trial_id"], ["trials.id"], name=op.f("fk_trial_fits_trial_id_trials")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trial_fits")),
        sa.UniqueConstraint("trial_id", name=op.f("uq_trial_fits_trial_id")),
    )


def downgrade() -> None:
    """Drop trial_fits (the next refresh after an upgrade recomputes every fit)."""
    op.drop_table("trial_fits")
