"""The throttle's table over days, on each backend: yesterday's rows neither break today's logins nor pile up.

On PostgreSQL psycopg reports rowcount -1 for INSERT ... ON CONFLICT DO NOTHING; the throttle took that for
"a new key" and ran its stale-row cleanup on every try, deleting the very row it was about to lock once that
row was a day old: the next login from an address that had logged in before answered 500.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select

from engine.errors import Unauthenticated
from engine.services import throttle, users
from engine.store.model import ThrottleCounter, utcnow


def _keys(orc) -> dict:
    with orc.uow() as uow:
        return {row.key: row.attempts for row in uow.session.scalars(select(ThrottleCounter))}


def test_logging_in_again_days_later_from_the_same_address_works(orc):
    users.login(orc, "manager", "demo", address="10.1.1.1")
    assert "login-ip:10.1.1.1" in _keys(orc)  # a successful login refunds the address's try but keeps its row
    with time_machine.travel(utcnow(), tick=False) as clock:
        clock.move_to(utcnow() + timedelta(days=3))
        assert users.login(orc, "manager", "demo", address="10.1.1.1").username == "manager"


def test_a_wrong_password_days_ago_neither_breaks_nor_counts_against_today(orc):
    with pytest.raises(Unauthenticated):
        users.login(orc, "sg.tech", "wrong", address="10.1.1.2")
    with time_machine.travel(utcnow(), tick=False) as clock:
        clock.move_to(utcnow() + timedelta(days=2))
        for _ in range(throttle.LOGIN_PER_USER.attempts - 1):
            with pytest.raises(Unauthenticated):
                users.login(orc, "sg.tech", "wrong", address="10.1.1.2")
        assert users.login(orc, "sg.tech", "demo", address="10.1.1.2").username == "sg.tech"


def test_stale_rows_of_other_keys_are_cleared_when_a_new_key_arrives(orc):
    for n in range(3):  # a spray of made-up usernames
        with pytest.raises(Unauthenticated):
            users.login(orc, f"nobody-{n}", "x", address="10.1.1.3")
    with time_machine.travel(utcnow(), tick=False) as clock:
        clock.move_to(utcnow() + timedelta(days=2))
        with pytest.raises(Unauthenticated):
            users.login(orc, "nobody-new", "x", address="10.1.1.4")
    left = _keys(orc)
    assert not [key for key in left if key.startswith("login-user:nobody-") and key != "login-user:nobody-new"]
    assert left["login-user:nobody-new"] == 1 and left["login-ip:10.1.1.4"] == 1
