"""trust: throttle counters for login and portal attempts

Revision ID: 0007
Revises: 0001
Create Date: 2026-11-26

Written by hand. One row per throttled key (a username, or a client address for logins and for
wrong tracking tokens), shared by every web process of a deployment.
"""

import sqlalchemy as sa
from alembic import op

import engine.store.model

revision = "0007"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "throttle_counters",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("window_start", engine.store.model.UTCDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("locked_until", engine.store.model.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_throttle_counters")),
    )
    with op.batch_alter_table("throttle_counters", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_throttle_counters_window_start"), ["window_start"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("throttle_counters", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_throttle_counters_window_start"))
    op.drop_table("throttle_counters")
