"""Lockout is not a weapon (issue 20, point 5).

Failed logins slow down with a growing delay (429 with Retry-After) per (account, address), per account over
addresses and per address over accounts, instead of locking the account for everyone: a guesser's failures
from their own address never keep the account's owner out, 50 failures from one address do not lock out the
people behind it, and the owner is told at their next login (and in the audit trail). Each attack is one case,
on SQLite and PostgreSQL; the races are on PostgreSQL.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import func, select

from engine.errors import Unauthenticated
from engine.services import throttle, users
from engine.services.throttle import TooManyAttempts
from engine.store.model import AuditEvent, User
from tests.helpers import race

PG_ONLY = pytest.mark.parametrize("db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
ATTACKER, OFFICE, HOME = "203.0.113.66", "198.51.100.10", "192.0.2.20"


def _token(client, username, password="demo", address=ATTACKER):
    return client.post(
        "/api/auth/token", json={"username": username, "password": password}, environ_base={"REMOTE_ADDR": address}
    )


def _login_form(client, username, password="demo", address=ATTACKER):
    environ = {"REMOTE_ADDR": address}
    page = client.get("/login", environ_base=environ).get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    return client.post(
        "/login", data={"username": username, "password": password, "csrf_token": csrf}, environ_base=environ
    )


def _try(orc, username, password, address) -> int:
    try:
        users.login(orc, username, password, address=address)
    except Unauthenticated:
        return 401
    except TooManyAttempts:
        return 429
    return 200


def _fail_n_times(orc, clock, username, address, failures: int) -> list[int]:
    """`failures` wrong passwords from `address`, each as soon as the delay before it is over; the delays waited."""
    waits = []
    for _ in range(failures):
        while True:
            try:
                users.login(orc, username, "wrong", address=address)
            except Unauthenticated:
                break
            except TooManyAttempts as exc:
                waits.append(exc.retry_after)
                clock.shift(timedelta(seconds=exc.retry_after))
    return waits


def _audited(orc, kind) -> list[dict]:
    with orc.reading() as s:
        return [e.data for e in s.scalars(select(AuditEvent).where(AuditEvent.kind == kind).order_by(AuditEvent.id))]


# --- one guesser, one address ----------------------------------------------------------------------


def test_a_guesser_waits_longer_after_every_failure(orc):
    with time_machine.travel(datetime.now(UTC), tick=False) as clock:
        waits = _fail_n_times(orc, clock, "sg.tech", ATTACKER, throttle.LOGIN_PER_USER.attempts + 6)
    assert waits == [60, 120, 240, 480, 900, 900]  # a minute, doubling, at most 15 minutes


def test_the_delay_is_a_429_with_retry_after_on_the_api_and_the_login_page(client):
    for _ in range(throttle.LOGIN_PER_USER.attempts):
        assert _token(client, "sg.tech", "wrong").status_code == 401
    refused = _token(client, "sg.tech")  # even the right password waits, from the guesser's address
    assert refused.status_code == 429 and refused.get_json()["code"] == "too_many_requests"
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    page = _login_form(client, "sg.tech")
    assert page.status_code == 429 and 0 < int(page.headers["Retry-After"]) <= 60
    assert "Too many login attempts" in page.get_data(as_text=True)


def test_fifty_failures_from_the_guessers_address_never_keep_the_owner_out(orc, client):
    assert _token(client, "sg.tech", address=HOME).status_code == 200  # the owner's usual address
    with time_machine.travel(datetime.now(UTC), tick=False) as clock:
        _fail_n_times(orc, clock, "sg.tech", ATTACKER, 50)
        assert _try(orc, "sg.tech", "wrong", ATTACKER) == 429  # the guesser waits
        assert _token(client, "sg.tech", address=HOME).status_code == 200
        assert _token(client, "sg.tech", address="192.0.2.99").status_code == 200  # a first login from elsewhere too
        assert _login_form(client, "sg.tech", address=HOME).status_code == 302


def test_the_delay_is_forgotten_after_an_hour_without_failures(orc):
    with time_machine.travel(datetime.now(UTC), tick=False) as clock:
        _fail_n_times(orc, clock, "sg.tech", ATTACKER, throttle.LOGIN_PER_USER.attempts + 2)
        assert _try(orc, "sg.tech", "demo", ATTACKER) == 429
        clock.shift(throttle.LOGIN_PER_USER.max_lockout + throttle.LOGIN_PER_USER.forget_after)
        assert [_try(orc, "sg.tech", "wrong", ATTACKER) for _ in range(5)] == [401] * 5  # five tries again


# --- one address, many people (a NAT, an office proxy) ---------------------------------------------


def test_fifty_failures_on_one_account_behind_a_nat_lock_out_no_one_else_there(orc, client):
    with time_machine.travel(datetime.now(UTC), tick=False) as clock:
        _fail_n_times(orc, clock, "sg.tech", OFFICE, 50)
        for colleague in ("sg.reception", "sg.qa", "manager"):  # none of them logged in from there before
            assert _token(client, colleague, address=OFFICE).status_code == 200, colleague


def test_a_spray_over_fifty_usernames_keeps_out_no_one_who_logged_in_there_before(orc, client):
    for colleague in ("sg.reception", "sg.qa"):
        assert _token(client, colleague, address=OFFICE).status_code == 200
    for n in range(50):
        assert _try(orc, f"guess{n}", "wrong", OFFICE) in (401, 429)
    for colleague in ("sg.reception", "sg.qa"):
        assert _token(client, colleague, address=OFFICE).status_code == 200, colleague
        assert _login_form(client, colleague, address=OFFICE).status_code == 302
    # the spraying address is slowed down for accounts that never logged in from it, and only from there
    assert _try(orc, "guess-new", "wrong", OFFICE) == 429
    assert _token(client, "sg.tech", address=OFFICE).status_code == 429
    assert _token(client, "sg.tech", address=HOME).status_code == 200


def test_one_address_spraying_slows_down_only_after_its_limit(orc):
    for n in range(throttle.LOGIN_PER_ADDRESS.attempts):
        assert _try(orc, f"guess{n}", "wrong", ATTACKER) == 401, n
    assert _try(orc, "guess-more", "wrong", ATTACKER) == 429


# --- many addresses, one account (a spread-out guess) ----------------------------------------------


def test_a_guess_spread_over_addresses_slows_new_addresses_but_not_the_owners(orc, client):
    assert _token(client, "sg.tech", address=HOME).status_code == 200
    for n in range(throttle.LOGIN_ADDRESSES_PER_USER.attempts):
        assert _try(orc, "sg.tech", "wrong", f"203.0.113.{n}") == 401
    assert _try(orc, "sg.tech", "demo", "203.0.113.200") == 429  # one more new address waits, right password or not
    assert _token(client, "sg.tech", address=HOME).status_code == 200


def test_an_address_is_known_for_ninety_days_after_a_login(orc):
    assert _try(orc, "sg.tech", "demo", HOME) == 200
    for n in range(throttle.LOGIN_ADDRESSES_PER_USER.attempts):
        _try(orc, "sg.tech", "wrong", f"203.0.113.{n}")
    with time_machine.travel(datetime.now(UTC), tick=False) as clock:
        assert _try(orc, "sg.tech", "demo", HOME) == 200  # the guess from other addresses keeps no one out at HOME
        clock.shift(users.KNOWN_ADDRESS_FOR + timedelta(days=1))
        for n in range(throttle.LOGIN_ADDRESSES_PER_USER.attempts):
            _try(orc, "sg.tech", "wrong", f"203.0.115.{n}")
        assert _try(orc, "sg.tech", "demo", HOME) == 429  # no login from there for 91 days: a new address again


# --- the owner is told ------------------------------------------------------------------------------


def test_the_owner_is_told_at_the_next_login_and_in_the_audit_trail(orc, client):
    with time_machine.travel(datetime.now(UTC), tick=False) as clock:
        _fail_n_times(orc, clock, "sg.tech", ATTACKER, 7)
        page = _login_form(client, "sg.tech", address=HOME)
        assert page.status_code == 302
        notice = client.get("/inbox").get_data(as_text=True)
    assert "7 failed login attempts on your account since your last login" in notice
    assert ATTACKER in notice
    events = _audited(orc, "login_failures")
    assert [e["failures"] for e in events] == [5] and events[0]["username"] == "sg.tech"
    assert events[0]["last_from"] == ATTACKER
    assert _login_form(client, "sg.tech", address=HOME).status_code == 302  # told once
    assert "failed login attempts" not in client.get("/inbox").get_data(as_text=True)


def test_a_typo_or_two_is_no_news(client):
    assert _login_form(client, "sg.tech", "wrong", address=HOME).status_code == 401
    assert _login_form(client, "sg.tech", address=HOME).status_code == 302
    assert "failed login attempts" not in client.get("/inbox").get_data(as_text=True)


def test_failures_on_unknown_usernames_touch_no_account(orc):
    for n in range(3):
        _try(orc, f"nobody{n}", "wrong", ATTACKER)
    with orc.reading() as s:
        assert s.scalar(select(func.sum(User.failed_logins))) == 0
    assert _audited(orc, "login_failures") == []


# --- races (PostgreSQL) ----------------------------------------------------------------------------


@PG_ONLY
@pytest.mark.timeout(180)
def test_parallel_guesses_from_one_address_get_exactly_five_tries(orc):
    results = race(*[lambda: _try(orc, "sg.tech", "wrong", ATTACKER) for _ in range(15)])
    assert sorted(results) == [401] * throttle.LOGIN_PER_USER.attempts + [429] * 10


@PG_ONLY
@pytest.mark.timeout(180)
def test_parallel_guesses_from_many_addresses_count_each_address_once(orc):
    calls = [lambda n=n: _try(orc, "sg.tech", "wrong", f"203.0.113.{n}") for n in range(12)]
    results = race(*calls)
    assert sorted(results) == [401] * throttle.LOGIN_ADDRESSES_PER_USER.attempts + [429] * 7


@PG_ONLY
@pytest.mark.timeout(180)
def test_parallel_failures_are_all_counted_for_the_owners_notice(orc):
    addresses = [f"192.0.2.{n}" for n in range(10)]
    for address in addresses:  # known addresses: only each one's own delay applies
        assert _try(orc, "sg.tech", "demo", address) == 200
    results = race(*[lambda a=a: _try(orc, "sg.tech", "wrong", a) for a in addresses])
    assert results == [401] * 10
    with orc.reading() as s:
        assert s.scalar(select(User.failed_logins).where(User.username == "sg.tech")) == 10
    assert [e["failures"] for e in _audited(orc, "login_failures")] == [5, 10]


@PG_ONLY
@pytest.mark.timeout(180)
def test_a_spray_racing_the_owners_login_never_refuses_the_owner(orc):
    assert _try(orc, "sg.reception", "demo", OFFICE) == 200
    calls = [lambda n=n: _try(orc, f"guess{n}", "wrong", OFFICE) for n in range(30)]
    results = race(*[*calls, lambda: _try(orc, "sg.reception", "demo", OFFICE)])
    assert results[-1] == 200
    assert sorted(results[:-1]) == [401] * throttle.LOGIN_PER_ADDRESS.attempts + [429] * 10
