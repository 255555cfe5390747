"""Append-only audit log and locked allocations, enforced by the database itself.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A trial's allocation may change only before it has started (statuses below); after that the
# database refuses any UPDATE or DELETE, whoever asks. Annotations record reasons instead.
UNSTARTED = "('draft', 'screened', 'scheduled')"

SQLITE = [
    """CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
       BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END""",
    """CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
       BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END""",
    f"""CREATE TRIGGER allocations_locked_update BEFORE UPDATE ON allocations
       WHEN (SELECT status FROM trials WHERE id = OLD.trial_id) NOT IN {UNSTARTED}
       BEGIN SELECT RAISE(ABORT, 'allocation is locked once the trial has started'); END""",
    f"""CREATE TRIGGER allocations_locked_delete BEFORE DELETE ON allocations
       WHEN (SELECT status FROM trials WHERE id = OLD.trial_id) NOT IN {UNSTARTED}
       BEGIN SELECT RAISE(ABORT, 'allocation is locked once the trial has started'); END""",
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS audit_events_no_update",
    "DROP TRIGGER IF EXISTS audit_events_no_delete",
    "DROP TRIGGER IF EXISTS allocations_locked_update",
    "DROP TRIGGER IF EXISTS allocations_locked_delete",
]
POSTGRES = [
    """CREATE FUNCTION microtrial_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN RAISE EXCEPTION 'audit_events is append-only'; END $$""",
    """CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
       FOR EACH ROW EXECUTE FUNCTION microtrial_append_only()""",
    """CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
       FOR EACH STATEMENT EXECUTE FUNCTION microtrial_append_only()""",
    f"""CREATE FUNCTION microtrial_allocation_locked() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF (SELECT status FROM trials WHERE id = OLD.trial_id) NOT IN {UNSTARTED} THEN
           RAISE EXCEPTION 'allocation is locked once the trial has started';
         END IF;
         IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
         RETURN NEW;
       END $$""",
    """CREATE TRIGGER allocations_locked BEFORE UPDATE OR DELETE ON allocations
       FOR EACH ROW EXECUTE FUNCTION microtrial_allocation_locked()""",
]
POSTGRES_DROP = [
    "DROP TRIGGER IF EXISTS allocations_locked ON allocations",
    "DROP FUNCTION IF EXISTS microtrial_allocation_locked()",
    "DROP TRIGGER IF EXISTS audit_events_no_truncate ON audit_events",
    "DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events",
    "DROP FUNCTION IF EXISTS microtrial_append_only()",
]


def upgrade() -> None:
    """Create the annotations table and the guards."""
    op.create_table(
        "allocation_annotations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("trial_id", sa.Integer(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.ForeignKeyConstraint(
            ["trial_id"], ["trials.id"], name=op.f("fk_allocation_annotations_trial_id_trials")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_allocation_annotations")),
    )
    with op.batch_alter_table("allocation_annotations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_allocation_annotations_trial_id"), ["trial_id"], unique=False
        )
    for statement in SQLITE if op.get_bind().dialect.name == "sqlite" else POSTGRES:
        op.execute(statement)


def downgrade() -> None:
    """Drop the guards and the annotations table."""
    for statement in SQLITE_DROP if op.get_bind().dialect.name == "sqlite" else POSTGRES_DROP:
        op.execute(statement)
    with op.batch_alter_table("allocation_annotations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_allocation_annotations_trial_id"))
    op.drop_table("allocation_annotations")
