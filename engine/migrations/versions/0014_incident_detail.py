"""no echo: an incident's detail, for operators, apart from the error staff see

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-09

Written by hand; batch mode for SQLite. A failed service task's incident error names the task and the status
code only; what the other system answered goes, bounded to 300 characters without control characters, into
incidents.detail, which only the operations views show (issue 20, point 7). Existing incidents have none.
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("detail", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_column("detail")
