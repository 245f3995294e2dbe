"""the customer's side: milestones, intake photos, estimates, quote versions, loan units, SMS opt-out

Revision ID: 0004
Revises: 0001
Create Date: 2026-11-26

Written by hand; batch mode so that SQLite can add columns and indexes to existing tables.
"""

import sqlalchemy as sa
from alembic import op

import engine.store.model

revision = "0004"
down_revision = "0001"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC = engine.store.model.UTCDateTime


def upgrade() -> None:
    with op.batch_alter_table("rmas", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sms_opt_out", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("repeat_of_id", BigId, nullable=True))
        batch_op.create_index("ix_rmas_customer_phone", ["customer_phone"], unique=False)
        batch_op.create_index("ix_rmas_centre_closed_at", ["centre_code", "closed_at"], unique=False)
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_rma_id", ["rma_id"], unique=False)

    op.create_table(
        "milestones",
        sa.Column("id", BigId, nullable=False),
        sa.Column("rma_id", BigId, nullable=False),
        sa.Column("task_id", sa.String(36), nullable=False),
        sa.Column("element", sa.String(120), nullable=False),
        sa.Column("message", sa.String(120), nullable=False),
        sa.Column("reached_at", UTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["rma_id"], ["rmas.id"], name="fk_milestones_rma_id_rmas"),
        sa.PrimaryKeyConstraint("id", name="pk_milestones"),
        sa.UniqueConstraint("rma_id", "task_id", name="uq_milestones_rma_task"),
    )
    op.create_index("ix_milestones_rma_id", "milestones", ["rma_id"])
    op.create_table(
        "rma_photos",
        sa.Column("id", BigId, nullable=False),
        sa.Column("rma_id", BigId, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("content_type", sa.String(40), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(200), nullable=False),
        sa.Column("path", sa.String(300), nullable=False),
        sa.Column("task_name", sa.String(120), nullable=True),
        sa.Column("uploaded_by", sa.String(120), nullable=False),
        sa.Column("uploaded_at", UTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["rma_id"], ["rmas.id"], name="fk_rma_photos_rma_id_rmas"),
        sa.PrimaryKeyConstraint("id", name="pk_rma_photos"),
        sa.UniqueConstraint("rma_id", "sha256", name="uq_rma_photos_rma_sha256"),
    )
    op.create_index("ix_rma_photos_rma_id", "rma_photos", ["rma_id"])
    op.create_table(
        "rma_estimates",
        sa.Column("rma_id", BigId, nullable=False),
        sa.Column("earliest", sa.Date(), nullable=False),
        sa.Column("latest", sa.Date(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("samples", sa.Integer(), nullable=False),
        sa.Column("basis", sa.JSON(), nullable=False),
        sa.Column("computed_at", UTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["rma_id"], ["rmas.id"], name="fk_rma_estimates_rma_id_rmas"),
        sa.PrimaryKeyConstraint("rma_id", name="pk_rma_estimates"),
    )
    op.create_table(
        "quotes",
        sa.Column("id", BigId, nullable=False),
        sa.Column("rma_id", BigId, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.String(36), nullable=False),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.Column("total", sa.Numeric(12, 2), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", UTC(timezone=True), nullable=False),
        sa.Column("decided_at", UTC(timezone=True), nullable=True),
        sa.Column("decided_ip", sa.String(64), nullable=True),
        sa.ForeignKeyConstraint(["rma_id"], ["rmas.id"], name="fk_quotes_rma_id_rmas"),
        sa.PrimaryKeyConstraint("id", name="pk_quotes"),
        sa.UniqueConstraint("rma_id", "version", name="uq_quotes_rma_version"),
    )
    op.create_index("ix_quotes_rma_id", "quotes", ["rma_id"])
    op.create_table(
        "loan_units",
        sa.Column("id", BigId, nullable=False),
        sa.Column("centre_code", sa.String(16), nullable=False),
        sa.Column("code", sa.String(40), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("serial_number", sa.String(120), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["centre_code"], ["centres.code"], name="fk_loan_units_centre_code_centres"),
        sa.PrimaryKeyConstraint("id", name="pk_loan_units"),
        sa.UniqueConstraint("centre_code", "code", name="uq_loan_units_centre_code"),
    )
    op.create_index("ix_loan_units_centre_code", "loan_units", ["centre_code"])
    op.create_table(
        "loans",
        sa.Column("id", BigId, nullable=False),
        sa.Column("rma_id", BigId, nullable=False),
        sa.Column("unit_id", BigId, nullable=False),
        sa.Column("issued_at", UTC(timezone=True), nullable=False),
        sa.Column("issued_by", sa.String(120), nullable=False),
        sa.Column("returned_at", UTC(timezone=True), nullable=True),
        sa.Column("returned_by", sa.String(120), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["rma_id"], ["rmas.id"], name="fk_loans_rma_id_rmas"),
        sa.ForeignKeyConstraint(["unit_id"], ["loan_units.id"], name="fk_loans_unit_id_loan_units"),
        sa.PrimaryKeyConstraint("id", name="pk_loans"),
    )
    op.create_index("ix_loans_rma_id", "loans", ["rma_id"])
    op.create_index("ix_loans_unit_open", "loans", ["unit_id", "returned_at"])


def downgrade() -> None:
    for index, table in (("ix_loans_unit_open", "loans"), ("ix_loans_rma_id", "loans")):
        op.drop_index(index, table_name=table)
    op.drop_table("loans")
    op.drop_index("ix_loan_units_centre_code", table_name="loan_units")
    op.drop_table("loan_units")
    op.drop_index("ix_quotes_rma_id", table_name="quotes")
    op.drop_table("quotes")
    op.drop_table("rma_estimates")
    op.drop_index("ix_rma_photos_rma_id", table_name="rma_photos")
    op.drop_table("rma_photos")
    op.drop_index("ix_milestones_rma_id", table_name="milestones")
    op.drop_table("milestones")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_rma_id")
    with op.batch_alter_table("rmas", schema=None) as batch_op:
        batch_op.drop_index("ix_rmas_centre_closed_at")
        batch_op.drop_index("ix_rmas_customer_phone")
        batch_op.drop_column("repeat_of_id")
        batch_op.drop_column("sms_opt_out")
