"""Nobody logs in without a password: sessions end (issue 20, point 2).

Logout, a new password and disabling the account end the account's sessions at once, on every web process (the
session epoch lives in the database, checked on every request); a cookie does not renew itself forever (an
absolute lifetime besides the idle one); `rma users disable` revokes every API token for good and a disabled
account cannot log in (401). Each attack is one case, on SQLite and PostgreSQL; the races are on PostgreSQL.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from click.testing import CliRunner
from sqlalchemy import func, select

from engine import Orchestrator
from engine.actors import Actor
from engine.errors import InvalidInput, NotAllowed, NotFound, Unauthenticated
from engine.services import users
from engine.services.throttle import TooManyAttempts
from engine.store.model import ApiToken, AuditEvent, User
from tests.helpers import race
from web import cli, create_app
from web.auth import SESSION_MAX_AGE

PG_ONLY = pytest.mark.parametrize("db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)


def _csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def _log_in(client, username="sg.reception", password="demo"):
    csrf = _csrf(client.get("/login").get_data(as_text=True))
    return client.post("/login", data={"username": username, "password": password, "csrf_token": csrf})


def _logged_in(app, username="sg.reception"):
    client = app.test_client()
    answer = _log_in(client, username)
    assert answer.status_code == 302, answer.get_data(as_text=True)
    return client


def _copy(app, client):
    """Another browser holding a copy of the client's session cookie (a stolen or backed-up cookie)."""
    thief = app.test_client()
    thief.set_cookie("session", client.get_cookie("session").value)
    return thief


def _opens(client) -> bool:
    answer = client.get("/inbox")
    assert answer.status_code in (200, 302)
    return answer.status_code == 200


def _log_out(client):
    csrf = _csrf(client.get("/inbox").get_data(as_text=True))
    assert client.post("/logout", data={"csrf_token": csrf}).status_code == 302


def _token(client, username="sg.tech", password="demo"):
    return client.post("/api/auth/token", json={"username": username, "password": password})


def _bearer(client, username="sg.tech"):
    answer = _token(client, username)
    assert answer.status_code == 200, answer.get_json()
    return {"Authorization": f"Bearer {answer.get_json()['token']}"}


def _cli(orc, monkeypatch, *args):
    monkeypatch.setattr(cli, "_orchestrator", lambda: orc)
    return CliRunner().invoke(cli.main, list(args))


def _audited(orc, kind: str) -> int:
    with orc.reading() as s:
        return s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.kind == kind))


@pytest.fixture
def second_process(orc):
    """A second web process: its own Orchestrator (engine and pool) and app on the same database."""
    other = Orchestrator(orc.settings)
    try:
        yield create_app({"RMA_ORCHESTRATOR": other, "TESTING": True})
    finally:
        other.dispose()


# --- logout ----------------------------------------------------------------------------------------


def test_a_copied_cookie_opens_nothing_after_logout(app):
    client = _logged_in(app)
    thief = _copy(app, client)
    assert _opens(thief)
    _log_out(client)
    assert not _opens(client) and not _opens(thief)


def test_logout_ends_the_session_on_every_web_process_at_once(app, second_process):
    client = _logged_in(app)
    elsewhere = _copy(second_process, client)
    assert _opens(elsewhere)
    _log_out(client)
    assert not _opens(elsewhere)


def test_logout_ends_the_accounts_other_sessions_too(app):
    laptop, phone = _logged_in(app), _logged_in(app)
    _log_out(laptop)
    assert not _opens(phone)
    assert _opens(_logged_in(app))  # logging in again works


def test_logout_leaves_other_accounts_logged_in(app):
    mine, theirs = _logged_in(app, "sg.reception"), _logged_in(app, "sg.tech")
    _log_out(mine)
    assert _opens(theirs)


def test_the_api_refuses_a_browser_session_after_logout(app):
    client = _logged_in(app)
    thief = _copy(app, client)
    assert thief.get("/api/me").status_code == 200
    _log_out(client)
    assert thief.get("/api/me").status_code == 401


# --- a new password --------------------------------------------------------------------------------


def test_a_new_password_ends_every_session(orc, app, second_process):
    client = _logged_in(app)
    elsewhere = _copy(second_process, client)
    users.add_user(orc, "sg.reception", "reception", "SG", "a new password")
    assert not _opens(client) and not _opens(elsewhere)
    assert _log_in(app.test_client(), password="demo").status_code == 401
    assert _log_in(app.test_client(), password="a new password").status_code == 302


def test_a_reset_through_the_cli_ends_every_session(orc, app, monkeypatch):
    client = _logged_in(app)
    result = _cli(orc, monkeypatch, "users", "add", "sg.reception", "--role", "reception", "--centre", "SG",
                  "--password", "another one")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert not _opens(client)


