"""Pharmacy records per kit (who prepared and dispensed it, when, how many capsules) and a
medication's end date.

Revision ID: 0011
Revises: 0009
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KIT_COLUMNS = (
    ("prepared_by", sa.String(length=120)),
    ("prepared_capsules", sa.Integer()),
    ("dispensed_at", sa.DateTime(timezone=True)),
    ("dispensed_by", sa.String(length=120)),
    ("dispensed_capsules", sa.Integer()),
)


def upgrade() -> None:
    """Add the kit preparation and dispensing columns and medications.end_date."""
    for name, type_ in KIT_COLUMNS:
        op.add_column("kits", sa.Column(name, type_, nullable=True))
    with op.batch_alter_table("kits") as batch:
        batch.add_column(sa.Column("dispensed_by_user_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_kits_dispensed_by_user_id_users", "users", ["dispensed_by_user_id"], ["id"]
        )
    op.add_column("medications", sa.Column("end_date", sa.Date(), nullable=True))


def downgrade() -> None:
    """Drop them again."""
    with op.batch_alter_table("medications") as batch:
        batch.drop_column("end_date")
    with op.batch_alter_table("kits") as batch:
        batch.drop_constraint("fk_kits_dispensed_by_user_id_users", type_="foreignkey")
        batch.drop_column("dispensed_by_user_id")
        for name, _ in reversed(KIT_COLUMNS):
            batch.drop_column(name)
