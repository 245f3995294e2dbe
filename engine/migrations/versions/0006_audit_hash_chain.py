"""audit hash chain: prev_hash and hash on every audit event, existing events sealed

Revision ID: 0006
Revises: 0001
Create Date: 2026-11-25

Written by hand. Events recorded before this migration are chained here, in id order per RMA, so
verification covers them from now on (it cannot vouch for what happened to them before). Triggers
then make the table append-only in the database itself: UPDATE and DELETE (and TRUNCATE on
PostgreSQL) are refused. A later SQLite batch migration that recreates audit_events must recreate
these triggers.
"""

import sqlalchemy as sa
from alembic import op

import engine.store.model
from engine.store.audit import GENESIS, HASHED_FIELDS, event_hash

revision = "0006"
down_revision = "0001"
branch_labels = None
depends_on = None

_events = sa.table(
    "audit_events",
    sa.column("id", sa.Integer),
    sa.column("rma_id", sa.Integer),
    sa.column("at", engine.store.model.UTCDateTime()),
    sa.column("actor", sa.String),
    sa.column("kind", sa.String),
    sa.column("task_name", sa.String),
    sa.column("detail", sa.Text),
    sa.column("data", sa.JSON),
    sa.column("customer_visible", sa.Boolean),
    sa.column("prev_hash", sa.String),
    sa.column("hash", sa.String),
)


def upgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("hash", sa.String(length=64), nullable=True))
    _seal_existing_events(op.get_bind())
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.alter_column("prev_hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column("hash", existing_type=sa.String(length=64), nullable=False)
    for statement in _APPEND_ONLY[op.get_bind().dialect.name]:
        op.execute(statement)


_APPEND_ONLY = {
    "postgresql": [
        "CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP; END $$",
        "CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events "
        "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()",
        "CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()",
    ],
    "sqlite": [
        "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events "
        "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: UPDATE refused'); END",
        "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events "
        "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: DELETE refused'); END",
    ],
}
_DROP_APPEND_ONLY = {
    "postgresql": [
        "DROP TRIGGER IF EXISTS audit_events_no_truncate ON audit_events",
        "DROP TRIGGER IF EXISTS audit_events_no_change ON audit_events",
        "DROP FUNCTION IF EXISTS audit_events_append_only()",
    ],
    "sqlite": ["DROP TRIGGER IF EXISTS audit_events_no_update", "DROP TRIGGER IF EXISTS audit_events_no_delete"],
}


def _seal_existing_events(conn) -> None:
    rows = conn.execute(sa.select(_events).order_by(_events.c.rma_id.is_not(None), _events.c.rma_id, _events.c.id))
    chain, head, batch = object(), GENESIS, []
    update = (
        _events.update()
        .where(_events.c.id == sa.bindparam("event_id"))
        .values(prev_hash=sa.bindparam("new_prev"), hash=sa.bindparam("new_hash"))
    )
    for row in rows.mappings().all():
        if row["rma_id"] != chain:
            chain, head = row["rma_id"], GENESIS
        digest = event_hash(head, {name: row[name] for name in HASHED_FIELDS})
        batch.append({"event_id": row["id"], "new_prev": head, "new_hash": digest})
        head = digest
    for start in range(0, len(batch), 1000):
        conn.execute(update, batch[start : start + 1000])


def downgrade() -> None:
    for statement in _DROP_APPEND_ONLY[op.get_bind().dialect.name]:
        op.execute(statement)
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_column("hash")
        batch_op.drop_column("prev_hash")
