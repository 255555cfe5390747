"""Audit streams: one hash chain per patient (and per site), one current diary entry per day.

The single ``audit_head`` row made every transaction wait for every other one. Each event now
belongs to a stream (``patient:ID``, ``site:ID`` or ``global``) with its own head row, so that
writes for different patients no longer queue behind one lock. Events written before this
revision form the ``global`` stream, whose head continues the old chain unchanged.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS = "0" * 64


def upgrade() -> None:
    """Add audit_events.stream and audit_streams; move the old head; index current diary days."""
    # A plain ADD COLUMN (not a batch copy) keeps SQLite's append-only triggers in place.
    op.add_column(
        "audit_events",
        sa.Column("stream", sa.String(length=40), server_default="global", nullable=False),
    )
    op.create_index("ix_audit_events_stream_id", "audit_events", ["stream", "id"])
    op.create_table(
        "audit_streams",
        sa.Column("stream", sa.String(length=40), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("stream", name=op.f("pk_audit_streams")),
    )
    op.execute(
        "INSERT INTO audit_streams (stream, last_hash, count) "
        "SELECT 'global', last_hash, count FROM audit_head WHERE id = 1"
    )
    op.drop_table("audit_head")
    op.create_index(
        "uq_diary_entries_current_day",
        "diary_entries",
        ["patient_id", "instrument_id", "local_date"],
        unique=True,
        sqlite_where=sa.text("is_current"),
        postgresql_where=sa.text("is_current"),
    )


def downgrade() -> None:
    """Back to one chain; refused once events were written to per-patient or per-site streams."""
    bind = op.get_bind()
    split = bind.execute(
        sa.text("SELECT count(*) FROM audit_events WHERE stream <> 'global'")
    ).scalar_one()
    if split:
        raise RuntimeError(
            f"{split} audit events belong to per-patient or per-site chains, which revision "
            "0003's single chain cannot hold; restore a backup taken before 0004 instead"
        )
    op.drop_index("uq_diary_entries_current_day", table_name="diary_entries")
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_head")),
    )
    head = bind.execute(
        sa.text("SELECT last_hash, count FROM audit_streams WHERE stream = 'global'")
    ).first()
    op.execute(
        sa.text("INSERT INTO audit_head (id, last_hash, count) VALUES (1, :h, :c)").bindparams(
            h=head[0] if head else GENESIS, c=head[1] if head else 0
        )
    )
    op.drop_table("audit_streams")
    op.drop_index("ix_audit_events_stream_id", table_name="audit_events")
    op.drop_column("audit_events", "stream")