def test_saving_the_same_password_again_ends_nothing(orc, app):
    client = _logged_in(app)
    with orc.reading() as s:
        stored = s.scalar(select(User.password_hash).where(User.username == "sg.reception"))
    users.add_user(orc, "sg.reception", "reception", "SG", None, password_hash=stored)
    assert _opens(client)


# --- disabling an account --------------------------------------------------------------------------


def test_disable_ends_sessions_and_revokes_tokens_on_every_process(orc, app, second_process, monkeypatch):
    client, api = _logged_in(app, "sg.tech"), app.test_client()
    bearer = _bearer(api)
    elsewhere = _copy(second_process, client)
    result = _cli(orc, monkeypatch, "users", "disable", "sg.tech")
    assert result.exit_code == 0, result.output
    assert "user sg.tech disabled; 1 API token(s) revoked" in result.output
    assert not _opens(client) and not _opens(elsewhere)
    assert api.get("/api/me", headers=bearer).status_code == 401
    assert second_process.test_client().get("/api/me", headers=bearer).status_code == 401


def test_a_disabled_account_cannot_log_in_with_its_password(orc, app):
    users.disable_user(orc, Actor.system(), "sg.tech")
    client = app.test_client()
    token = _token(client)
    assert token.status_code == 401 and token.get_json()["code"] == "unauthenticated"
    page = _log_in(client, "sg.tech")
    assert page.status_code == 401 and "Wrong username or password" in page.get_data(as_text=True)
    assert not _opens(client)
    with pytest.raises(Unauthenticated):
        users.authenticate(orc, "sg.tech", "demo")


def test_tokens_stay_revoked_after_re_enabling(orc, app, monkeypatch):
    api = app.test_client()
    bearer = _bearer(api)
    assert _cli(orc, monkeypatch, "users", "disable", "sg.tech").exit_code == 0
    result = _cli(orc, monkeypatch, "users", "enable", "sg.tech")
    assert result.exit_code == 0 and "user sg.tech enabled" in result.output
    assert api.get("/api/me", headers=bearer).status_code == 401
    assert api.get("/api/me", headers=_bearer(api)).status_code == 200  # a new login gets a new token


def test_a_session_from_before_the_disable_stays_dead_after_re_enabling(orc, app):
    client = _logged_in(app, "sg.tech")
    users.disable_user(orc, Actor.system(), "sg.tech")
    users.enable_user(orc, Actor.system(), "sg.tech")
    assert not _opens(client)
    assert _opens(_logged_in(app, "sg.tech"))


def test_a_token_cannot_be_issued_to_a_disabled_account(orc):
    tech = users.actor_by_username(orc, "sg.tech")
    users.disable_user(orc, Actor.system(), "sg.tech")
    with pytest.raises(Unauthenticated):
        users.issue_token(orc, tech)


def test_disable_and_enable_are_idempotent_and_audited_once(orc, monkeypatch):
    assert users.disable_user(orc, Actor.system(), "sg.tech")["changed"] is True
    again = _cli(orc, monkeypatch, "users", "disable", "sg.tech")
    assert again.exit_code == 0 and "user sg.tech was disabled already" in again.output
    assert users.enable_user(orc, Actor.system(), "sg.tech")["changed"] is True
    assert users.enable_user(orc, Actor.system(), "sg.tech")["changed"] is False
    assert _audited(orc, "user_disabled") == 1 and _audited(orc, "user_enabled") == 1


def test_disabling_an_unknown_account_says_so(orc, monkeypatch):
    for command in ("disable", "enable"):
        result = _cli(orc, monkeypatch, "users", command, "nobody")
        assert result.exit_code == 1 and "no user nobody" in result.output


def test_only_a_manager_of_the_account_may_disable_it(orc):
    users.add_user(orc, "sg.manager", "manager", "SG", "demo")
    with pytest.raises(NotAllowed):
        users.disable_user(orc, users.actor_by_username(orc, "sg.reception"), "sg.tech")
    with pytest.raises(NotFound):  # another centre's account, as if it did not exist
        users.disable_user(orc, users.actor_by_username(orc, "sg.manager"), "de.tech")
    with pytest.raises(InvalidInput):
        users.disable_user(orc, users.actor_by_username(orc, "sg.manager"), "sg.manager")
    assert users.disable_user(orc, users.actor_by_username(orc, "sg.manager"), "sg.tech")["changed"]


# --- lifetimes -------------------------------------------------------------------------------------


def test_a_busy_session_still_ends_at_its_absolute_lifetime(app):
    with time_machine.travel(datetime.now(UTC), tick=False) as clock:
        client = _logged_in(app)
        elapsed = timedelta(0)
        while elapsed + timedelta(hours=1) < SESSION_MAX_AGE:  # a request every hour renews the idle lifetime
            clock.shift(timedelta(hours=1))
            elapsed += timedelta(hours=1)
            assert _opens(client), elapsed
        clock.shift(SESSION_MAX_AGE - elapsed + timedelta(seconds=1))
        assert not _opens(client)
        assert _opens(_logged_in(app))


