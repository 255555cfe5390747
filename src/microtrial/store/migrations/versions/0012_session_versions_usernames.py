"""Per-user session versions (sign-outs and account changes end every session and token) and
usernames unique without regard to case.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add users.session_version and users.username_key (the username in lower case, unique).

    Fails on a database already holding two usernames that differ only in case: rename one of
    them first.
    """
    op.add_column(
        "users",
        sa.Column("session_version", sa.Integer(), nullable=False, server_default="0"),
    )
    op.add_column("users", sa.Column("username_key", sa.String(length=80), nullable=True))
    op.execute("UPDATE users SET username_key = lower(username)")
    with op.batch_alter_table("users") as batch:
        batch.alter_column("username_key", existing_type=sa.String(length=80), nullable=False)
        batch.create_unique_constraint(op.f("uq_users_username_key"), ["username_key"])


def downgrade() -> None:
    """Drop them again."""
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint(op.f("uq_users_username_key"), type_="unique")
        batch.drop_column("username_key")
        batch.drop_column("session_version")
