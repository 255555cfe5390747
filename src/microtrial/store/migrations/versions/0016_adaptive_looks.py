"""Adaptive trials: the interim looks after each pair, and kits returned unused (issue 20).

Revision ID: 0016
Revises: 0013
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DECISIONS = "decision IN ('continue', 'stop-benefit', 'stop-futility', 'maximum-reached')"


def upgrade() -> None:
    """Create interim_looks and add kits.returned_at / returned_by."""
    op.create_table(
        "interim_looks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("trial_id", sa.Integer(), nullable=False),
        sa.Column("pair", sa.Integer(), nullable=False),
        sa.Column("looked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("through_date", sa.Date(), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("p_mcid", sa.Float(), nullable=True),
        sa.Column("effect_mean", sa.Float(), nullable=True),
        sa.Column("ci95_low", sa.Float(), nullable=True),
        sa.Column("ci95_high", sa.Float(), nullable=True),
        sa.Column("days_active", sa.Integer(), nullable=False),
        sa.Column("days_placebo", sa.Integer(), nullable=False),
        sa.Column("inputs", sa.JSON(), nullable=False),
        sa.CheckConstraint(DECISIONS, name=op.f("ck_interim_looks_decision")),
        sa.ForeignKeyConstraint(
            ["trial_id"], ["trials.id"], name=op.f("fk_interim_looks_trial_id_trials")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_interim_looks")),
        sa.UniqueConstraint("trial_id", "pair", name="uq_interim_looks_trial_pair"),
    )
    op.create_index(op.f("ix_interim_looks_trial_id"), "interim_looks", ["trial_id"])
    op.add_column("kits", sa.Column("returned_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("kits", sa.Column("returned_by", sa.String(length=120), nullable=True))
    op.add_column("trials", sa.Column("kits_through_pair", sa.Integer(), nullable=True))


def downgrade() -> None:
    """Drop them again."""
    # A plain DROP COLUMN (SQLite >= 3.35): a batch copy of `trials` would break the triggers
    # that name it (migration 0002).
    op.drop_column("trials", "kits_through_pair")
    with op.batch_alter_table("kits") as batch:
        batch.drop_column("returned_by")
        batch.drop_column("returned_at")
    op.drop_index(op.f("ix_interim_looks_trial_id"), table_name="interim_looks")
    op.drop_table("interim_looks")
