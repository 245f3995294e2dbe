"""sessions end: a per-user session epoch

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-09

Written by hand; batch mode for SQLite. A staff session cookie carries the epoch of its user at login; logout,
a password change and disabling the user add one to users.session_epoch, and every request refuses a session
whose epoch is not the user's (issue 20, point 2). Existing users start at 0.
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("session_epoch", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("session_epoch")
