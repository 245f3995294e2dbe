"""The tamper-evident audit trail: each RMA's events form a SHA-256 hash chain.

`hash = sha256(prev_hash + canonical JSON of the event's fields)`, where `prev_hash` is the hash of the
previous event of the same RMA (GENESIS for the first; events without an RMA form one chain of
their own). Changing a stored event's fields breaks its hash; deleting, inserting or reordering
events breaks the next event's link. `verify_chain` recomputes the chains and lists every break.

Chaining is safe under concurrency because events are written last: `append_event` queues them on
the session and the unit of work's commit chains and inserts them (`write_pending`) after every
other write has been flushed. The chain head is then read under a lock that is the last one the transaction takes (a
per-RMA advisory lock on PostgreSQL; on SQLite every write transaction starts with BEGIN IMMEDIATE,
which already holds the database's write lock), so two transactions cannot chain onto the same head
and the lock cannot take part in a deadlock.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

from sqlalchemy import bindparam, insert, select, text

from engine.store.model import AuditEvent

GENESIS = "0" * 64
HASHED_FIELDS = ("rma_id", "at", "actor", "kind", "task_name", "detail", "data", "customer_visible")
_PENDING = "audit_pending"
# the kinds of event the customer's tracking page shows
CUSTOMER_VISIBLE = {"rma_opened", "status_changed", "quote_decided", "rma_closed"}
_LOCK_CLASS = 0x41554454  # "AUDT": the advisory-lock namespace of audit chains
_INSERT_EVENT = insert(AuditEvent.__table__)  # built once: rebuilding it per row cost ~4x the insert


def canonical(fields: dict) -> str:
    """The event's fields as canonical JSON: sorted keys, no spaces, UTC timestamps to the microsecond."""
    at = fields["at"]
    values = {name: fields.get(name) for name in HASHED_FIELDS}
    values["at"] = at.astimezone(UTC).isoformat(timespec="microseconds") if isinstance(at, datetime) else at
    values["customer_visible"] = bool(values["customer_visible"])
    return json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def event_hash(prev_hash: str, fields: dict) -> str:
    return hashlib.sha256((prev_hash + canonical(fields)).encode("utf-8")).hexdigest()


def append_event(
    session,
    rma_id: int | None,
    actor: str,
    kind: str,
    detail: str = "",
    task_name: str | None = None,
    data: dict | None = None,
    customer_visible: bool = False,
    at: datetime | None = None,
) -> None:
    """Queue one event on the session; it is chained and inserted when the session commits."""
    if data is not None:
        # stored as it will read back, so the hash computed now is the hash recomputed later
        data = json.loads(json.dumps(data, default=str))
    fields = {
        "rma_id": rma_id,
        "at": at or datetime.now(UTC),
        "actor": actor,
        "kind": kind,
        "task_name": task_name,
        "detail": detail,
        "data": data,
        "customer_visible": customer_visible,
    }
    session.info.setdefault(_PENDING, []).append(fields)


def audit(
    session,
    rma_id: int | None,
    actor,
    kind: str,
    detail: str = "",
    task_name: str | None = None,
    data: dict | None = None,
) -> None:
    """Append one event by `actor` (an Actor or a username); customers see the kinds in CUSTOMER_VISIBLE."""
    append_event(
        session,
        rma_id,
        actor if isinstance(actor, str) else actor.username,
        kind,
        detail,
        task_name=task_name,
        data=data,
        customer_visible=kind in CUSTOMER_VISIBLE,
    )


def write_pending(session) -> None:
    """Chain and insert the events queued on `session`: the unit of work calls it last before committing."""
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    session.flush()  # every other write (and its row locks and version checks) first
    chains = sorted({e["rma_id"] for e in pending}, key=lambda k: -1 if k is None else k)
    heads = {}
    for key in chains:
        _lock_chain(session, key)
        heads[key] = _head(session, key)
    rows = []
    for fields in pending:
        prev = heads[fields["rma_id"]]
        heads[fields["rma_id"]] = digest = event_hash(prev, fields)
        rows.append({**fields, "prev_hash": prev, "hash": digest})
    # A DBAPI executemany (no RETURNING) runs the rows in order, so ids follow the chain.
    session.execute(_INSERT_EVENT, rows)


def _lock_chain(session, rma_id: int | None) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(:cls, :key)"), {"cls": _LOCK_CLASS, "key": (rma_id or 0) % 2_147_483_647}
        )


_HEAD = select(AuditEvent.hash).where(AuditEvent.rma_id == bindparam("rma_id")).order_by(AuditEvent.id.desc()).limit(1)


def _head(session, rma_id: int | None) -> str:
    if rma_id is None:
        head = session.scalar(
            select(AuditEvent.hash).where(AuditEvent.rma_id.is_(None)).order_by(AuditEvent.id.desc()).limit(1)
        )
    else:  # the statement built once (the common case: an RMA's chain)
        head = session.scalar(_HEAD, {"rma_id": rma_id})
    return head or GENESIS


def verify_chain(session, rma_id: int | None = None) -> list[dict]:
    """Recompute the chain of one RMA (or of every RMA); returns one entry per break found."""
    query = select(AuditEvent)
    if rma_id is not None:
        query = query.where(AuditEvent.rma_id == rma_id)
    query = query.order_by(AuditEvent.rma_id.is_not(None), AuditEvent.rma_id, AuditEvent.id)
    breaks, chain, expected = [], object(), GENESIS
    for row in session.scalars(query.execution_options(yield_per=1000)):
        if row.rma_id != chain:
            chain, expected = row.rma_id, GENESIS
        fields = {name: getattr(row, name) for name in HASHED_FIELDS}
        if row.prev_hash != expected:
            breaks.append(_break(row, "link broken: an earlier event was deleted, inserted or reordered"))
        if row.hash != event_hash(row.prev_hash or "", fields):
            breaks.append(_break(row, "contents changed: the hash does not match the event's fields"))
        expected = row.hash
    return breaks


def _break(row: AuditEvent, problem: str) -> dict:
    return {"rma_id": row.rma_id, "event_id": row.id, "kind": row.kind, "problem": problem}