def test_an_idle_session_ends_before_the_absolute_lifetime(app):
    with time_machine.travel(datetime.now(UTC), tick=False) as clock:
        client = _logged_in(app)
        clock.shift(app.config["PERMANENT_SESSION_LIFETIME"] + timedelta(seconds=1))
        assert app.config["PERMANENT_SESSION_LIFETIME"] < SESSION_MAX_AGE
        assert not _opens(client)


def test_a_signed_session_without_an_epoch_is_refused(app):
    """A cookie from before sessions carried an epoch (or one missing its login time) opens nothing."""
    for keys in ({"_user_id": "manager", "_fresh": True}, {"_user_id": "manager", "_fresh": True, "rma_epoch": 0}):
        client = app.test_client()
        with client.session_transaction() as sess:
            sess.update(keys)
        assert not _opens(client)


def test_a_session_from_the_future_is_refused(app):
    client = _logged_in(app)
    with client.session_transaction() as sess:
        sess["rma_signed_in_at"] += 3600
    assert not _opens(client)


# --- races (PostgreSQL) ----------------------------------------------------------------------------


def _state(orc, username="sg.tech") -> dict:
    with orc.reading() as s:
        user = s.scalar(select(User).where(User.username == username))
        live = s.scalar(
            select(func.count()).select_from(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        )
        return {"active": user.active, "epoch": user.session_epoch, "live_tokens": live}


@PG_ONLY
@pytest.mark.timeout(120)
def test_ten_concurrent_disables_leave_one_consistent_state(orc):
    for _ in range(3):
        users.sign_in(orc, "sg.tech", "demo", token=True)
    before = _state(orc)
    results = race(*[lambda: users.disable_user(orc, Actor.system(), "sg.tech") for _ in range(10)])
    assert all(isinstance(r, dict) for r in results), results
    assert sorted(r["changed"] for r in results) == [False] * 9 + [True]
    assert sum(r["tokens_revoked"] for r in results) == 3
    assert _state(orc) == {"active": False, "epoch": before["epoch"] + 1, "live_tokens": 0}
    assert _audited(orc, "user_disabled") == 1


@PG_ONLY
@pytest.mark.timeout(120)
def test_ten_concurrent_enables_leave_one_consistent_state(orc):
    users.disable_user(orc, Actor.system(), "sg.tech")
    results = race(*[lambda: users.enable_user(orc, Actor.system(), "sg.tech") for _ in range(10)])
    assert sorted(r["changed"] for r in results) == [False] * 9 + [True], results
    assert _state(orc)["active"] is True and _audited(orc, "user_enabled") == 1


@PG_ONLY
@pytest.mark.timeout(120)
def test_logins_racing_a_disable_leave_no_live_token(orc):
    """Ten logins asking for a token race one disable: each login either comes first (and its token is revoked)
    or finds the account disabled (401); re-enabling revives none of them."""
    calls = [lambda n=n: users.sign_in(orc, "sg.tech", "demo", address=f"10.7.0.{n}", token=True) for n in range(10)]
    results = race(*[*calls, lambda: users.disable_user(orc, Actor.system(), "sg.tech")])
    # refused: the account is disabled (401), or its failed logins are being throttled (429)
    refused = Unauthenticated | TooManyAttempts
    assert all(not isinstance(r, Exception) or isinstance(r, refused) for r in results), results
    users.enable_user(orc, Actor.system(), "sg.tech")
    assert _state(orc)["live_tokens"] == 0
    issued = [r.token["token"] for r in results[:10] if not isinstance(r, Exception)]
    for token in issued:
        with pytest.raises(Unauthenticated):
            users.actor_for_token(orc, token)


@PG_ONLY
@pytest.mark.timeout(120)
def test_logins_racing_a_password_change_keep_no_session_or_token_of_the_old_password(orc):
    calls = [lambda n=n: users.sign_in(orc, "sg.tech", "demo", address=f"10.7.1.{n}", token=True) for n in range(8)]
    results = race(*[*calls, lambda: users.add_user(orc, "sg.tech", "technician", "SG", "a new password")])
    epoch = _state(orc)["epoch"]
    for signed_in in results[:8]:
        if isinstance(signed_in, Exception):
            assert isinstance(signed_in, Unauthenticated | TooManyAttempts), signed_in
            continue
        assert signed_in.session_epoch != epoch  # its session is dead
        with pytest.raises(Unauthenticated):
            users.actor_for_token(orc, signed_in.token["token"])


@PG_ONLY
@pytest.mark.timeout(120)
def test_concurrent_logouts_of_one_account_each_end_its_sessions(orc):
    tech = users.actor_by_username(orc, "sg.tech")
    epoch = _state(orc)["epoch"]
    results = race(*[lambda: users.end_sessions(orc, tech) for _ in range(10)])
    assert results == [None] * 10
    assert _state(orc)["epoch"] == epoch + 10  # no increment lost
    assert users.session_actor(orc, "sg.tech", epoch) is None
