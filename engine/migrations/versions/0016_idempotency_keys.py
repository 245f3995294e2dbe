"""idempotency keys: a retried POST /api/rmas or /api/requests answers the RMA the first one created

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07

Written by hand. One row per (scope, key) that created an RMA, with the canonical body's digest (issue 20,
point 14); rows older than 24 hours are ignored and purged by the next request with a key. Nothing existing is
rewritten.
"""

import sqlalchemy as sa
from alembic import op

import engine.store.model

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = engine.store.model.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "idempotency_keys",
        sa.Column("scope", sa.String(length=80), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("body_sha256", sa.String(length=64), nullable=False),
        sa.Column("rma_id", BigId, nullable=False),
        sa.Column("created_at", When(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["rma_id"], ["rmas.id"], name=op.f("fk_idempotency_keys_rma_id_rmas")),
        sa.PrimaryKeyConstraint("scope", "key", name=op.f("pk_idempotency_keys")),
    )
    op.create_index(op.f("ix_idempotency_keys_created_at"), "idempotency_keys", ["created_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_idempotency_keys_created_at"), table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
