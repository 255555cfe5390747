"""Reminders on the patient's terms: times, channel, pause and a private calendar feed (issue 21).

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHANNELS = "channel IN ('none', 'email', 'calendar')"


def upgrade() -> None:
    """Create reminder_settings: one row per patient, the feed token only as its SHA-256."""
    op.create_table(
        "reminder_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("diary_time", sa.Time(), nullable=True),
        sa.Column("dose_time", sa.Time(), nullable=True),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("feed_token_hash", sa.String(length=64), nullable=True),
        sa.Column("feed_created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=120), nullable=False),
        sa.CheckConstraint(CHANNELS, name=op.f("ck_reminder_settings_channel")),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_reminder_settings_patient_id_patients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reminder_settings")),
        sa.UniqueConstraint("patient_id", name=op.f("uq_reminder_settings_patient_id")),
        sa.UniqueConstraint("feed_token_hash", name=op.f("uq_reminder_settings_feed_token_hash")),
    )


def downgrade() -> None:
    """Drop it again."""
    op.drop_table("reminder_settings")
