"""Drop export_keys: the research-export key no longer lives in the database (issue 16).

A key stored in plain text beside the data let any copy of the database re-identify every
patient of a research export. The key now comes from ``MICROTRIAL_EXPORT_SECRET`` or a 0600 key
file (docs/SECURITY.md); pseudonyms made with a key that was stored here cannot be reproduced.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Drop export_keys (and the key in it)."""
    op.drop_table("export_keys")


def downgrade() -> None:
    """Re-create an empty export_keys (the dropped key is gone for good)."""
    op.create_table(
        "export_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=40), nullable=False),
        sa.Column("key_hex", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_export_keys")),
        sa.UniqueConstraint("scope", name=op.f("uq_export_keys_scope")),
    )
