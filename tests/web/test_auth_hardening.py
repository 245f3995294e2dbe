"""Access control that holds: password hashes, session cookies, login throttling, tokens, the portal's links."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import re
import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select

from engine import Orchestrator
from engine.errors import Unauthenticated
from engine.services import rmas, throttle, users
from engine.store.model import ApiToken, User
from tests.helpers import actor, rma_payload

A, B = {"REMOTE_ADDR": "10.0.0.1"}, {"REMOTE_ADDR": "10.0.0.2"}


def _token(client, username, password="demo", address=A):
    return client.post("/api/auth/token", json={"username": username, "password": password}, environ_base=address)


def _login_form(client, username, password="demo", address=A):
    page = client.get("/login", environ_base=address).get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    return client.post(
        "/login", data={"username": username, "password": password, "csrf_token": csrf}, environ_base=address
    )


def _session_cookie(response) -> str:
    return next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("session="))


# --- passwords and sessions ------------------------------------------------------------------------


def test_passwords_are_stored_as_argon2id_hashes(orc):
    users.add_user(orc, "kim", "reception", "SG", "correct horse battery staple")
    with orc.uow() as uow:
        stored = uow.session.scalar(select(User.password_hash).where(User.username == "kim"))
    assert stored.startswith("$argon2id$") and "correct horse" not in stored
    assert users.authenticate(orc, "kim", "correct horse battery staple").role == "reception"


def test_session_cookie_is_http_only_same_site_and_expires(client):
    response = _login_form(client, "sg.reception")
    assert response.status_code == 302 and response.headers["Location"].endswith("/inbox")
    cookie = _session_cookie(response)
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Expires=" in cookie
    assert "Secure" not in cookie  # RMA_BASE_URL is http:// in tests: the browser would drop it otherwise


def test_session_cookie_is_secure_when_the_site_is_https(orc):
    from web import create_app

    https = Orchestrator(dataclasses.replace(orc.settings, base_url="https://rma.example.com"))
    try:
        client = create_app({"RMA_ORCHESTRATOR": https, "TESTING": True}).test_client()
        assert "Secure" in _session_cookie(_login_form(client, "sg.reception"))
    finally:
        https.dispose()


def test_login_starts_a_new_session_so_nothing_planted_before_survives(client):
    client.get("/login", environ_base=A)
    with client.session_transaction() as sess:
        sess["planted"] = "by an attacker"
        planted_csrf = sess["csrf_token"]
    assert _login_form(client, "sg.reception").status_code == 302
    with client.session_transaction() as sess:
        assert "planted" not in sess and sess["_user_id"] == "sg.reception"
        assert sess.get("csrf_token") != planted_csrf


def test_session_expires_after_its_lifetime(client):
    start = datetime.now(UTC)
    with time_machine.travel(start, tick=False) as clock:
        _login_form(client, "sg.reception")
        assert client.get("/inbox").status_code == 200
        clock.shift(timedelta(hours=13))
        response = client.get("/inbox")
        assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_logout_ends_the_session(client):
    _login_form(client, "sg.reception")
    page = client.get("/inbox").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert client.post("/logout", data={"csrf_token": csrf}).status_code == 302
    assert client.get("/inbox").status_code == 302


def test_responses_carry_protective_headers(client):
    for response in (client.get("/login"), client.get("/api/health")):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "same-origin"


# --- login throttling ------------------------------------------------------------------------------


def test_sixth_try_on_one_username_is_refused_even_with_the_right_password(client):
    for _ in range(throttle.LOGIN_PER_USER.attempts):
        assert _token(client, "sg.tech", "wrong").status_code == 401
    refused = _token(client, "sg.tech")  # from the guessing address: the delay is the (account, address)'s
    assert refused.status_code == 429 and refused.get_json()["code"] == "too_many_requests"
    assert 0 < int(refused.headers["Retry-After"]) <= 15 * 60
    form = _login_form(client, "sg.tech")  # the staff login page counts against the same limit
    assert form.status_code == 429 and int(form.headers["Retry-After"]) > 0
    assert _token(client, "sg.qa").status_code == 200  # other accounts are unaffected
    # issue 20.5, lockout is not a weapon: one address's failures keep the account's owner out nowhere else
    assert _token(client, "sg.tech", address=B).status_code == 200


def test_lockout_ends_after_its_window(client):
    with time_machine.travel(datetime.now(UTC), tick=False) as clock:
        for _ in range(throttle.LOGIN_PER_USER.attempts):
            _token(client, "sg.tech", "wrong")
        assert _token(client, "sg.tech").status_code == 429
        clock.shift(throttle.LOGIN_PER_USER.lockout + timedelta(seconds=1))
        assert _token(client, "sg.tech").status_code == 200


def test_a_correct_password_resets_the_count(client):
    for _ in range(throttle.LOGIN_PER_USER.attempts - 1):
        assert _token(client, "sg.tech", "wrong").status_code == 401
    assert _token(client, "sg.tech").status_code == 200
    for _ in range(throttle.LOGIN_PER_USER.attempts - 1):
        assert _token(client, "sg.tech", "wrong").status_code == 401
    assert _token(client, "sg.tech").status_code == 200


def test_one_address_spraying_many_usernames_is_locked_out(client):
    for n in range(throttle.LOGIN_PER_ADDRESS.attempts):
        assert _token(client, f"guess{n}", "wrong").status_code == 401
    assert _token(client, "sg.tech").status_code == 429  # from the spraying address, even a real login waits
    assert _token(client, "sg.tech", address=B).status_code == 200


def test_every_web_process_counts_against_the_same_limit(orc, app):
    from web import create_app

    other = Orchestrator(orc.settings)  # a second process: its own engine and pool, the same database
    try:
        second = create_app({"RMA_ORCHESTRATOR": other, "TESTING": True}).test_client()
        first = app.test_client()
        for n in range(throttle.LOGIN_PER_USER.attempts):
            assert _token(first if n % 2 else second, "sg.tech", "wrong").status_code == 401
        assert _token(first, "sg.tech").status_code == 429 and _token(second, "sg.tech").status_code == 429
    finally:
        other.dispose()


def test_parallel_guesses_cannot_get_past_the_limit(orc):
    results, barrier = [], threading.Barrier(12)

    def guess():
        barrier.wait()
        try:
            users.login(orc, "sg.tech", "wrong", address="10.9.9.9")
        except Unauthenticated:
            results.append(401)
        except throttle.TooManyAttempts:
            results.append(429)

    threads = [threading.Thread(target=guess) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert sorted(results) == [401] * throttle.LOGIN_PER_USER.attempts + [429] * 7


# --- API tokens ------------------------------------------------------------------------------------


def test_tokens_are_stored_only_as_hashes(orc, client):
    token = _token(client, "sg.tech").get_json()["token"]
    with orc.uow() as uow:
        stored = [row.token_hash for row in uow.session.scalars(select(ApiToken))]
    assert hashlib.sha256(token.encode()).hexdigest() in stored and token not in stored
    assert len(base64.urlsafe_b64decode(token + "==")) >= 32  # 256 random bits


def test_tokens_expire(orc, client):
    with time_machine.travel(datetime.now(UTC), tick=False) as clock:
        token = _token(client, "sg.tech").get_json()["token"]
        headers = {"Authorization": f"Bearer {token}"}
        assert client.get("/api/me", headers=headers).status_code == 200
        clock.shift(timedelta(hours=orc.settings.token_ttl_hours, minutes=1))
        assert client.get("/api/me", headers=headers).status_code == 401


def test_a_user_lists_and_revokes_their_own_tokens_only(client):
    laptop = {"Authorization": f"Bearer {_token(client, 'sg.tech').get_json()['token']}"}
    phone = {"Authorization": f"Bearer {_token(client, 'sg.tech').get_json()['token']}"}
    other = {"Authorization": f"Bearer {_token(client, 'sg.qa').get_json()['token']}"}
    listed = client.get("/api/auth/tokens", headers=laptop).get_json()
    assert len(listed) == 2 and [t["current"] for t in listed] == [False, True] and all(t["active"] for t in listed)
    phone_id = listed[0]["id"]
    assert client.delete(f"/api/auth/tokens/{phone_id}", headers=other).status_code == 404
    assert client.get("/api/me", headers=phone).status_code == 200
    assert client.delete(f"/api/auth/tokens/{phone_id}", headers=laptop).status_code == 204
    assert client.get("/api/me", headers=phone).status_code == 401
    assert client.get("/api/me", headers=laptop).status_code == 200
    assert [t["active"] for t in client.get("/api/auth/tokens", headers=laptop).get_json()] == [False, True]


def test_a_new_password_revokes_the_old_tokens(orc, client):
    headers = {"Authorization": f"Bearer {_token(client, 'sg.tech').get_json()['token']}"}
    users.add_user(orc, "sg.tech", "technician", "SG", "a new password")
    assert client.get("/api/me", headers=headers).status_code == 401
    assert _token(client, "sg.tech", "a new password").status_code == 200


# --- the customer portal ---------------------------------------------------------------------------


def test_tracking_tokens_are_unguessable(orc):
    reception = actor(orc, "sg.reception")
    tokens = [rmas.open_rma(orc, reception, rma_payload(serial=f"SN-{n}"))["tracking_token"] for n in range(20)]
    assert len(set(tokens)) == len(tokens)
    for token in tokens:
        assert re.fullmatch(r"[A-Za-z0-9_-]+", token)
        assert len(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))) * 8 >= 128


@pytest.mark.parametrize("prefix", ["/api/portal/", "/track/"])
def test_wrong_tracking_tokens_are_throttled_per_address(orc, client, prefix):
    token = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload())["tracking_token"]
    with time_machine.travel(datetime.now(UTC), tick=False) as clock:
        for n in range(throttle.PORTAL_MISSES_PER_ADDRESS.attempts):
            assert client.get(f"{prefix}{token[:-3]}{n:03d}", environ_base=A).status_code == 404
        refused = client.get(f"{prefix}{token}", environ_base=A)  # even the right token, from this address
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
        assert client.get(f"{prefix}{token}", environ_base=B).status_code == 200
        clock.shift(throttle.PORTAL_MISSES_PER_ADDRESS.lockout + timedelta(seconds=1))
        assert client.get(f"{prefix}{token}", environ_base=A).status_code == 200


def test_wrong_tracking_tokens_on_the_sms_choice_count_as_guesses_too(orc, client):
    """Every API endpoint that takes a tracking token is throttled, not only the portal view."""
    token = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload())["tracking_token"]
    for n in range(throttle.PORTAL_MISSES_PER_ADDRESS.attempts):
        wrong = client.post(f"/api/portal/{token[:-3]}{n:03d}/sms", json={"opt_out": True}, environ_base=A)
        assert wrong.status_code == 404
    refused = client.post(f"/api/portal/{token}/sms", json={"opt_out": True}, environ_base=A)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert client.post(f"/api/portal/{token}/sms", json={"opt_out": True}, environ_base=B).status_code == 200


# --- request size ----------------------------------------------------------------------------------


def test_a_body_over_the_size_limit_is_413_json_on_the_api(app, client):
    headers = {
        "Authorization": f"Bearer {_token(client, 'sg.reception').get_json()['token']}",
        "Content-Type": "application/json",
    }
    body = b"x" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    response = client.post("/api/rmas", data=body, headers=headers)
    assert response.status_code == 413
    assert response.get_json()["code"] == "too_large" and response.get_json()["message"]


def test_a_form_over_the_size_limit_is_413(app, client):
    _login_form(client, "sg.reception")
    body = b"fault_description=" + b"x" * app.config["MAX_CONTENT_LENGTH"]
    response = client.post("/rmas/new", data=body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 413
