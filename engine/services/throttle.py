"""Throttling of guesses: logins (per username and per client address) and tracking tokens.

Counters live in the database (table throttle_counters), so every web process and every host of a
deployment counts against the same limits. A key gets `attempts` tries per fixed `window`; the try
that reaches the limit starts a lockout of `lockout`, during which every try is refused with
TooManyAttempts (HTTP 429, with the seconds left for Retry-After). A try is counted *before* the
guarded work (the password check) under a row lock, so requests racing in parallel cannot all slip
through on the same stale count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, delete, or_, select
from sqlalchemy.orm import Session

from engine.errors import EngineError
from engine.store.db import insert_ignoring, single_read
from engine.store.model import ThrottleCounter, utcnow

if TYPE_CHECKING:
    from engine.orchestrator import Orchestrator


@dataclass(frozen=True)
class Limit:
    attempts: int
    window: timedelta
    lockout: timedelta


# A person mistyping gets five tries; a guesser gets about twenty an hour per account. The address
# limit stops one client spraying many accounts; a shared office address still has room for typos.
LOGIN_PER_USER = Limit(5, timedelta(minutes=15), timedelta(minutes=15))
LOGIN_PER_ADDRESS = Limit(50, timedelta(minutes=15), timedelta(minutes=15))
# Tracking tokens carry 192 random bits; this only stops anyone from trying in bulk.
PORTAL_MISSES_PER_ADDRESS = Limit(20, timedelta(minutes=15), timedelta(minutes=15))
STALE_AFTER = timedelta(days=1)


class TooManyAttempts(EngineError):
    """Refused without trying: `retry_after` is how many seconds until the lockout ends."""

    code, status = "too_many_requests", 429

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = max(1, retry_after)


def _clean(text: str | None, limit: int) -> str:
    return (text or "").replace("\x00", "").strip().lower()[:limit] or "unknown"


def login_user_key(username: str) -> str:
    return "login-user:" + _clean(username, 150)


def login_address_key(address: str | None) -> str:
    return "login-ip:" + _clean(address, 64)


def portal_address_key(address: str | None) -> str:
    return "portal-ip:" + _clean(address, 64)


def _refuse(locked_until: datetime, now: datetime) -> TooManyAttempts:
    seconds = math.ceil((locked_until - now).total_seconds())
    return TooManyAttempts(f"too many attempts; try again in {seconds} seconds", seconds)


_LOCKED_UNTIL = select(ThrottleCounter.locked_until).where(ThrottleCounter.key == bindparam("key"))


def check(orc: Orchestrator, key: str) -> None:
    """Raise TooManyAttempts while `key` is locked out; count nothing (one read, before every portal request)."""
    now = utcnow()
    with single_read(orc.db) as conn:
        row = conn.execute(_LOCKED_UNTIL, {"key": key}).first()
    if row is not None and row.locked_until is not None and row.locked_until > now:
        raise _refuse(row.locked_until, now)


def hit(orc: Orchestrator, limits: dict[str, Limit]) -> None:
    """Count one attempt against every key, or refuse (counting nothing) if any is locked out."""
    now = utcnow()
    with orc.uow() as uow:
        s = uow.session
        for key in sorted(limits):  # one lock order, so two requests never wait on each other in a cycle
            limit, row = limits[key], _locked_row(s, key, now)
            if row.locked_until is not None and row.locked_until > now:
                raise _refuse(row.locked_until, now)
            if row.window_start + limit.window <= now:
                row.window_start, row.attempts, row.locked_until = now, 0, None
            row.attempts += 1
            if row.attempts >= limit.attempts:
                row.locked_until = now + limit.lockout
        uow.commit()


def forget(orc: Orchestrator, key: str) -> None:
    """Clear `key` (a correct password resets its username's count)."""
    with orc.uow() as uow:
        uow.session.execute(delete(ThrottleCounter).where(ThrottleCounter.key == key))
        uow.commit()


def refund(orc: Orchestrator, key: str, limit: Limit) -> None:
    """Give one counted attempt back (a successful login does not count against its address)."""
    with orc.uow() as uow:
        s = uow.session
        row = s.scalars(select(ThrottleCounter).where(ThrottleCounter.key == key).with_for_update()).first()
        if row is not None and row.attempts > 0:
            row.attempts -= 1
            if row.attempts < limit.attempts:
                row.locked_until = None
        uow.commit()


def _locked_row(session: Session, key: str, now: datetime) -> ThrottleCounter:
    # RETURNING tells whether the row is new: psycopg reports rowcount -1 for this INSERT, so a rowcount
    # test cleaned up on every try and deleted this very key's row once it was a day old (a 500 on login).
    created = (
        session.execute(
            insert_ignoring(session, ThrottleCounter.__table__, "key", returning="key"),
            {"key": key, "window_start": now, "attempts": 0},
        ).first()
        is not None
    )
    if created:
        # New keys are where a spray of made-up usernames or addresses would grow the table.
        session.execute(
            delete(ThrottleCounter).where(
                ThrottleCounter.key != key,
                ThrottleCounter.window_start < now - STALE_AFTER,
                or_(ThrottleCounter.locked_until.is_(None), ThrottleCounter.locked_until < now),
            )
        )
    return session.scalars(
        select(ThrottleCounter)
        .where(ThrottleCounter.key == key)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
