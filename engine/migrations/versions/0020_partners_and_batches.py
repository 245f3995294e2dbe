"""partners and batches: organisations with partner accounts, batches of units, each unit an RMA of its own

Revision ID: 0020
Revises: 0018
Create Date: 2026-12-07

Written by hand; batch mode for SQLite. organisations are installers, dealers and distributors served by one
centre; users.organisation_id links an account with the role `partner` to its organisation (issue 17, point 1).
batches are numbered B-<centre>-<id> like RMAs; rmas.batch_id and rmas.organisation_id tie a unit to its batch
and partner, rmas.site and rmas.customer_reference are the partner's per-unit fields (point 2). The index on
(organisation_id, id) lists a partner's RMAs newest first. Nothing existing is rewritten, and no existing table is
copied (ALTER TABLE in place, which SQLite 3.35 and later does for adding and dropping a column).
"""

import sqlalchemy as sa
from alembic import op

import engine.store.model

revision = "0020"
down_revision = "0018"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = engine.store.model.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "organisations",
        sa.Column("id", BigId, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("centre_code", sa.String(length=16), nullable=False),
        sa.Column("contact_name", sa.String(length=200), nullable=False),
        sa.Column("contact_email", sa.String(length=254), nullable=False),
        sa.Column("contact_phone", sa.String(length=40), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("created_at", When(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["centre_code"], ["centres.code"], name=op.f("fk_organisations_centre_code_centres")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organisations")),
        sa.UniqueConstraint("name", name=op.f("uq_organisations_name")),
    )
    op.create_index(op.f("ix_organisations_centre_code"), "organisations", ["centre_code"], unique=False)
    op.create_table(
        "batches",
        sa.Column("id", BigId, nullable=False),
        sa.Column("number", sa.String(length=32), nullable=True),
        sa.Column("centre_code", sa.String(length=16), nullable=False),
        sa.Column("organisation_id", BigId, nullable=False),
        sa.Column("reference", sa.String(length=120), nullable=False),
        sa.Column("unit_count", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("created_at", When(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["centre_code"], ["centres.code"], name=op.f("fk_batches_centre_code_centres")),
        sa.ForeignKeyConstraint(
            ["organisation_id"], ["organisations.id"], name=op.f("fk_batches_organisation_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batches")),
        sa.UniqueConstraint("number", name=op.f("uq_batches_number")),
    )
    op.create_index("ix_batches_organisation_id_id", "batches", ["organisation_id", "id"], unique=False)
    op.create_index("ix_batches_centre_code_id", "batches", ["centre_code", "id"], unique=False)
    # Added in place (ALTER TABLE, never a copy: on SQLite a copy of users or rmas is a DROP TABLE that the rows
    # pointing at them refuse), so these three columns have no foreign key, like rmas.repeat_of_id; the services
    # write them from rows they have just read.
    with op.batch_alter_table("users", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("organisation_id", BigId, nullable=True))
        batch_op.create_index(batch_op.f("ix_users_organisation_id"), ["organisation_id"], unique=False)
    with op.batch_alter_table("rmas", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("organisation_id", BigId, nullable=True))
        batch_op.add_column(sa.Column("batch_id", BigId, nullable=True))
        batch_op.add_column(sa.Column("site", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("customer_reference", sa.String(length=120), nullable=True))
        batch_op.create_index("ix_rmas_organisation_id_id", ["organisation_id", "id"], unique=False)
        batch_op.create_index("ix_rmas_batch_id", ["batch_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("rmas", schema=None, recreate="never") as batch_op:
        batch_op.drop_index("ix_rmas_batch_id")
        batch_op.drop_index("ix_rmas_organisation_id_id")
        batch_op.drop_column("customer_reference")
        batch_op.drop_column("site")
        batch_op.drop_column("batch_id")
        batch_op.drop_column("organisation_id")
    with op.batch_alter_table("users", schema=None, recreate="never") as batch_op:
        batch_op.drop_index(batch_op.f("ix_users_organisation_id"))
        batch_op.drop_column("organisation_id")
    op.drop_index("ix_batches_centre_code_id", table_name="batches")
    op.drop_index("ix_batches_organisation_id_id", table_name="batches")
    op.drop_table("batches")
    op.drop_index(op.f("ix_organisations_centre_code"), table_name="organisations")
    op.drop_table("organisations")
