"""Indexes for the paged lists (issue 19): open alerts per site and per patient, trials by
status, a patient's diary by date, patients by enrolment.

Each list counts and orders its rows in the database (``services.paging``); these indexes let
both engines do that without reading every row of the table.

Revision ID: 0015
Revises: 0013
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (index name, table, columns): the same declarations as store/models.py.
INDEXES = (
    ("ix_alerts_site_open", "alerts", ["site_id", "acknowledged_at", "id"]),
    ("ix_alerts_patient_open", "alerts", ["patient_id", "acknowledged_at"]),
    ("ix_trials_status_patient", "trials", ["status", "patient_id"]),
    ("ix_diary_entries_patient_date", "diary_entries", ["patient_id", "local_date"]),
    ("ix_patients_site_created", "patients", ["site_id", "created_at"]),
)


def upgrade() -> None:
    """Create the list indexes."""
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    """Drop the list indexes."""
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
