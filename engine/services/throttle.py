"""Throttling of guesses: logins (a growing delay per account and per address) and tracking tokens.

Counters live in the database (table throttle_counters), so every web process and every host of a
deployment counts against the same limits. A try is counted *before* the guarded work (the password
check) under a row lock, so requests racing in parallel cannot all slip through on the same stale count;
a refused try (TooManyAttempts: HTTP 429, with the seconds left for Retry-After) counts nothing.

A `Limit` (tracking tokens, requests) gives a key `attempts` tries per fixed `window`, then a lockout.

Logins use `Backoff` (a growing delay, never a lockout for everyone) on three keys (count_login):
- one username from one address (`login-pair:`): five tries, then one minute, doubling after every further
  failure up to 15 minutes; a correct password clears it. A guesser's own address is all it slows.
- one username from many addresses (`login-user:`): counts the *addresses* failing on it, so no single address
  can move it; from the fifth, logins from addresses the account has not logged in from are delayed
  (a spread-out guess), while its owner, from an address they logged in from before, is not.
- one address over many usernames (`login-ip:`): counts the *usernames* failing from it (a spray); from the
  twentieth, logins of accounts that never logged in from there are delayed, while the colleagues behind the
  same NAT who did are not.
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


@dataclass(frozen=True)
class Backoff:
    """`attempts` counts go by; the one that reaches it starts a lockout of `lockout`, and every further count
    (once that lockout is over) doubles it, up to `max_lockout`. `forget_after` without a count, from the end
    of the last lockout, clears the key."""

    attempts: int
    lockout: timedelta
    max_lockout: timedelta
    forget_after: timedelta

    def lockout_after(self, count: int) -> timedelta | None:
        if count < self.attempts:
            return None
        return min(self.max_lockout, self.lockout * 2 ** min(count - self.attempts, 16))


# A person mistyping gets five tries, then waits a minute, two, four, ... at most 15 minutes between
# guesses: about four an hour for a guesser at one address, whom no one else waits for.
LOGIN_PER_USER = Backoff(5, timedelta(minutes=1), timedelta(minutes=15), timedelta(hours=1))
# Addresses failing on one account, then usernames failing from one address: see the module's docstring.
LOGIN_ADDRESSES_PER_USER = Backoff(5, timedelta(minutes=1), timedelta(minutes=15), timedelta(hours=1))
LOGIN_PER_ADDRESS = Backoff(20, timedelta(minutes=1), timedelta(minutes=15), timedelta(hours=1))
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


def login_pair_key(username: str, address: str | None) -> str:
    return f"login-pair:{_clean(address, 64)}|{_clean(username, 150)}"


def client_address(address: str | None) -> str | None:
    """The address as the throttle keys it (None when unknown)."""
    cleaned = _clean(address, 64)
    return None if cleaned == "unknown" else cleaned


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


@dataclass(frozen=True)
class LoginTry:
    """A counted login try: its (username, address) key, and the shared keys it counted on (only the first
    failure of its pair counts on them), each with its limit, for login_succeeded to give back."""

    pair_key: str
    shared_keys: tuple[tuple[str, Backoff], ...]


def count_login(orc: Orchestrator, username: str, address: str | None, known_address: bool) -> LoginTry:
    """Count one login try before its password is checked, or refuse it (counting nothing) while it must wait.

    `known_address`: the account logged in from this address before, so the account- and address-wide delays,
    which strangers' failures set, neither hold nor count it; its own (username, address) delay always does."""
    pair = login_pair_key(username, address)
    shared: dict[str, Backoff] = (
        {}
        if known_address
        else {login_user_key(username): LOGIN_ADDRESSES_PER_USER, login_address_key(address): LOGIN_PER_ADDRESS}
    )
    limits = {pair: LOGIN_PER_USER, **shared}
    now = utcnow()
    with orc.uow() as uow:
        rows = {key: _locked_row(uow.session, key, now) for key in sorted(limits)}  # one lock order
        for row in rows.values():
            if row.locked_until is not None and row.locked_until > now:
                raise _refuse(row.locked_until, now)
        for key, row in rows.items():
            _expire(row, limits[key], now)
        # the first failure of a pair counts once on its account and its address: they count addresses and
        # usernames, not tries, so one address alone never moves the account's delay, nor one account the address's
        counted = [pair, *shared] if rows[pair].attempts == 0 else [pair]
        for key in counted:
            _count(rows[key], limits[key], now)
        uow.commit()
    return LoginTry(pair, tuple(shared.items()) if len(counted) > 1 else ())


def login_succeeded(orc: Orchestrator, counted: LoginTry) -> None:
    """A correct password: clear its (username, address) delay and give back what it counted on the shared keys."""
    with orc.uow() as uow:
        s = uow.session
        s.execute(delete(ThrottleCounter).where(ThrottleCounter.key == counted.pair_key))
        for key, limit in counted.shared_keys:
            row = s.scalars(select(ThrottleCounter).where(ThrottleCounter.key == key).with_for_update()).first()
            if row is not None and row.attempts > 0:
                row.attempts -= 1
                if row.attempts < limit.attempts:
                    row.locked_until = None
        uow.commit()


def _expire(row: ThrottleCounter, limit: Backoff, now: datetime) -> None:
    """Forget a key quiet for `forget_after` since its last count, or since its last lockout ended."""
    quiet_since = max(row.window_start, row.locked_until or row.window_start)
    if quiet_since + limit.forget_after <= now:
        row.attempts, row.locked_until = 0, None


def _count(row: ThrottleCounter, limit: Backoff, now: datetime) -> None:
    row.attempts += 1
    row.window_start = now  # for a Backoff: when it last counted
    lockout = limit.lockout_after(row.attempts)
    if lockout is not None:
        row.locked_until = now + lockout


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
