"""Idempotency-Key on the requests that create an RMA (issue 20, point 14).

The same key with the same body within 24 hours answers the RMA the first request created, never a second one;
the same key with another body is 422. The key's row is inserted in the transaction that creates the RMA, under
its primary key (scope, key): a concurrent request with the same key waits for the first one's commit, loses
the insert and then answers the first RMA (no 409). Anonymous online requests share one scope, so a replay
answers the tracking token only to a caller who sends the same body (every field and the same proof file).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine.errors import InvalidInput
from engine.store.model import IdempotencyKey, utcnow

if TYPE_CHECKING:
    from engine.orchestrator import Orchestrator

HEADER = "Idempotency-Key"
LIFETIME = timedelta(hours=24)
MAX_LENGTH = 255
_PRINTABLE = re.compile(r"^[\x20-\x7e]+$")
T = TypeVar("T")


@dataclass(frozen=True)
class Idempotency:
    """A checked key, where it counts (`scope`) and the digest of the request's canonical body."""

    scope: str
    key: str
    body_sha256: str


def body_digest(body: object) -> str:
    """The SHA-256 of the body as canonical JSON (sorted keys, no spaces; dates and the like as text)."""
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def checked(key: str | None, scope: str, body: object) -> Idempotency | None:
    """The key as sent (None: no header); 422 naming the header when it is empty, too long or not printable ASCII."""
    if key is None:
        return None
    if not key or len(key) > MAX_LENGTH or not _PRINTABLE.match(key):
        message = f"{HEADER} must be 1 to {MAX_LENGTH} printable ASCII characters"
        raise InvalidInput(message, {HEADER: [message]})
    return Idempotency(scope[:80], key, body_digest(body))


def earlier(session: Session, idem: Idempotency) -> int | None:
    """The RMA a request with this key created within 24 hours; 422 when that request's body was another."""
    row = session.get(IdempotencyKey, (idem.scope, idem.key))
    if row is None or row.created_at < utcnow() - LIFETIME:
        return None
    if row.body_sha256 != idem.body_sha256:
        message = f"this {HEADER} was used with another request body; send a new key for a new request"
        raise InvalidInput(message, {HEADER: [message]})
    return row.rma_id


def record(session: Session, idem: Idempotency, rma_id: int) -> None:
    """Insert the key for the RMA being created (same transaction); keys older than 24 hours are purged first."""
    now = utcnow()
    session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < now - LIFETIME))
    session.add(
        IdempotencyKey(scope=idem.scope, key=idem.key, body_sha256=idem.body_sha256, rma_id=rma_id, created_at=now)
    )
    session.flush()  # on PostgreSQL a concurrent insert of the same key waits here for the first one's commit


def once(orc: Orchestrator, idem: Idempotency | None, create: Callable[[], T], replay: Callable[[int], T]) -> T:
    """`create()` unless a request with this key already created an RMA: then `replay(rma_id)`."""
    if idem is None:
        return create()
    for _ in range(2):
        with orc.reading() as s:
            rma_id = earlier(s, idem)
        if rma_id is not None:
            return replay(rma_id)
        try:
            return create()
        except IntegrityError:
            continue  # a concurrent request with this key committed first: answer its RMA
    raise InvalidInput(f"{HEADER} is in use by a request that did not finish; try again", {HEADER: ["in use"]})
