"""process owners: deploy records (base, previous version, uploaded files, changes) and bulk migrations

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-26

Written by hand. Only new tables, so nothing needs batch mode on SQLite; bundles deployed before
this migration simply have no deploy record (their changes are computed when first shown).
"""

import sqlalchemy as sa
from alembic import op

import engine.store.model

revision = "0003"
down_revision = "0001"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "process_deploys",
        sa.Column("id", BigId, nullable=False),
        sa.Column("bundle_id", BigId, nullable=False),
        sa.Column("base_bundle_id", BigId, nullable=True),
        sa.Column("previous_bundle_id", BigId, nullable=True),
        sa.Column("uploaded", sa.JSON(), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["bundle_id"], ["bundles.id"], name=op.f("fk_process_deploys_bundle_id_bundles")),
        sa.ForeignKeyConstraint(
            ["base_bundle_id"], ["bundles.id"], name=op.f("fk_process_deploys_base_bundle_id_bundles")
        ),
        sa.ForeignKeyConstraint(
            ["previous_bundle_id"], ["bundles.id"], name=op.f("fk_process_deploys_previous_bundle_id_bundles")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_process_deploys")),
        sa.UniqueConstraint("bundle_id", name=op.f("uq_process_deploys_bundle_id")),
    )
    op.create_table(
        "process_migrations",
        sa.Column("id", BigId, nullable=False),
        sa.Column("target_bundle_id", BigId, nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("at", engine.store.model.UTCDateTime(timezone=True), nullable=False),
        sa.Column("moved", sa.Integer(), nullable=False),
        sa.Column("refused", sa.Integer(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["target_bundle_id"], ["bundles.id"], name=op.f("fk_process_migrations_target_bundle_id_bundles")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_process_migrations")),
    )
    op.create_index("ix_process_migrations_target_bundle_id", "process_migrations", ["target_bundle_id"])


def downgrade() -> None:
    op.drop_index("ix_process_migrations_target_bundle_id", table_name="process_migrations")
    op.drop_table("process_migrations")
    op.drop_table("process_deploys")
