"""the service record: each completed task keeps what was submitted

Revision ID: 0018
Revises: 0019
Create Date: 2026-12-07

Written by hand; batch mode for SQLite. tasks.data holds the validated form data a task was completed with
(issue 16, point 1): the staff RMA page's service record and a completed task's page show it. Tasks completed
before this revision take the data of their completion event in the audit trail (task_completed, quote_decided,
troubleshooting_answered), the n-th completion of a task name in an RMA the n-th completed task row of that name;
the request's IP address and the quote's figures the customer's events add are left out (they were not submitted).
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0019"
branch_labels = None
depends_on = None

KINDS = ("task_completed", "quote_decided", "troubleshooting_answered")
NOT_SUBMITTED = ("ip", "quote_total", "currency", "quote_version")
BATCH = 2000  # RMAs per round trip


def upgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("data", sa.JSON(), nullable=True))
    _backfill(op.get_bind())


def downgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_column("data")


def _backfill(bind) -> None:
    tasks = sa.table(
        "tasks",
        sa.column("id", sa.String),
        sa.column("rma_id", sa.BigInteger),
        sa.column("name", sa.String),
        sa.column("status", sa.String),
        sa.column("completed_at", sa.DateTime),
        sa.column("data", sa.JSON),
    )
    events = sa.table(
        "audit_events",
        sa.column("id", sa.BigInteger),
        sa.column("rma_id", sa.BigInteger),
        sa.column("kind", sa.String),
        sa.column("task_name", sa.String),
        sa.column("data", sa.JSON),
    )
    top = bind.scalar(sa.select(sa.func.max(tasks.c.rma_id))) or 0
    update = tasks.update().where(tasks.c.id == sa.bindparam("task_id")).values(data=sa.bindparam("task_data"))
    for low in range(0, top + 1, BATCH):
        in_batch = (low, low + BATCH)
        found: dict[tuple, list] = {}
        for rma_id, name, data in bind.execute(
            sa.select(events.c.rma_id, events.c.task_name, events.c.data)
            .where(events.c.kind.in_(KINDS), events.c.task_name.is_not(None))
            .where(events.c.rma_id >= in_batch[0], events.c.rma_id < in_batch[1])
            .order_by(events.c.rma_id, events.c.id)
        ):
            submitted = {k: v for k, v in (data or {}).items() if k not in NOT_SUBMITTED}
            found.setdefault((rma_id, name), []).append(submitted)
        rows = []
        for task_id, rma_id, name in bind.execute(
            sa.select(tasks.c.id, tasks.c.rma_id, tasks.c.name)
            .where(tasks.c.status == "completed", tasks.c.rma_id >= in_batch[0], tasks.c.rma_id < in_batch[1])
            .order_by(tasks.c.rma_id, tasks.c.completed_at, tasks.c.id)
        ):
            queue = found.get((rma_id, name))
            if queue:
                rows.append({"task_id": task_id, "task_data": queue.pop(0)})
        if rows:
            bind.execute(update, rows)
