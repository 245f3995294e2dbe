"""indexes for the inbox by due time and the promise-slip sweep

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07

Written by hand. ix_tasks_inbox_due serves `GET /api/tasks?sort=due` (engine.services.tasks: a role's open tasks of
a centre, due soonest first, then oldest, then id): the page is read in index order and stops after it, instead of
sorting every open task of the role. ix_rma_estimates_open_latest (partial: estimates not `done`) serves the
promise-slip sweep (engine.services.promises.notify_slipped_promises), which scanned every estimate for the few
whose promise ends soon. Nothing is rewritten; CREATE INDEX only.
"""

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

OPEN = sa.text("source != 'done'")


def upgrade() -> None:
    op.create_index(
        "ix_tasks_inbox_due", "tasks", ["status", "centre_code", "role", "due_at", "created_at", "id"], unique=False
    )
    op.create_index(
        "ix_rma_estimates_open_latest",
        "rma_estimates",
        ["latest", "rma_id"],
        unique=False,
        sqlite_where=OPEN,
        postgresql_where=OPEN,
    )


def downgrade() -> None:
    op.drop_index("ix_rma_estimates_open_latest", table_name="rma_estimates")
    op.drop_index("ix_tasks_inbox_due", table_name="tasks")
