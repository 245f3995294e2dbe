"""batch parcels in and out, warranty by serial: the register of units sold, arrivals, return shipments

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07

Written by hand; batch mode for SQLite. registered_units is the maker's register of units sold (serial, model, ship
date, the partner organisation it went to, a registered installation date); catalogue_models.ship_grace_days is the
shelf time added to a ship date before the warranty counts from it; rmas.warranty_date and rmas.warranty_basis say
which date the warranty check counted from (installation, purchase or ship); rmas.received_serial is the serial
reception found when it differs from the declared one. batch_arrivals records each parcel of a batch booked in
(arrived, missing, unexpected) and shipments each parcel of finished units sent back (rmas.return_shipment_id)
(issue 17, points 3 and 5). Nothing existing is rewritten, and no existing table is copied (ALTER TABLE in place,
which SQLite 3.35 and later does for adding and dropping a column).
"""

import sqlalchemy as sa
from alembic import op

import engine.store.model

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = engine.store.model.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "registered_units",
        sa.Column("id", BigId, nullable=False),
        sa.Column("serial_number", sa.String(length=120), nullable=False),
        sa.Column("serial_key", sa.String(length=120), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("shipped_on", sa.Date(), nullable=False),
        sa.Column("organisation_id", BigId, nullable=True),
        sa.Column("installed_on", sa.Date(), nullable=True),
        sa.Column("updated_by", sa.String(length=120), nullable=False),
        sa.Column("updated_at", When(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"], ["organisations.id"], name=op.f("fk_registered_units_organisation_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registered_units")),
        sa.UniqueConstraint("serial_key", name=op.f("uq_registered_units_serial_key")),
    )
    op.create_index(op.f("ix_registered_units_organisation_id"), "registered_units", ["organisation_id"], unique=False)
    op.create_table(
        "batch_arrivals",
        sa.Column("id", BigId, nullable=False),
        sa.Column("batch_id", BigId, nullable=False),
        sa.Column("arrived", sa.JSON(), nullable=False),
        sa.Column("missing", sa.JSON(), nullable=False),
        sa.Column("unexpected", sa.JSON(), nullable=False),
        sa.Column("received_by", sa.String(length=120), nullable=False),
        sa.Column("received_at", When(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["batch_id"], ["batches.id"], name=op.f("fk_batch_arrivals_batch_id_batches")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batch_arrivals")),
    )
    op.create_index(op.f("ix_batch_arrivals_batch_id"), "batch_arrivals", ["batch_id"], unique=False)
    op.create_table(
        "shipments",
        sa.Column("id", BigId, nullable=False),
        sa.Column("batch_id", BigId, nullable=False),
        sa.Column("carrier", sa.String(length=80), nullable=False),
        sa.Column("tracking_number", sa.String(length=120), nullable=False),
        sa.Column("unit_count", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("created_at", When(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["batch_id"], ["batches.id"], name=op.f("fk_shipments_batch_id_batches")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shipments")),
    )
    op.create_index(op.f("ix_shipments_batch_id"), "shipments", ["batch_id"], unique=False)
    with op.batch_alter_table("catalogue_models", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("ship_grace_days", sa.Integer(), nullable=False, server_default="90"))
    # Added and dropped in place (ALTER TABLE, never a copy of rmas: on SQLite a copy is a DROP TABLE that the rows
    # pointing at rmas refuse); so return_shipment_id has no foreign key, like repeat_of_id.
    with op.batch_alter_table("rmas", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("warranty_date", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("warranty_basis", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("received_serial", sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column("return_shipment_id", BigId, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("rmas", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("return_shipment_id")
        batch_op.drop_column("received_serial")
        batch_op.drop_column("warranty_basis")
        batch_op.drop_column("warranty_date")
    with op.batch_alter_table("catalogue_models", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("ship_grace_days")
    op.drop_index(op.f("ix_shipments_batch_id"), table_name="shipments")
    op.drop_table("shipments")
    op.drop_index(op.f("ix_batch_arrivals_batch_id"), table_name="batch_arrivals")
    op.drop_table("batch_arrivals")
    op.drop_index(op.f("ix_registered_units_organisation_id"), table_name="registered_units")
    op.drop_table("registered_units")
