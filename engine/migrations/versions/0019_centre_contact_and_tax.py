"""the customer is never told something false: whether a centre's prices include tax, and its contact e-mail

Revision ID: 0019
Revises: 0016
Create Date: 2026-12-07

Written by hand; batch mode for SQLite. centres.prices_include_tax says whether the quotes' amounts include tax
(the tracking page says so under the quote; false, the default, says they do not); centre_locations.email is
the address customers write to, shown with the centre's address, phone and opening hours on every customer page
(issue 16, point 7). Nothing existing is rewritten.
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("centres", schema=None) as batch_op:
        batch_op.add_column(sa.Column("prices_include_tax", sa.Boolean(), nullable=False, server_default="0"))
    with op.batch_alter_table("centre_locations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email", sa.String(length=254), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("centre_locations", schema=None) as batch_op:
        batch_op.drop_column("email")
    with op.batch_alter_table("centres", schema=None) as batch_op:
        batch_op.drop_column("prices_include_tax")
