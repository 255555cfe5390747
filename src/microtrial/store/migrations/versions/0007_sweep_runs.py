"""The daily alert sweep and escalation: one claimed run per site and day, when an urgent alert
was escalated, and each site's escalation delay.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create sweep_runs; add alerts.escalated_at and sites.escalate_after_hours."""
    op.create_table(
        "sweep_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("raised", sa.Integer(), nullable=False),
        sa.Column("escalated", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_sweep_runs_site_id_sites")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sweep_runs")),
        sa.UniqueConstraint("site_id", "day", name="uq_sweep_runs_site_day"),
    )
    op.add_column("alerts", sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("sites", sa.Column("escalate_after_hours", sa.Integer(), nullable=True))


def downgrade() -> None:
    """Drop them again."""
    with op.batch_alter_table("sites") as batch:
        batch.drop_column("escalate_after_hours")
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("escalated_at")
    op.drop_table("sweep_runs")
