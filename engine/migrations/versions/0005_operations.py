"""time and operations: incidents, webhook subscriptions and deliveries, staff e-mail, dashboard indexes

Revision ID: 0005
Revises: 0001
Create Date: 2026-11-25

Written by hand; batch mode for SQLite. Branches from 0001 like every feature (engine.store.db.upgrade
runs "heads"). Only new tables, one nullable column and new indexes: nothing existing is rewritten.
"""

import sqlalchemy as sa
from alembic import op

import engine.store.model

revision = "0005"
down_revision = "0001"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = engine.store.model.UTCDateTime


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email", sa.String(length=254), nullable=True))

    op.create_table(
        "incidents",
        sa.Column("id", BigId, nullable=False),
        sa.Column("rma_id", BigId, nullable=False),
        sa.Column("centre_code", sa.String(length=16), nullable=False),
        sa.Column("task_name", sa.String(length=120), nullable=True),
        sa.Column("task_title", sa.String(length=200), nullable=True),
        sa.Column("stage", sa.String(length=64), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_before", sa.String(length=32), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("opened_at", When(timezone=True), nullable=False),
        sa.Column("last_failed_at", When(timezone=True), nullable=False),
        sa.Column("resolved_at", When(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.String(length=120), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["rma_id"], ["rmas.id"], name=op.f("fk_incidents_rma_id_rmas")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incidents")),
    )
    op.create_index("ix_incidents_status_opened", "incidents", ["status", "opened_at"])
    op.create_index("ix_incidents_rma_status", "incidents", ["rma_id", "status"])

    op.create_table(
        "webhook_subscriptions",
        sa.Column("id", BigId, nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("secret", sa.String(length=200), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("centre_code", sa.String(length=16), nullable=True),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("created_at", When(timezone=True), nullable=False),
        sa.Column("deleted_at", When(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_subscriptions")),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", BigId, nullable=False),
        sa.Column("subscription_id", BigId, nullable=False),
        sa.Column("outbox_id", BigId, nullable=False),
        sa.Column("event", sa.String(length=64), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("at", When(timezone=True), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["webhook_subscriptions.id"],
            name=op.f("fk_webhook_deliveries_subscription_id_webhook_subscriptions"),
        ),
        sa.ForeignKeyConstraint(["outbox_id"], ["outbox.id"], name=op.f("fk_webhook_deliveries_outbox_id_outbox")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
    )
    op.create_index("ix_webhook_deliveries_subscription", "webhook_deliveries", ["subscription_id", "id"])
    op.create_index("ix_webhook_deliveries_outbox_id", "webhook_deliveries", ["outbox_id"])

    # the manager dashboard (engine.services.dashboard)
    op.create_index("ix_tasks_status_due", "tasks", ["status", "due_at"])
    op.create_index("ix_tasks_completed", "tasks", ["completed_at", "centre_code", "stage"])
    op.create_index("ix_rmas_closed", "rmas", ["closed_at", "centre_code"])


def downgrade() -> None:
    op.drop_index("ix_rmas_closed", table_name="rmas")
    op.drop_index("ix_tasks_completed", table_name="tasks")
    op.drop_index("ix_tasks_status_due", table_name="tasks")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_subscriptions")
    op.drop_table("incidents")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("email")
