"""before and beyond the repair: product catalogue, centre locations, online requests, goodwill

Revision ID: 0008
Revises: 0001
Create Date: 2026-11-27

Written by hand; new tables only, so it lands beside the other feature branches of 0001.
"""

import sqlalchemy as sa
from alembic import op

import engine.store.model

revision = "0008"
down_revision = "0001"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC = engine.store.model.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "catalogue_models",
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("model_key", sa.String(200), nullable=False),
        sa.Column("category", sa.String(120), nullable=False),
        sa.Column("warranty_months", sa.Integer(), nullable=False),
        sa.Column("replacement_value", sa.Numeric(12, 2), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("successor_model", sa.String(200), nullable=True),
        sa.Column("known_issues", sa.JSON(), nullable=False),
        sa.Column("updated_by", sa.String(120), nullable=False),
        sa.Column("updated_at", UTC(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("model", name="pk_catalogue_models"),
        sa.UniqueConstraint("model_key", name="uq_catalogue_models_model_key"),
    )
    op.create_table(
        "centre_locations",
        sa.Column("centre_code", sa.String(16), nullable=False),
        sa.Column("address", sa.String(300), nullable=False),
        sa.Column("city", sa.String(120), nullable=False),
        sa.Column("postcode", sa.String(20), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("latitude", sa.Numeric(9, 6), nullable=False),
        sa.Column("longitude", sa.Numeric(9, 6), nullable=False),
        sa.Column("opening_hours", sa.JSON(), nullable=False),
        sa.Column("phone", sa.String(40), nullable=False),
        sa.Column("accepts_online", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["centre_code"], ["centres.code"], name="fk_centre_locations_centre_code_centres"),
        sa.PrimaryKeyConstraint("centre_code", name="pk_centre_locations"),
    )
    op.create_table(
        "rma_requests",
        sa.Column("rma_id", BigId, nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("proof_sha256", sa.String(64), nullable=True),
        sa.Column("proof_content_type", sa.String(40), nullable=True),
        sa.Column("proof_size", sa.Integer(), nullable=True),
        sa.Column("proof_filename", sa.String(200), nullable=False),
        sa.Column("client_ip", sa.String(64), nullable=True),
        sa.Column("submitted_at", UTC(timezone=True), nullable=False),
        sa.Column("parcel_received_at", UTC(timezone=True), nullable=True),
        sa.Column("parcel_received_by", sa.String(120), nullable=True),
        sa.ForeignKeyConstraint(["rma_id"], ["rmas.id"], name="fk_rma_requests_rma_id_rmas"),
        sa.PrimaryKeyConstraint("rma_id", name="pk_rma_requests"),
    )
    op.create_table(
        "goodwill_proposals",
        sa.Column("id", BigId, nullable=False),
        sa.Column("rma_id", BigId, nullable=False),
        sa.Column("centre_code", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("amount", sa.Numeric(12, 2), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("proposed_by", sa.String(120), nullable=False),
        sa.Column("proposed_at", UTC(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(120), nullable=True),
        sa.Column("decided_at", UTC(timezone=True), nullable=True),
        sa.Column("decision_notes", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["rma_id"], ["rmas.id"], name="fk_goodwill_proposals_rma_id_rmas"),
        sa.PrimaryKeyConstraint("id", name="pk_goodwill_proposals"),
    )
    op.create_index("ix_goodwill_proposals_rma_id", "goodwill_proposals", ["rma_id"])
    op.create_index("ix_goodwill_centre_status", "goodwill_proposals", ["centre_code", "status"])


def downgrade() -> None:
    op.drop_index("ix_goodwill_centre_status", table_name="goodwill_proposals")
    op.drop_index("ix_goodwill_proposals_rma_id", table_name="goodwill_proposals")
    for table in ("goodwill_proposals", "rma_requests", "centre_locations", "catalogue_models"):
        op.drop_table(table)
