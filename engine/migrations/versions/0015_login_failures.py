"""lockout is not a weapon: failed logins told to the account's owner, and the addresses each account logs in from

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-09

Written by hand; batch mode for SQLite. users counts the failed logins since the last login on the staff pages
(shown there at the next one); known_login_addresses keeps where each account logged in from, so the login
throttle's account- and address-wide delays, which strangers' failures can set, never hold the account's owner
at an address they use (issue 20, point 5). Nothing existing is rewritten.
"""

import sqlalchemy as sa
from alembic import op

import engine.store.model

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = engine.store.model.UTCDateTime


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("last_failed_login_at", When(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("last_failed_login_from", sa.String(length=64), nullable=True))
    op.create_table(
        "known_login_addresses",
        sa.Column("user_id", BigId, nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("last_login_at", When(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_known_login_addresses_user_id_users")),
        sa.PrimaryKeyConstraint("user_id", "address", name=op.f("pk_known_login_addresses")),
    )


def downgrade() -> None:
    op.drop_table("known_login_addresses")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("last_failed_login_from")
        batch_op.drop_column("last_failed_login_at")
        batch_op.drop_column("failed_logins")
